// Front matter and template variables of `text/markdown` resources, without the renderer (the shell reads page
// titles from it; marked and DOMPurify load only with the markdown renderer).
import type { SymphonyInfo } from "../api";

export interface FrontMatter {
  title?: string;
  breadcrumbs?: Record<string, string>;
  [key: string]: unknown;
}

function scalar(raw: string): string {
  const v = raw.trim();
  if (v.length >= 2 && ((v[0] === '"' && v.endsWith('"')) || (v[0] === "'" && v.endsWith("'")))) {
    return v.slice(1, -1);
  }
  return v;
}

/**
 * Splits a leading `---` … `---` block off the text. Understands the subset of YAML pages use:
 * `key: value` pairs and one level of nested `key:` maps (for `breadcrumbs`).
 */
export function splitFrontMatter(source: string): { data: FrontMatter; body: string } {
  const text = source.replace(/^\uFEFF/, "");
  const match = /^---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/.exec(text);
  if (!match) return { data: {}, body: text };
  const data: FrontMatter = {};
  let nested: Record<string, string> | null = null;
  for (const line of match[1].split(/\r?\n/)) {
    if (!line.trim() || line.trim().startsWith("#")) continue;
    const indented = /^\s+/.test(line);
    const sep = line.indexOf(":");
    if (sep < 0) continue;
    const key = scalar(line.slice(0, sep));
    const value = line.slice(sep + 1);
    if (indented && nested) {
      nested[key] = scalar(value);
    } else if (!value.trim()) {
      nested = {};
      data[key] = nested;
    } else {
      nested = null;
      data[key] = scalar(value);
    }
  }
  return { data, body: text.slice(match[0].length) };
}

export function substitute(text: string, info: SymphonyInfo | null): string {
  if (!info) return text;
  const vars: Record<string, string> = {
    name: info.name,
    shortname: info.short_name,
    origin: info.origin,
    address: info.nats_address,
  };
  return text.replace(/\{\{\s*(name|shortname|origin|address)\s*\}\}/g, (_, k: string) => vars[k]);
}
