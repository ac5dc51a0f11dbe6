// Requests and reply types of the built-in "Platform" pages (docs/protocol.md §3.1, §5.2, §8, §9). The shared
// `api<T>()` helper sends the session cookie and turns error replies into `ApiError` (code, message, hint).
import { api } from "../../api";
// The payload types come from the Rust contract (crates/protocol/src/rest.rs), generated.
import type {
  CreatedKey,
  CreateKey as CreateKeyRequest,
  CreateUser as CreateUserRequest,
  ExtensionAccount,
  JetStreamLimits,
  KeyView,
  UpdateUser as UpdateUserRequest,
  UserView,
} from "../../generated/contract";
export type { CapabilitySummary, KeyKind } from "../../generated/contract";
export type { CreatedKey, CreateKeyRequest, CreateUserRequest, ExtensionAccount, JetStreamLimits, KeyView, UpdateUserRequest, UserView };

// ---- Extension accounts and their JetStream limits (§3.1). ----

const extensionPath = (prefix: string) => `/api/v1/extensions/${encodeURIComponent(prefix)}`;

export const getExtensionAccount = (prefix: string) => api<ExtensionAccount>(`${extensionPath(prefix)}/account`);
/** Administrators only. */
export const setExtensionLimits = (prefix: string, limits: JetStreamLimits) =>
  api<ExtensionAccount>(`${extensionPath(prefix)}/limits`, { method: "PUT", body: JSON.stringify(limits) });

// ---- API keys and registration tokens (§9.3). ----

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
