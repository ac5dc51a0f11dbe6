// The live view of registered extensions: polled from GET /api/v1/extensions/all so that a new registration,
// a changed manifest or an extension going Inactive shows up without a page reload.
import { useEffect, useRef, useState } from "react";
import { ApiError, apiText, type ExtensionView, type Menu, type Resource } from "./api";
import { joinPath, normalize } from "./router";

export const POLL_MS = 3000;

export interface ExtensionsState {
  extensions: ExtensionView[];
  loaded: boolean;
  error: string | null;
}

export function useExtensions(onUnauthorized: () => void): ExtensionsState {
  const [state, setState] = useState<ExtensionsState>({ extensions: [], loaded: false, error: null });
  const unauthorized = useRef(onUnauthorized);
  unauthorized.current = onUnauthorized;

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = "";
    const poll = async () => {
      try {
        // The server answers an unchanged list with 304 (ETag), which the browser turns into the cached body:
        // an unchanged text keeps the same objects, so nothing re-renders.
        const text = await apiText("/api/v1/extensions/all");
        if (stopped) return;
        if (text !== last) {
          const extensions = JSON.parse(text) as ExtensionView[];
          extensions.sort((a, b) => a.name.localeCompare(b.name));
          last = text;
          setState({ extensions, loaded: true, error: null });
        } else {
          setState((s) => (s.loaded && s.error === null ? s : { ...s, loaded: true, error: null }));
        }
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) {
          unauthorized.current();
          return;
        }
        if (!stopped) setState((s) => ({ ...s, loaded: true, error: (e as Error).message }));
      }
      if (!stopped) timer = setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }, []);
  return state;
}

export interface RouteTarget {
  path: string;
  extension: ExtensionView;
  uri: string;
}

/** Every extension route, nested paths joined to their parents, keyed by normalized full path. */
export function routeTable(extensions: ExtensionView[]): Map<string, RouteTarget> {
  const table = new Map<string, RouteTarget>();
  for (const extension of extensions) {
    const walk = (routes: ExtensionView["manifest"]["routes"], parent: string) => {
      for (const route of routes ?? []) {
        const path = parent ? joinPath(parent, route.path) : normalize(route.path);
        if (!table.has(path)) table.set(path, { path, extension, uri: route.uri });
        walk(route.routes, path);
      }
    };
    walk(extension.manifest.routes, "");
  }
  return table;
}

export function findResource(extension: ExtensionView, uri: string): Resource | undefined {
  return extension.manifest.resources?.find((r) => r.uri === uri);
}

export interface MenuGroup {
  group: string;
  items: (Menu & { extension: string })[];
}

/** Menus from every extension, grouped by `group` ("main" first, then alphabetical). */
export function menuGroups(extensions: ExtensionView[]): MenuGroup[] {
  const groups = new Map<string, MenuGroup>();
  for (const extension of extensions) {
    for (const menu of extension.manifest.menus ?? []) {
      const key = menu.group || "main";
      if (!groups.has(key)) groups.set(key, { group: key, items: [] });
      groups.get(key)!.items.push({ ...menu, extension: extension.name });
    }
  }
  const list = [...groups.values()];
  list.forEach((g) => g.items.sort((a, b) => a.label.localeCompare(b.label)));
  return list.sort((a, b) =>
    a.group === "main" ? -1 : b.group === "main" ? 1 : a.group.localeCompare(b.group),
  );
}

/** A FontAwesome class list from a manifest icon: `fa-book` → `fa-solid fa-book`; full lists pass as-is. */
export function iconClass(icon: string | undefined): string {
  const i = (icon ?? "").trim();
  if (!i) return "fa-solid fa-puzzle-piece";
  if (/(^|\s)(fa-(solid|regular|brands|light|thin|duotone)|fas|far|fab)(\s|$)/.test(i)) return i;
  return `fa-solid ${i.startsWith("fa-") ? i : `fa-${i}`}`;
}
