// A tiny history-API router: the shell's pages are plain paths (`/`, `/help`, extension routes), and the
// server answers any such path with index.html (the SPA fallback in crates/server/src/ui.rs).
import { useEffect, useState } from "react";
import { SERVER_PREFIXES } from "./generated/contract";

const EVENT = "symphony:navigate";

export function navigate(path: string, replace = false): void {
  if (path === currentPath()) return;
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  window.dispatchEvent(new Event(EVENT));
}

export function currentPath(): string {
  return window.location.pathname + window.location.search;
}

export function usePath(): string {
  const [path, setPath] = useState(() => window.location.pathname);
  useEffect(() => {
    const update = () => setPath(window.location.pathname);
    window.addEventListener("popstate", update);
    window.addEventListener(EVENT, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(EVENT, update);
    };
  }, []);
  return path;
}

/** Paths the server answers itself: a link to one of them is a real page load, not shell navigation. */
export function isServerPath(path: string): boolean {
  return SERVER_PREFIXES.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

/** `/a/` → `/a`, `` → `/`. */
export function normalize(path: string): string {
  const p = path.startsWith("/") ? path : `/${path}`;
  return p.length > 1 ? p.replace(/\/+$/, "") : p;
}

export function joinPath(parent: string, child: string): string {
  if (!child || child === "/") return normalize(parent);
  return normalize(`${normalize(parent).replace(/\/$/, "")}/${child.replace(/^\/+/, "")}`);
}
