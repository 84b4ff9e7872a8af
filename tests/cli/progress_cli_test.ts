/**
 * Progress as a user watches it. The TTY display runs in a real pseudo-terminal (a tmux server of our own, at 40, 80
 * and 200 columns, resized midway): captured while it runs and at the end, no line is longer than the terminal
 * (`capture-pane -J` joins what the terminal wrapped), no stale row is left, the final screen has every platform
 * finished. Off a terminal: plain lines (the default there), and `--progress json` events that sum to the bytes moved.
 * With FERRY_BIN set, the compiled binary is tested.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { runCli } from "../helpers/cli.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run } from "../helpers/tools.ts";

const PLATFORMS = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/ppc64le", "linux/s390x", "linux/riscv64"];
const LABELS = ["amd64", "arm64", "armv7", "ppc64le", "s390x", "riscv64"];
let src: TestRegistry;
let dst: TestRegistry;
const work = mkdtempSync(join(tmpdir(), "ferry-progress-cli-"));
const socket = `ferry-progress-${process.pid}`;
let n = 0;
const BIG = () => `${src.host}/progress/big:1.0`;

beforeAll(async () => {
  [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
  // Big enough that an export is on screen for a while (~1-2 s on a busy machine).
  await pushSampleImage(BIG(), { platforms: PLATFORMS, baseLayerSize: 48 << 20, layerSize: 4 << 20 });
  await pushSampleImage(`${src.host}/progress/small:1.0`, { seed: 5, layerSize: 2 << 20 });
  // One session kept for the whole file, so our tmux server does not exit (and race a new session) between tests.
  const keeper = await run("tmux", ["-L", socket, "new-session", "-d", "-s", "keeper", "sleep 3600"]);
  expect(keeper.code).toBe(0);
}, 120_000);
afterAll(async () => {
  await run("tmux", ["-L", socket, "kill-server"], { allowFailure: true });
  await Promise.all([src?.stop(), dst?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function ferryCommand(args: string[]): string {
  const bin = process.env.FERRY_BIN;
  const argv = bin ? [bin, ...args] : [process.execPath, join(import.meta.dir, "..", "..", "cli.ts"), ...args];
  return argv.map(shellQuote).join(" ");
}

const tmux = (args: string[]) => run("tmux", ["-L", socket, ...args], { allowFailure: true });

/** The screen, wrapped lines joined (so a line the terminal wrapped shows as one longer than the width). */
async function screen(session: string, escapes = false): Promise<string[]> {
  const { stdout } = await tmux(["capture-pane", "-p", "-J", ...(escapes ? ["-e"] : []), "-t", session]);
  return stdout.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "");
}

/**
 * Runs `ferry ARGS` in a `columns`×`rows` pseudo-terminal (stdout to a file unless `showStdout`), capturing the screen
 * every 100 ms; `resizeTo` resizes the window once the display is up. Returns every capture and the last.
 */
async function inTerminal(
  args: string[],
  options: { columns: number; rows?: number; resizeTo?: number; showStdout?: boolean; env?: Record<string, string> },
) {
  const session = `s${n++}`;
  const stdoutFile = join(work, `${session}.stdout`);
  const done = join(work, `${session}.done`);
  const redirect = options.showStdout ? "" : ` > ${shellQuote(stdoutFile)}`;
  const env = Object.entries({ TERM: "xterm-256color", ...options.env }).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  const script = `unset FERRY_PROGRESS; ${ferryCommand(args)}${redirect}; echo $? > ${shellQuote(done)}; sleep 600`;
  const started = await tmux([
    "new-session", "-d", "-s", session, "-x", String(options.columns), "-y", String(options.rows ?? 30), ...env, script,
  ]);
  expect(started, "tmux new-session").toMatchObject({ code: 0 });
  const captures: { columns: number; lines: string[] }[] = [];
  let columns = options.columns;
  const deadline = Date.now() + 90_000;
  let code: number | undefined;
  while (Date.now() < deadline) {
    try {
      code = Number(readFileSync(done, "utf8").trim());
      break;
    } catch { /* still running */ }
    const lines = await screen(session);
    captures.push({ columns, lines });
    if (options.resizeTo && columns !== options.resizeTo && lines.some((l) => /\[=*>? *\]/.test(l))) {
      await tmux(["resize-window", "-t", session, "-x", String(options.resizeTo)]);
      columns = options.resizeTo;
    }
    await Bun.sleep(100);
  }
  const final = await screen(session);
  const finalWithEscapes = (await screen(session, true)).join("\n");
  await tmux(["kill-session", "-t", session]);
  return { code, captures, final, finalWithEscapes, columns, stdout: options.showStdout ? "" : readFileSync(stdoutFile, "utf8") };
}

/** The rules of every frame: no line wider than the terminal (results on stdout excepted). */
function expectFits(captures: { columns: number; lines: string[] }[], isResult: (l: string) => boolean = () => false) {
  for (const { columns, lines } of captures) {
    for (const line of lines) if (!isResult(line)) expect([...line].length, line).toBeLessThanOrEqual(columns);
  }
}

/** The marks of a frame still being drawn (a bar, an ETA, a queued task). */
const LIVE = /\[=*>? *\]|ETA |queued/;

