// Where the Extensions pages live in the shell, and the REST gateway paths of an extension's endpoints
// (docs/protocol.md §7.1).

export const BASE = "/platform/extensions";
export const GATEWAY = "/api/v1/extension";

/** The detail page of the extension with `prefix`. */
export const detailPath = (prefix: string) => `${BASE}/${encodeURIComponent(prefix)}`;

/** `GET|POST /api/v1/extension/<prefix>/<name>` for an endpoint in the extension's own group (§7.1). */
export function proxyPath(prefix: string, subject: string): string | null {
  const group = `cirata.extensions.${prefix}.`;
  if (!subject.startsWith(group)) return null;
  const name = subject.slice(group.length);
  return name && !name.includes(".") ? `${GATEWAY}/${prefix}/${name}` : null;
}
