// The signed-in user's NATS connection over WebSocket, shared by every page of the shell. Credentials come from
// GET /api/v1/usertoken (docs/protocol.md §9.2): a JWT + nkey seed with the user's role permissions, a private
// inbox prefix, and a short-lived HTTP bearer for iframes (htmx requests). They are renewed before they expire;
// the authenticator reads the current ones, so reconnects use fresh credentials.
import type { NatsConnection } from "@nats-io/nats-core";
import { api } from "../api";

export interface UserToken {
  jwt: string;
  seed: string;
  token?: string;
  websocket_url?: string | null;
  inbox_prefix: string;
  expires_at: string;
  renew_after_secs: number;
}

type Listener = (token: UserToken) => void;

let current: UserToken | null = null;
let pending: Promise<UserToken> | null = null;
let connection: Promise<NatsConnection | undefined> | null = null;
let renewTimer: ReturnType<typeof setTimeout> | undefined;
let connectionError: string | null = null;
const listeners = new Set<Listener>();

async function fetchToken(): Promise<UserToken> {
  const token = await api<UserToken>("/api/v1/usertoken");
  current = token;
  listeners.forEach((l) => l(token));
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

/** Called with every renewed credential set (the iframes' bearer token follows it). */
export function onUserToken(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
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

/** Signing out: closes the connection and forgets the credentials. */
export async function closeConnection(): Promise<void> {
  if (renewTimer) clearTimeout(renewTimer);
  renewTimer = undefined;
  const c = connection;
  connection = null;
  current = null;
  pending = null;
  const nc = await c?.catch(() => undefined);
  await nc?.close().catch(() => {});
}
