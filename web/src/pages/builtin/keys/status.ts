// How a key reads on the API Keys page: its kind, its status badge, and whether it can still be revoked.
import type { KeyKind, KeyView } from "../api";

export const kindLabel = (k: KeyKind) => (k === "registration" ? "Registration token" : "API key");

export function keyStatus(k: KeyView, now: number): { label: string; cls: string } {
  if (k.revoked) return { label: "Revoked", cls: "badge-error" };
  if (k.kind === "registration" && k.used) return { label: "Used", cls: "badge-inactive" };
  if (k.expires_at && new Date(k.expires_at).getTime() <= now) return { label: "Expired", cls: "badge-warning" };
  return { label: "Active", cls: "badge-ok" };
}

/** A used registration token can do nothing more; the key it provisioned is listed on its own. */
export const canRevoke = (k: KeyView) => !k.revoked && !(k.kind === "registration" && k.used);
