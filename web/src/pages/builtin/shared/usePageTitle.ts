// Every built-in page tells the shell its title and, on a page below a list, the breadcrumb back to the list.
import { useEffect } from "react";
import type { PageMeta } from "../../../Shell";

export function usePageTitle(setMeta: (m: PageMeta) => void, title: string, parent?: [path: string, label: string]) {
  const [parentPath, parentLabel] = parent ?? [];
  useEffect(() => {
    setMeta(parentPath === undefined ? { title } : { title, breadcrumbs: { [parentPath]: parentLabel ?? "" } });
  }, [setMeta, title, parentPath, parentLabel]);
}
