/**
 * `--dry-run` of copy, split, import and export: the flag, and the table a plan prints (what, where, bytes,
 * already there).
 *
 * @module
 */
import type { DryRunPlan, PlannedItem } from "../engine/plan_copy.ts";
import { isManifest as isManifestType } from "../oci/media_types.ts";
import type { CommandIo, FlagSpec } from "./command.ts";
import { formatBytes } from "./output.ts";

/** `--dry-run`. */
export const dryRunFlags: Record<string, FlagSpec> = {
  "dry-run": {
    type: "boolean",
    description: "Write nothing: print what would be written, where, how many bytes, and what is there already",
  },
};

/** One row of the table. */
export interface PlanRow {
  what: string;
  where: string;
  bytes: string;
  there: string;
}

/** Prints `rows` as a table under a header line. */
export function printTable(io: CommandIo, rows: PlanRow[]): void {
  const all = [{ what: "WHAT", where: "WHERE", bytes: "BYTES", there: "ALREADY THERE" }, ...rows];
  const w = (key: keyof PlanRow) => Math.max(...all.map((r) => r[key].length));
  const [a, b, c] = [w("what"), w("where"), w("bytes")];
  for (const r of all) {
    io.print(`  ${r.what.padEnd(a)}  ${r.where.padEnd(b)}  ${r.bytes.padStart(c)}  ${r.there}`.trimEnd());
  }
}

const count = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`;

/** "3 blobs, 1 manifest". */
function items(list: PlannedItem[]): string {
  const manifests = list.filter(isManifest).length;
  const parts = [];
  if (list.length - manifests > 0) parts.push(count(list.length - manifests, "blob"));
  if (manifests > 0) parts.push(count(manifests, "manifest"));
  return parts.join(", ") || "nothing";
}

/** The rows of a plan written to `where`: one per platform (the index, the referrers), then the total. */
export function planRows(plan: DryRunPlan, where: string): PlanRow[] {
  const groups = plan.perPlatform.map((p) => p.platform);
  const rows = groups.map((group) => {
    const write = plan.toWrite.filter((i) => (i.platform ?? "") === group);
    const present = plan.present.filter((i) => (i.platform ?? "") === group);
    const mounted = plan.mounted.filter((i) => (i.platform ?? "") === group);
    const blobBytes = write.filter((i) => !isManifest(i)).reduce((n, i) => n + i.size, 0);
    return {
      what: group === "" ? "index" : group,
      where,
      bytes: `${formatBytes(blobBytes)} (${items(write)}${
        mounted.length ? `; ${count(mounted.length, "mount")}` : ""
      })`,
      there: presentText(present),
    };
  });
  rows.push({
    what: "total",
    where,
    bytes: `${plan.bytes} B (${formatBytes(plan.bytes)}) + ${formatBytes(plan.manifestBytes)} of manifests`,
    there: presentText(plan.present),
  });
  return rows;
}

/** "2 blobs, 1 manifest (1.2 KiB; with all the manifests list)". */
function presentText(present: PlannedItem[]): string {
  if (present.length === 0) return "-";
  const bytes = formatBytes(present.reduce((n, i) => n + i.size, 0));
  return `${items(present)} (${bytes}${present.some(isManifest) ? "; with all the manifests list" : ""})`;
}

function isManifest(i: PlannedItem): boolean {
  return isManifestType(i.mediaType);
}

/** The tags' lines: new, already naming it, or moved from what they name now; `digest` of each tag's image. */
export function tagLines(plan: DryRunPlan, digest: string | ((tag: string) => string), where: string): string[] {
  return plan.tags.map((t) => {
    const want = typeof digest === "string" ? digest : digest(t.tag);
    const state = t.current === undefined
      ? "new"
      : t.current === want
      ? "already names it"
      : `would move from ${t.current}`;
    return `  tag ${t.tag} at ${where}: ${state}`;
  });
}

/** The first line of every dry run. */
export function dryRunHeading(verb: string, from: string, to: string, exists: boolean): string {
  return `Dry run: ${verb} ${from} → ${to} (nothing written${exists ? "" : `; ${to} does not exist yet`})`;
}
