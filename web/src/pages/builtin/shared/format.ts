// Sizes and durations as the pages print them, and the lists the pages' textareas hold.

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Whole seconds in the largest unit that divides them (`7 d`, `2 h`, `90 s`); `zero` for 0 or unset. */
export function formatSeconds(n: number | undefined, zero: string): string {
  if (!n) return zero;
  const units: [number, string][] = [
    [86400, "d"],
    [3600, "h"],
    [60, "min"],
  ];
  for (const [size, unit] of units) if (n % size === 0) return `${n / size} ${unit}`;
  return `${n} s`;
}

/** Splits a textarea into its non-empty trimmed lines (commas also separate). */
export function lines(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

// ---- JetStream limits (an extension account's; -1 is unlimited). The same rules as the CLI's
// `symphony extension limits` (crates/server/src/cli/limits.rs): binary units, "unlimited" or -1. ----

const SIZE_UNITS: [string, number][] = [
  ["TiB", 2 ** 40],
  ["GiB", 2 ** 30],
  ["MiB", 2 ** 20],
  ["KiB", 2 ** 10],
];

/** A size limit for people: `unlimited`, or as `formatBytes` (`1.0 GiB`, `64 MiB`). */
export function formatSizeLimit(n: number): string {
  return n === -1 ? "unlimited" : formatBytes(n);
}

/** A count limit for people: `unlimited` or the number. */
export function formatCountLimit(n: number): string {
  return n === -1 ? "unlimited" : String(n);
}

/** A size limit as an input's text: exact, in the largest unit that divides it (`2 GiB`, `1536 MiB`, `1000`). */
export function sizeInput(n: number): string {
  if (n === -1) return "unlimited";
  for (const [unit, size] of SIZE_UNITS) if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  return String(n);
}

/** A count limit as an input's text. */
export function countInput(n: number): string {
  return formatCountLimit(n);
}

const isUnlimited = (t: string) => t.toLowerCase() === "unlimited" || t === "-1";

/** Reads a size limit: `unlimited` or -1, or a number with an optional B, KiB, MiB, GiB or TiB (`2 GiB`,
 *  `1.5GiB`, `1073741824`). Throws an Error that says what is wrong. */
export function parseSize(input: string, what: string): number {
  const text = input.trim();
  if (!text) throw new Error(`${what}: give a size such as 2 GiB, or "unlimited"`);
  if (isUnlimited(text)) return -1;
  const m = /^(\d+(?:\.\d*)?|\.\d+)\s*([A-Za-z]*)$/.exec(text);
  if (!m) {
    if (text.startsWith("-")) throw new Error(`${what}: "${input}" is negative; use a positive size, 0, or "unlimited"`);
    throw new Error(`${what}: "${input}" is not a size; use e.g. 2 GiB, 512 MiB, 1073741824 or "unlimited"`);
  }
  const unit = m[2];
  let multiplier = 1;
  if (unit && unit.toLowerCase() !== "b") {
    const found = SIZE_UNITS.find(([name]) => name.toLowerCase() === unit.toLowerCase());
    if (!found) throw new Error(`${what}: unknown unit "${unit}"; use B, KiB, MiB, GiB or TiB (1 KiB = 1024 bytes)`);
    multiplier = found[1];
  }
  const bytes = Number(m[1]) * multiplier;
  if (!Number.isSafeInteger(bytes)) {
    throw new Error(Number.isInteger(bytes) ? `${what}: "${input}" is too large` : `${what}: "${input}" is not a whole number of bytes`);
  }
  return bytes;
}

/** Reads a count limit: `unlimited` or -1, or a whole number. Throws an Error that says what is wrong. */
export function parseCount(input: string, what: string): number {
  const text = input.trim();
  if (!text) throw new Error(`${what}: give a number, or "unlimited"`);
  if (isUnlimited(text)) return -1;
  if (!/^\d+$/.test(text)) throw new Error(`${what}: "${input}" is not a whole number or "unlimited"`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`${what}: "${input}" is too large`);
  return n;
}
