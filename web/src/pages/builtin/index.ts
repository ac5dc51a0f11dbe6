// The shell's built-in "Platform" pages. The shell lists them in the sidebar under "Platform" (adminOnly
// pages only for administrators) and renders `component` for any path equal to `path` or below it
// (`path + "/…"`), inside an error boundary and <Suspense>. Each page is its own lazily loaded chunk: a folder
// per page (its entry `<Name>Page.tsx`, which names the chunk), and shared/ for what the pages have in common.
import { lazy, type ComponentType, type LazyExoticComponent } from "react";
import type { ExtensionView, SymphonyInfo, UserInfo } from "../../api";
import type { PageMeta } from "../../Shell";

export interface BuiltinPageProps {
  /** The current (normalized) path: `page.path` or below it. */
  path: string;
  info: SymphonyInfo | null;
  user: UserInfo;
  /** The shell's live, polled list of extensions. */
  extensions: ExtensionView[];
  loaded: boolean;
  setMeta: (m: PageMeta) => void;
}

export interface BuiltinPage {
  path: string;
  label: string;
  /** FontAwesome icon, e.g. "fa-puzzle-piece". */
  icon: string;
  adminOnly?: boolean;
  component: LazyExoticComponent<ComponentType<BuiltinPageProps>>;
}

export const builtinPages: BuiltinPage[] = [
  { path: "/platform/extensions", label: "Extensions", icon: "fa-puzzle-piece", component: lazy(() => import("./extensions/ExtensionsPage")) },
  { path: "/platform/keys", label: "API Keys", icon: "fa-key", component: lazy(() => import("./keys/KeysPage")) },
  { path: "/platform/libraries", label: "Languages and Libraries", icon: "fa-code", component: lazy(() => import("./libraries/LibrariesPage")) },
  { path: "/platform/swagger", label: "Swagger", icon: "fa-file-code", component: lazy(() => import("./swagger/SwaggerPage")) },
  { path: "/platform/users", label: "Users and Roles", icon: "fa-users", adminOnly: true, component: lazy(() => import("./users/UsersPage")) },
];
