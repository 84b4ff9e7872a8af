/**
 * Text pieces of progress output: byte counts, rates, durations, short digests, and fitting a line to a width.
 *
 * @module
 */

/** `1536` → `1.5 KiB`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** `done/total` in the unit of the larger: `12.0/40.0 MiB`. */
export function formatPair(done: number, total: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.max(done, total) >= 1024 ** (i + 1) && i < units.length - 1) i++;
  if (i === 0) return `${done}/${total} B`;
  return `${(done / 1024 ** i).toFixed(1)}/${(total / 1024 ** i).toFixed(1)} ${units[i]}`;
}

/** Bytes per second → `3.2 MiB/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

/** Seconds → `9s`, `2m05s`, `1h02m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** Seconds with one decimal below a minute: `3.1s`. */
export function formatElapsed(seconds: number): string {
  return seconds < 60 ? `${seconds.toFixed(1)}s` : formatDuration(seconds);
}

/** `sha256:4f4fb700ef54…` → `4f4fb700ef54` (what docker and skopeo show). */
export function shortDigest(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1, digest.indexOf(":") + 13);
}

// deno-lint-ignore no-control-regex
const ESCAPE = /\x1b\[[0-9;?]*[A-Za-z]/g;
// deno-lint-ignore no-control-regex
const ESCAPE_SPLIT = /(\x1b\[[0-9;?]*[A-Za-z])/;

/** Columns a string takes on a terminal (escape sequences take none; every other code point one). */
export function visibleLength(text: string): number {
  return [...text.replace(ESCAPE, "")].length;
}

/** `text` cut to at most `width` columns (an ellipsis marks the cut); escape sequences are kept whole. */
export function truncate(text: string, width: number): string {
  if (visibleLength(text) <= width) return text;
  if (width <= 0) return "";
  let out = "";
  let used = 0;
  const parts = text.split(ESCAPE_SPLIT);
  for (const part of parts) {
    if (part.startsWith("\x1b[")) {
      out += part;
      continue;
    }
    for (const ch of part) {
      if (used >= width - 1) return `${out}…${text.includes("\x1b[") ? "\x1b[0m" : ""}`;
      out += ch;
      used++;
    }
  }
  return out;
}

/** `text` cut from the left to at most `width` columns (`…/big:1.0`): the end of a reference says most. */
export function truncateStart(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 0) return "";
  return `…${chars.slice(chars.length - width + 1).join("")}`;
}
