// Requests and reply types of the built-in "Platform" pages (docs/protocol.md §5.2, §8, §9). The shared
// `api<T>()` helper sends the session cookie and turns error replies into `ApiError` (code, message, hint).
import { api } from "../../api";

// ---- API keys and registration tokens (§9.3). ----

export type KeyKind = "api_key" | "registration";

export interface CapabilitySummary {
  pub: { allow: string[] };
  sub: { allow: string[] };
}

export interface KeyView {
  id: string;
  name: string;
  kind: KeyKind;
  owner: string;
  prefix: string | null;
  capabilities: CapabilitySummary;
  buckets: string[];
  notes: string;
  created_at: string;
  expires_at: string | null;
  last_used: string | null;
  revoked: boolean;
  /** A registration token that has provisioned its key. */
  used: boolean;
  connected_instances: number;
}

export interface CreateKeyRequest {
  name: string;
  registration: boolean;
  /** CLI form: `pub:extensions.x.y`, `sub:extensions.x.>`. */
  capabilities?: string[];
  prefix?: string;
  buckets?: string[];
  /** `24h`, `30d`, …; registration tokens default to 24 h, API keys to never. */
  expires_in?: string;
  notes?: string;
}

export interface CreatedKey {
  id: string;
  kind: KeyKind;
  name: string;
  /** Shown once: the server keeps only its hash. */
  token: string;
  expires_at: string | null;
}

export const listKeys = () => api<KeyView[]>("/api/v1/keys");
export const createKey = (req: CreateKeyRequest) =>
  api<CreatedKey>("/api/v1/keys", { method: "POST", body: JSON.stringify(req) });
export const revokeKey = (id: string) => api<void>(`/api/v1/key/${encodeURIComponent(id)}`, { method: "DELETE" });

// ---- SDK downloads (§8). ----

export interface Library {
  language: "python" | "rust" | string;
  name: string;
  version: string;
  file: string;
  url: string;
  sha256: string;
  size: number;
  install: string;
}

export const listLibraries = () => api<Library[]>("/api/v1/libraries");

// ---- Users and roles (§9.1, §9.2). ----

export interface UserView {
  username: string;
  display_name: string;
  roles: string[];
  source: string;
  disabled: boolean;
  created_at: string;
}

export interface CreateUserRequest {
  username: string;
  password: string;
  display_name?: string;
  roles?: string[];
}

export interface UpdateUserRequest {
  password?: string;
  display_name?: string;
  roles?: string[];
  disabled?: boolean;
}

export interface Role {
  name: string;
  description: string;
  pub: string[];
  sub: string[];
  /** Prefixes the role shows, or `*`. */
  extensions: string[];
  admin: boolean;
  builtin?: boolean;
}

const userPath = (name: string) => `/api/v1/users/${encodeURIComponent(name)}`;
const rolePath = (name: string) => `/api/v1/roles/${encodeURIComponent(name)}`;

export const listUsers = () => api<UserView[]>("/api/v1/users");
export const createUser = (req: CreateUserRequest) =>
  api<UserView>("/api/v1/users", { method: "POST", body: JSON.stringify(req) });
export const updateUser = (name: string, req: UpdateUserRequest) =>
  api<UserView>(userPath(name), { method: "PUT", body: JSON.stringify(req) });
export const deleteUser = (name: string) => api<void>(userPath(name), { method: "DELETE" });

export const listRoles = () => api<Role[]>("/api/v1/roles");
export const putRole = (role: Role) => api<Role>(rolePath(role.name), { method: "PUT", body: JSON.stringify(role) });
export const deleteRole = (name: string) => api<void>(rolePath(name), { method: "DELETE" });
