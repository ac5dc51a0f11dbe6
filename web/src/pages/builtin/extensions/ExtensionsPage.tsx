// "Extensions": every registered extension with its state (from the shell's live, polled list), and a detail
// page per prefix at /platform/extensions/<prefix> with instances, endpoints, buckets, capabilities, routes,
// menus, widgets and resources (docs/protocol.md §5.2, §5.4, §7).
import "../builtin.css";
import type { BuiltinPageProps } from "../index";
import { NotFound } from "../shared/NotFound";
import { ExtensionDetail } from "./ExtensionDetail";
import { ExtensionList } from "./ExtensionList";
import { BASE } from "./paths";

export default function ExtensionsPage(props: BuiltinPageProps) {
  const rest = props.path.startsWith(`${BASE}/`) ? props.path.slice(BASE.length + 1) : "";
  if (!rest) return <ExtensionList {...props} />;
  if (rest.includes("/")) {
    return <NotFound path={props.path} what="Extension pages are /platform/extensions/<prefix>." back={[BASE, "All extensions"]} />;
  }
  return <ExtensionDetail {...props} prefix={decodeURIComponent(rest)} />;
}
