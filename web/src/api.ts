// Typed access to the platform's REST API (docs/protocol.md §2, §5.2, §5.4, §9). The browser is signed in
// by the HttpOnly `symphony_session` cookie set by POST /api/v1/login; nothing here ever sees the token.

export interface Resource {
  uri: string;
  mime_type: string;
  content: string;
}

export interface ManifestRoute {
  path: string;
  uri: string;
  routes?: ManifestRoute[];
}

export interface Menu {
  group: string;
  label: string;
  route: string;
  icon: string;
}

export interface Widget {
  uri: string;
  title: string;
  description?: string;
}

export interface SdkInfo {
  name: string;
  version: string;
}

export interface Capability {
  kind: "pub" | "sub";
  subject: string;
  description?: string;
}

export interface BucketSpec {
  name: string;
  description?: string;
  /** Seconds; 0 = entries never expire. */
  ttl?: number;
  /** 0 = server default (1). */
  max_history_per_key?: number;
  /** Bytes; 0 = unlimited. */
  max_bucket_size?: number;
}

export interface EndpointSpec {
  name: string;
  subject: string;
}

export interface ServiceSpec {
  service: string;
  version: string;
  description?: string;
  metadata?: Record<string, string>;
  endpoints?: EndpointSpec[];
}

export interface Manifest {
  manifest_version: number;
  name: string;
  prefix: string;
  description?: string;
  sdk?: SdkInfo;
  capabilities?: Capability[];
  resources?: Resource[];
  routes?: ManifestRoute[];
  menus?: Menu[];
  widgets?: Widget[];
  buckets?: BucketSpec[];
  endpoints?: ServiceSpec[];
  /** Commands one instance handles each (docs/protocol.md §12.3). */
  commands?: CommandSpec[];
  /** Handlers every instance serves for itself, reached with `?instance=` (§12.2). */
  instance_handlers?: string[];
}

export interface CommandSpec {
  name: string;
  description?: string;
}

export interface InstanceStatus {
  instance_id: string;
  name?: string;
  prefix?: string;
  sdk?: SdkInfo;
  /** `ok`, `warning`, `error` or `disconnected` (docs/protocol.md §5.3). */
  state: string;
  /** Why an instance reports warning or error, or why it was marked disconnected. */
  message?: string;
  host?: string;
  pid?: number;
  started_at: string;
  updated_at: string;
  /** The key the instance runs with (docs/protocol.md §12.1). */
  key_id?: string;
  /** Takes part in work partitioning (§12.4). */
  partitioning?: boolean;
}

export interface ExtensionView {
  prefix: string;
  name: string;
  description: string;
  /** OK, Warning, Error or Inactive (docs/protocol.md §5.4). */
  state: string;
  /** Why the extension is not OK, when the server knows. */
  message?: string;
  /** What the last registration accepted but will not serve (OpenAPI operations no endpoint serves). */
  warnings?: string[];
  manifest: Manifest;
  instances: InstanceStatus[];
  registered_at: string;
  updated_at: string;
}

export interface SymphonyInfo {
  name: string;
  short_name: string;
  version: string;
  nats_address: string;
  nats_urls: string[];
  websocket_url?: string | null;
  origin: string;
  /** The UI sandbox origin extension frames load from (docs/ui.md "Trust"). */
  ui_sandbox_origin?: string | null;
}

export interface UserInfo {
  kind: string;
  username?: string;
  display_name?: string;
  roles?: string[];
  admin?: boolean;
}

/** An error reply: `{"code","message","hint"}` (docs/protocol.md §2). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly hint?: string;

  constructor(status: number, code: string, message: string, hint?: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.hint = hint;
  }
}

/** Sends a request and returns the reply's text; an error reply becomes an `ApiError`. */
export async function apiText(path: string, init: RequestInit = {}): Promise<string> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (init.body !== undefined) headers["Content-Type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, { credentials: "same-origin", ...init, headers });
  } catch (e) {
    throw new ApiError(0, "network", `cannot reach the server: ${(e as Error).message}`);
  }
  const text = await response.text();
  if (!response.ok) {
    let err: { code?: string; message?: string; hint?: string } = {};
    try {
      err = text ? JSON.parse(text) : {};
    } catch {
      err = {};
    }
    throw new ApiError(
      response.status,
      err.code ?? `http_${response.status}`,
      err.message ?? `${response.status} ${response.statusText}`,
      err.hint,
    );
  }
  return text;
}

export async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const text = await apiText(path, init);
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined as T;
  }
}

export const getSymphonyInfo = () => api<SymphonyInfo>("/api/v1/symphonyinfo");
export const getUserInfo = () => api<UserInfo>("/api/v1/userinfo");
export const login = (username: string, password: string) =>
  api<{ username: string; roles: string[] }>("/api/v1/login", {
    method: "POST",
    body: JSON.stringify({ username, password }),
  });
export const logout = () => api<unknown>("/api/v1/logout", { method: "POST" });
