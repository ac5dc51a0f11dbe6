// The signed-in user's NATS connection over WebSocket, shared by every page of the shell. Credentials come from
// GET /api/v1/usertoken (docs/protocol.md §9.2): a JWT + nkey seed with the user's role permissions and a private
// inbox prefix. They are renewed before they expire; the authenticator reads the current ones, so reconnects use
// fresh credentials. They never leave the shell's document: extension frames get scoped credentials instead
// (`scopedToken`, POST /api/v1/usertoken/scoped; docs/ui.md "Trust").
import type { NatsConnection } from "@nats-io/nats-core";
import { api } from "../api";
import type { ScopedToken } from "../generated/contract";

export interface UserToken {
  jwt: string;
  seed: string;
  token?: string;
  websocket_url?: string | null;
  inbox_prefix: string;
  expires_at: string;
  renew_after_secs: number;
}

let current: UserToken | null = null;
let pending: Promise<UserToken> | null = null;
let connection: Promise<NatsConnection | undefined> | null = null;
let renewTimer: ReturnType<typeof setTimeout> | undefined;
let connectionError: string | null = null;

async function fetchToken(): Promise<UserToken> {
  const token = await api<UserToken>("/api/v1/usertoken");
  current = token;
  if (renewTimer) clearTimeout(renewTimer);
  renewTimer = setTimeout(() => {
    fetchToken().catch((e) => console.warn("[symphony] renewing browser credentials failed", e));
  }, Math.max(30, token.renew_after_secs) * 1000);
  return token;
}

/** The current browser credentials, fetched on first use and renewed in the background. */
export function userToken(): Promise<UserToken> {
  if (current) return Promise.resolve(current);
  if (!pending) pending = fetchToken().finally(() => (pending = null));
  return pending;
}

/** Why the NATS connection is unavailable, if it is. */
export function natsConnectionError(): string | null {
  return connectionError;
}

async function connect(): Promise<NatsConnection | undefined> {
  const token = await userToken();
  if (!token.websocket_url) {
    connectionError = "this platform has no NATS WebSocket listener";
    return undefined;
  }
  const { wsconnect, jwtAuthenticator } = await import("@nats-io/nats-core");
  const encoder = new TextEncoder();
  const nc = await wsconnect({
    servers: token.websocket_url,
    name: "symphony-ui",
    inboxPrefix: token.inbox_prefix,
    authenticator: jwtAuthenticator(
      () => (current ?? token).jwt,
      () => encoder.encode((current ?? token).seed),
    ),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
  });
  connectionError = null;
  void nc.closed().then((err) => {
    if (err) console.warn("[symphony] NATS connection closed", err);
    connection = null;
  });
  return nc;
}

/** The user's NATS connection; resolves to `undefined` (see `natsConnectionError`) when it cannot be made. */
export function natsConnection(): Promise<NatsConnection | undefined> {
  if (!connection) {
    connection = connect().catch((e) => {
      connectionError = `cannot connect to NATS: ${(e as Error).message}`;
      console.warn("[symphony]", connectionError);
      connection = null;
      return undefined;
    });
  }
  return connection;
}

// --- Scoped credentials for extension frames -----------------------------------------------------------------
// One set per extension, shared by its open frames, renewed while any of them listens and forgotten otherwise.

interface Scoped {
  current: ScopedToken | null;
  pending: Promise<ScopedToken> | null;
  timer: ReturnType<typeof setTimeout> | undefined;
  listeners: Set<(token: ScopedToken) => void>;
}

const scoped = new Map<string, Scoped>();

async function fetchScoped(prefix: string, entry: Scoped): Promise<ScopedToken> {
  const token = await api<ScopedToken>("/api/v1/usertoken/scoped", { method: "POST", body: JSON.stringify({ prefix }) });
  if (scoped.get(prefix) !== entry) return token; // signed out (or forgotten) meanwhile
  entry.current = token;
  entry.listeners.forEach((l) => l(token));
  if (entry.timer) clearTimeout(entry.timer);
  entry.timer = setTimeout(() => {
    entry.timer = undefined;
    if (entry.listeners.size === 0) {
      scoped.delete(prefix);
      return;
    }
    entry.pending = fetchScoped(prefix, entry).finally(() => (entry.pending = null));
    entry.pending.catch((e) => console.warn(`[symphony] renewing the credentials of ${prefix}'s frames failed`, e));
  }, Math.max(30, token.renew_after_secs) * 1000);
  return token;
}

/** Credentials for the UI frames of extension `prefix`: a bearer only its gateway routes accept and NATS
 * credentials limited to its subjects (both within the user's roles, ending with the session). */
export function scopedToken(prefix: string): Promise<ScopedToken> {
  let entry = scoped.get(prefix);
  if (!entry) {
    entry = { current: null, pending: null, timer: undefined, listeners: new Set() };
    scoped.set(prefix, entry);
  }
  if (entry.current) return Promise.resolve(entry.current);
  if (entry.pending) return entry.pending;
  const e = entry;
  const pending = fetchScoped(prefix, e).finally(() => (e.pending = null));
  e.pending = pending;
  return pending;
}

/** Called with every renewal of `prefix`'s scoped credentials while subscribed. */
export function onScopedToken(prefix: string, listener: (token: ScopedToken) => void): () => void {
  void scopedToken(prefix).catch(() => {});
  const entry = scoped.get(prefix)!;
  entry.listeners.add(listener);
  return () => entry.listeners.delete(listener);
}

/** Signing out: closes the connection and forgets the credentials. */
export async function closeConnection(): Promise<void> {
  for (const entry of scoped.values()) if (entry.timer) clearTimeout(entry.timer);
  scoped.clear();
  if (renewTimer) clearTimeout(renewTimer);
  renewTimer = undefined;
  const c = connection;
  connection = null;
  current = null;
  pending = null;
  const nc = await c?.catch(() => undefined);
  await nc?.close().catch(() => {});
}
