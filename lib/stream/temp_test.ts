import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { isAlive, sweepDeadRuns, sweepTempFiles } from "./temp.ts";

const work = mkdtempSync(join(tmpdir(), "ferry-temp-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const host = hostname().replace(/[^A-Za-z0-9.]+/g, "_") || "host";

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], { encoding: "utf8" });
  const pid = Number(child.stdout.trim());
  expect(isAlive(pid)).toBe(false);
  return pid;
}

describe("sweepDeadRuns", () => {
  test("removes this host's runs whose process is gone; keeps live runs, other hosts' and other names", async () => {
    const root = join(work, "root");
    const dead = `${host}-${deadPid()}-AbC123`;
    const live = `${host}-${process.ppid}-XyZ789`;
    const other = `otherhost-${deadPid()}-AbC123`;
    for (const name of [dead, live, other, "notes"]) {
      mkdirSync(join(root, name), { recursive: true });
      writeFileSync(join(root, name, "spooled"), "x");
    }
    expect(await sweepDeadRuns(root)).toEqual([dead]);
    expect(readdirSync(root).sort()).toEqual([live, other, "notes"].sort());
  });

  test("isAlive: this process yes, an exited one no, nonsense no", () => {
    expect(isAlive(process.pid)).toBe(true);
    expect(isAlive(deadPid())).toBe(false);
    expect(isAlive(0)).toBe(false);
    expect(isAlive(-1)).toBe(false);
  });
});

describe("sweepTempFiles", () => {
  test("removes .part files of dead writers and old-style ones idle an hour; keeps live writers' and young ones", async () => {
    const dir = join(work, "layout");
    mkdirSync(dir, { recursive: true });
    const dead = `.blob.${deadPid()}-0123456789ab.part`;
    const live = `.blob.${process.ppid}-0123456789ab.part`;
    const mine = `.blob.${process.pid}-0123456789ab.part`;
    const oldStyle = ".blob.0123456789ab.part";
    const youngOldStyle = ".other.0123456789ab.part";
    for (const name of [dead, live, mine, oldStyle, youngOldStyle, "index.json"]) writeFileSync(join(dir, name), "x");
    const hourAgo = (Date.now() - 2 * 60 * 60 * 1000) / 1000;
    utimesSync(join(dir, oldStyle), hourAgo, hourAgo);
    expect((await sweepTempFiles([dir, join(dir, "missing")])).sort()).toEqual(
      [join(dir, dead), join(dir, oldStyle)].sort(),
    );
    expect(readdirSync(dir).sort()).toEqual([live, mine, youngOldStyle, "index.json"].sort());
  });
});
