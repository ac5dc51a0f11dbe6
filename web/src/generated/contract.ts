// Generated from crates/protocol/src/rest.rs by `cargo test -p symphony-protocol` — do not edit.
// Regenerate: SYMPHONY_UPDATE_CONTRACT=1 cargo test -p symphony-protocol typescript

export type KeyKind = "api_key" | "registration";

export type CapabilityKind = "pub" | "sub";

export type Capability = { kind: CapabilityKind, subject: string, description: string, };

export type AllowList = { allow: Array<string>, };

export type CapabilitySummary = { pub: AllowList, sub: AllowList, };

export type CapabilityInput = Capability | string;

export type CreateKey = { name: string, 
/**
 * A single-use registration token instead of an API key.
 */
registration?: boolean, capabilities?: Array<CapabilityInput>, prefix?: string, buckets?: Array<string>, 
/**
 * Lifetime such as `24h` or `30d`; registration tokens default to 24 h, API keys to none.
 */
expires_in?: string, notes?: string, };

export type CreatedKey = { id: string, kind: KeyKind, name: string, token: string, expires_at: string | null, };

export type UpdateKey = { notes?: string, 
/**
 * A new lifetime from now (`30d`), or `"never"`.
 */
expires_in?: string, capabilities?: Array<CapabilityInput>, };

export type KeyView = { id: string, name: string, kind: KeyKind, owner: string, prefix: string | null, capabilities: CapabilitySummary, buckets: Array<string>, notes: string, created_at: string, expires_at: string | null, last_used: string | null, revoked: boolean, 
/**
 * A registration token that has provisioned its key.
 */
used: boolean, connected_instances: number, };

export type LoginRequest = { username: string, password: string, };

export type LoginReply = { token: string, username: string, roles: Array<string>, idle_timeout_secs: number, };

export type UserToken = { token: string, jwt: string, seed: string, websocket_url: string | null, inbox_prefix: string, expires_at: string, renew_after_secs: number, };

export type ScopedTokenRequest = { 
/**
 * The extension whose frame gets the credentials.
 */
prefix: string, };

export type ScopedToken = { prefix: string, token: string, jwt: string, seed: string, websocket_url: string | null, inbox_prefix: string, expires_at: string, renew_after_secs: number, };

export type UserView = { username: string, display_name: string, roles: Array<string>, source: string, disabled: boolean, created_at: string, };

export type CreateUser = { username: string, password: string, display_name?: string, roles?: Array<string>, };

export type UpdateUser = { password?: string, display_name?: string, roles?: Array<string>, disabled?: boolean, };

export type AuditAction = "login" | "login_failed" | "logout" | "key_created" | "registration_token_created" | "key_updated" | "key_revoked" | "provisioned" | "user_created" | "user_updated" | "user_deleted" | "role_updated" | "role_deleted" | "limits_changed" | "extension_registered" | "manifest_replaced" | "provisioning_failed" | "key_exchanged" | "user_token_issued" | "license_added" | "license_removed" | "other";

export type AuditEvent = { 
/**
 * RFC 3339.
 */
time: string, action: AuditAction, 
/**
 * A username, `key:<id>`, or `cli`.
 */
actor: string, target: string, 
/**
 * The caller's address, when the event came over HTTP.
 */
address: string, detail: string, };

export type JetStreamLimits = { 
/**
 * File storage in bytes.
 */
disk_storage: number, 
/**
 * Memory storage in bytes.
 */
mem_storage: number, 
/**
 * Number of streams (a KV bucket is one).
 */
streams: number, 
/**
 * Number of consumers.
 */
consumer: number, };

export type ExtensionAccount = { prefix: string, 
/**
 * The account's public key (`A…`).
 */
account: string, 
/**
 * The user who owns the prefix (empty: the bootstrap CLI, an administrator).
 */
owner: string, 
/**
 * Who created it: `<user>`, `key:<registration key id>` or `cli`.
 */
created_by: string, created_at: string, limits: JetStreamLimits, };

/** Paths the server answers itself: never the shell's routes (`rest::SERVER_PREFIXES`). */
export const SERVER_PREFIXES = ["/api", "/help/access", "/pypi", "/downloads", "/vendor"] as const;
