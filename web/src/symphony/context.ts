// `SymphonyContext`: what a `text/symphony-jsx` page gets from the shell (imported as `@symphony`, served from
// /vendor/symphony.js, the same module instance the shell renders the provider with).
import { createContext, useContext } from "react";
import type { NatsConnection } from "@nats-io/nats-core";
import type { KV } from "@nats-io/kv";
import type { SymphonyInfo, UserInfo } from "../api";
import type { Theme } from "../theme";

/** A page title: a string, or breadcrumbs as an ordered map of path → label whose last entry is the title. */
export type TitleSpec = string | Record<string, string>;

export interface SymphonyContextValue {
  /** The signed-in user's NATS connection over WebSocket, with their role's permissions (enforced by
   * nats-server). `undefined` when the platform has no WebSocket listener or the connection failed. */
  nc: NatsConnection | undefined;
  /** Opens a JetStream key-value bucket over `nc` (the user's permissions apply). */
  kv: (bucket: string) => Promise<KV>;
  /** Sets the page title and breadcrumbs. */
  setTitle: (title: TitleSpec) => void;
  /** Navigates inside the shell (`/catalog/items`), without a page load. */
  navigate: (path: string) => void;
  /** The colour mode, "light" or "dark". */
  theme: Theme;
  /** The signed-in user. */
  user: UserInfo;
  /** This platform instance (name, origin, NATS address). */
  info: SymphonyInfo | null;
  /** The extension whose page this is. */
  extension: { prefix: string; name: string };
  /** The shell route path being shown. */
  path: string;
}

const notInShell = (what: string) => () => {
  throw new Error(`SymphonyContext.${what} is only available inside the Symphony shell`);
};

export const SymphonyContext = createContext<SymphonyContextValue>({
  nc: undefined,
  kv: notInShell("kv") as SymphonyContextValue["kv"],
  setTitle: () => {},
  navigate: () => {},
  theme: "light",
  user: { kind: "anonymous" },
  info: null,
  extension: { prefix: "", name: "" },
  path: "/",
});

export const useSymphony = (): SymphonyContextValue => useContext(SymphonyContext);

/** `setTitle`'s argument as the shell's page meta. */
export function titleMeta(spec: TitleSpec): { title: string; breadcrumbs?: Record<string, string> } {
  if (typeof spec === "string") return { title: spec };
  const entries = Object.entries(spec ?? {});
  if (entries.length === 0) return { title: "" };
  return { title: entries[entries.length - 1][1], breadcrumbs: entries.length > 1 ? Object.fromEntries(entries.slice(0, -1)) : undefined };
}
