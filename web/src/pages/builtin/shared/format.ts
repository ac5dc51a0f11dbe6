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