describe("ferry export on a terminal", () => {
  for (const [columns, resizeTo] of [[40, undefined], [80, 40], [200, 80]] as const) {
    test(`${columns} columns${resizeTo ? `, resized to ${resizeTo}` : ""}: fits, no stale rows, every platform finished`, async () => {
      const dir = join(work, `export-${n}`);
      const r = await inTerminal(["export", BIG(), "-o", dir], { columns, resizeTo });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("image-riscv64.tar.gz");
      // The display was seen while it ran: a bar, then the tasks queued up front.
      expect(r.captures.some((c) => c.lines.some((l) => LIVE.test(l)))).toBe(true);
      expect(r.captures.some((c) => c.lines.filter((l) => / queued/.test(l)).length >= 1)).toBe(true);
      expectFits([...r.captures, { columns: r.columns, lines: r.final }]);
      // The final screen: one finished line per platform, the total, nothing else (no stale rows).
      expect(r.final.filter((l) => LIVE.test(l))).toEqual([]);
      for (const label of LABELS) {
        expect(r.final.filter((l) => new RegExp(`^✓ ${label} +done`).test(l))).toHaveLength(1);
      }
      expect(r.final.filter((l) => /^ +total +6\/6 finished/.test(l))).toHaveLength(1);
      expect(r.final).toHaveLength(LABELS.length + 1);
    }, 120_000);
  }

  test("colour on a terminal (a green mark per finished platform); none with NO_COLOR", async () => {
    const colored = await inTerminal(["export", BIG(), "-o", join(work, `color-${n}`)], { columns: 100 });
    expect(colored.code).toBe(0);
    expect(colored.finalWithEscapes.split("\x1b[32m✓").length - 1).toBe(LABELS.length);
    const plain = await inTerminal(["export", BIG(), "-o", join(work, `nocolor-${n}`)], {
      columns: 100,
      env: { NO_COLOR: "1" },
    });
    expect(plain.code).toBe(0);
    expect(plain.finalWithEscapes).not.toContain("\x1b[");
    expect(plain.final).toEqual(plain.finalWithEscapes.split("\n"));
  }, 120_000);
});

describe("ferry mirror on a terminal", () => {
  test("80 columns: one line per image while it runs, result lines stay, no stale rows", async () => {
    const r = await inTerminal(
      ["mirror", "-d", `${dst.host}/m`, BIG(), `${src.host}/progress/small:1.0`],
      { columns: 80, showStdout: true },
    );
    expect(r.code).toBe(0);
    const isResult = (l: string) => /^(copied|present|failed|skipped) |^Mirrored to /.test(l);
    expectFits(r.captures, isResult);
    expect(r.captures.some((c) => c.lines.some((l) => l.includes("progress/big:1.0") && !isResult(l)))).toBe(true);
    expect(r.final.filter((l) => LIVE.test(l))).toEqual([]);
    expect(r.final.filter((l) => /^copied +\S*progress\/big:1\.0 → /.test(l))).toHaveLength(1);
    expect(r.final.filter((l) => /^copied +\S*progress\/small:1\.0 → /.test(l))).toHaveLength(1);
    expect(r.final.filter((l) => /^Mirrored to /.test(l))).toHaveLength(1);
    expect(r.final.filter((l) => !isResult(l))).toEqual([]);
  }, 120_000);
});

describe("progress off a terminal", () => {
  test("the default there is plain lines: start and end of each platform file, and a total", async () => {
    const dir = join(work, `plain-${n++}`);
    const r = await runCli(["export", BIG(), "-o", dir], { env: { FERRY_PROGRESS: "" } });
    expect(r.code).toBe(0);
    const lines = r.stderr.trimEnd().split("\n");
    for (const label of LABELS) {
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${label}: writing .*image-${label}\\.tar\\.gz \\(`)));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${label}: wrote .*image-${label}\\.tar\\.gz \\(.*\\) in `)));
    }
    expect(lines.at(-1)).toMatch(/^total: .* moved in /);
    expect(r.stderr).not.toContain("\x1b");
    expect(r.stderr).not.toContain("\r");
  }, 120_000);

  test("--progress plain on a copy: a line per platform and per blob, start and end", async () => {
    const r = await runCli(["copy", "--progress", "plain", `${src.host}/progress/small:1.0`, `${dst.host}/plain/small:1.0`]);
    expect(r.code).toBe(0);
    const lines = r.stderr.trimEnd().split("\n");
    for (const p of ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]) {
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${p}: copying \\d+ blobs, `)));
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${p}: done, `)));
    }
    const started = lines.filter((l) => / blob [0-9a-f]{12} \(.*\) started$/.test(l)).length;
    expect(started).toBeGreaterThan(0);
    expect(lines.filter((l) => / blob [0-9a-f]{12} done \(/.test(l)).length).toBe(started);
    expect(r.stdout).toContain("Copied ");
  }, 60_000);

  test("--progress json: one event per line; the copied blobs sum to the bytes transferred", async () => {
    const r = await runCli(["copy", "--progress", "json", "--json", BIG(), `${dst.host}/json/big:1.0`]);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    const events = r.stderr.trimEnd().split("\n").map((l) => JSON.parse(l));
    const copied = events.filter((e) => e.type === "copied" && e.kind === "blob");
    expect(copied.reduce((sum, e) => sum + e.size, 0)).toBe(result.bytes);
    expect(result.bytes).toBeGreaterThan(48 << 20);
    expect(events.filter((e) => e.type === "plan").map((e) => e.task)).toEqual(PLATFORMS);
    const planned = events.filter((e) => e.type === "plan").reduce((sum, e) => sum + e.total, 0);
    expect(planned).toBeGreaterThanOrEqual(result.bytes);
    expect(events.at(-1)).toMatchObject({ type: "summary", ok: true, moved: result.bytes });
  }, 60_000);

  test("--progress with a bad mode → exit 2, one line", async () => {
    const r = await runCli(["copy", "--progress", "fancy", "a", "oci:x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('ferry: Cannot parse --progress "fancy": expected auto, tty, plain, json, none\n');
  });
});
