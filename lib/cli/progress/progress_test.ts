import { describe, expect, test } from "bun:test";
import { copyGraph } from "../../engine/copy_graph.ts";
import { MemoryStore } from "../../ends/memory.ts";
import { buildSampleImage } from "../../testing/sample_image.ts";
import { progressModeOf } from "../output.ts";
import { formatPair, truncate, visibleLength } from "./format.ts";
import { JsonRenderer } from "./json.ts";
import { PlainRenderer } from "./plain.ts";
import { Tracker } from "./tracker.ts";
import { TtyRenderer } from "./tty.ts";

const PLATFORMS = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/ppc64le", "linux/s390x", "linux/riscv64"];

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("Tracker fed by copyGraph", () => {
  test("one task per platform, totals known before the first blob moves, all done at the end", async () => {
    const sample = buildSampleImage({ platforms: PLATFORMS, layerSize: 64 * 1024 });
    const tracker = new Tracker();
    const feed = tracker.copyFeed({ task: "copy", byPlatform: true });
    let totalAtFirstStart: number | undefined;
    const result = await copyGraph(sample.store, new MemoryStore(), sample.root, {
      onEvent: (e) => {
        if (e.type === "start" && totalAtFirstStart === undefined) totalAtFirstStart = tracker.totals().total;
        feed(e);
      },
    });
    const all = [...sample.store.blobs.values()].reduce((n, b) => n + b.bytes.byteLength, 0);
    expect(totalAtFirstStart).toBe(all);
    const labels = [...tracker.tasks.values()].filter((t) => !t.scope).map((t) => t.label);
    expect(labels).toEqual(PLATFORMS);
    for (const task of tracker.tasks.values()) {
      expect(task.status).toBe("done");
      expect(task.done).toBe(task.total);
    }
    expect(tracker.moved).toBe(result.bytes);
  });

  test("what the destination has counts as present, not moved", async () => {
    const sample = buildSampleImage();
    const dst = new MemoryStore();
    await copyGraph(sample.store, dst, sample.root);
    const tracker = new Tracker();
    await copyGraph(sample.store, dst, sample.root, { onEvent: tracker.copyFeed({ task: "copy", byPlatform: true }) });
    expect([...tracker.tasks.values()].map((t) => t.status)).toEqual(["present"]);
    expect(tracker.moved).toBe(0);
  });
});

/** A copy driven step by step on a fake clock, rendered by `renderer` after each event. */
async function drive(tracker: Tracker, advance: (ms: number) => void, after: () => void) {
  const sample = buildSampleImage({ platforms: PLATFORMS, baseLayerSize: 256 * 1024, layerSize: 64 * 1024 });
  const feed = tracker.copyFeed({ task: "copy", byPlatform: true });
  return await copyGraph(sample.store, new MemoryStore(), sample.root, {
    concurrency: 2,
    onEvent: (e) => {
      advance(37);
      feed(e);
      after();
    },
  });
}

describe("TtyRenderer", () => {
  for (const columns of [20, 40, 80, 200]) {
    test(`at ${columns} columns no line is wider than the terminal; the final frame has every platform done`, async () => {
      const c = clock();
      const tracker = new Tracker(c.now);
      let out = "";
      const tty = new TtyRenderer(tracker, {
        write: (t) => (out += t),
        size: () => ({ columns, rows: 30 }),
        color: true,
        intervalMs: 0,
      });
      const frames: string[][] = [];
      await drive(tracker, c.advance, () => {
        tty.render();
        frames.push(tty.frame(columns - 1, 29));
      });
      tty.end();
      for (const frame of frames) for (const line of frame) expect(visibleLength(line)).toBeLessThan(columns);
      const final = tty.frame(columns - 1, Infinity);
      expect(final).toHaveLength(PLATFORMS.length + 1);
      for (const [i, p] of PLATFORMS.entries()) {
        expect(final[i]).toStartWith("✓ ");
        if (columns >= 40) expect(final[i]).toContain(p);
      }
      if (columns >= 40) expect(final.at(-1)).toContain("6/6 finished");
      // What was written: each line after its erase-line.
      for (const line of out.split("\n")) {
        // deno-lint-ignore no-control-regex
        expect(visibleLength(line.replace(/^[^]*\x1b\[2K/, ""))).toBeLessThan(columns);
      }
    });
  }

  test("a narrowed terminal: the cursor goes up over the rows the last frame was re-wrapped into", () => {
    const c = clock();
    const tracker = new Tracker(c.now);
    let size = { columns: 100, rows: 30 };
    let out = "";
    const tty = new TtyRenderer(tracker, { write: (t) => (out += t), size: () => size, color: false, intervalMs: 0 });
    for (const label of ["linux/amd64", "linux/arm64/v8"]) tracker.file(label).start(10 << 20, "x");
    tracker.file("linux/amd64").progress(1 << 20);
    c.advance(1000);
    tracker.file("linux/amd64").progress(2 << 20);
    tty.render();
    const drawn = tty.frame(99, 29);
    size = { columns: 30, rows: 30 };
    out = "";
    tty.render();
    const rows = drawn.reduce((n, l) => n + Math.max(1, Math.ceil(visibleLength(l) / 30)), 0);
    expect(rows).toBeGreaterThan(drawn.length);
    expect(out).toStartWith(`\r\x1b[${rows}A`);
  });

  test("more tasks than rows: running ones first, the rest counted in one line, never taller than the terminal", () => {
    const c = clock();
    const tracker = new Tracker(c.now);
    const tty = new TtyRenderer(tracker, {
      write: () => {},
      size: () => ({ columns: 80, rows: 6 }),
      color: false,
      intervalMs: 0,
    });
    for (let i = 0; i < 20; i++) tracker.queue(`image-${i}`);
    tracker.file("image-17").start(100);
    const frame = tty.frame(79, 5);
    expect(frame).toHaveLength(5);
    expect(frame.filter((l) => l.includes("image-17"))).toHaveLength(1);
    expect(frame.at(-2)).toMatch(/… 17 more: 17 queued/);
  });

  test("NO_COLOR: no escape sequence in the lines", async () => {
    const c = clock();
    const tracker = new Tracker(c.now);
    let out = "";
    const tty = new TtyRenderer(tracker, {
      write: (t) => (out += t),
      size: () => ({ columns: 80, rows: 30 }),
      color: false,
      intervalMs: 0,
    });
    await drive(tracker, c.advance, () => tty.render());
    tty.end();
    // deno-lint-ignore no-control-regex
    const withoutControl = out.replace(/\r|\x1b\[(\d+A|2K|J)/g, "");
    expect(withoutControl).not.toContain("\x1b");
  });
});

describe("PlainRenderer", () => {
  test("start and end of each task and blob, a line for a long blob every interval, and a total", async () => {
    const c = clock();
    const tracker = new Tracker(c.now);
    const lines: string[] = [];
    const plain = new PlainRenderer(tracker, { line: (l) => lines.push(l), intervalMs: 10_000, tickMs: 0 });
    const result = await drive(tracker, c.advance, () => {});
    plain.end();
    expect(lines.filter((l) => / copying \d+ blobs?, /.test(l))).toHaveLength(PLATFORMS.length);
    const started = lines.filter((l) => / started$/.test(l)).length;
    expect(started).toBe(lines.filter((l) => / done \(/.test(l) && / blob /.test(l)).length);
    expect(started).toBeGreaterThan(PLATFORMS.length);
    for (const p of PLATFORMS) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${p}: done, `)));
    expect(lines.at(-1)).toMatch(/^total: .* moved in /);
    expect(result.copied).toBeGreaterThan(0);

    // A blob still moving after the interval gets a line of its own.
    const slow = new Tracker(c.now);
    const slowLines: string[] = [];
    const slowPlain = new PlainRenderer(slow, { line: (l) => slowLines.push(l), intervalMs: 10_000, tickMs: 0 });
    const feed = slow.copyFeed({ task: "copy" });
    const desc = {
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: `sha256:${"ab".repeat(32)}`,
      size: 100 << 20,
    };
    feed({ type: "planned", desc });
    feed({ type: "start", desc });
    c.advance(4000);
    feed({ type: "progress", desc, bytes: 30 << 20 });
    slowPlain.tick();
    expect(slowLines).toHaveLength(2);
    c.advance(7000);
    slowPlain.tick();
    expect(slowLines.at(-1)).toBe("copy: blob abababababab 30.0/100.0 MiB (30%), 2.7 MiB/s");
    slowPlain.tick();
    expect(slowLines).toHaveLength(3);
  });
});

describe("JsonRenderer", () => {
  test("one JSON object per line; the copied blobs' sizes sum to the bytes moved", async () => {
    const c = clock();
    const tracker = new Tracker(c.now);
    const lines: string[] = [];
    const json = new JsonRenderer(tracker, (l) => lines.push(l));
    const result = await drive(tracker, c.advance, () => {});
    json.end(true);
    const events = lines.map((l) => JSON.parse(l));
    const blobs = events.filter((e) => e.type === "copied" && e.kind === "blob");
    expect(blobs.reduce((n, e) => n + e.size, 0)).toBe(result.bytes);
    expect(events.filter((e) => e.type === "plan").map((e) => e.task)).toEqual(PLATFORMS);
    expect(events.at(-1)).toMatchObject({ type: "summary", ok: true });
    for (const e of events) expect(typeof e.t).toBe("number");
  });
});

describe("format", () => {
  test("formatPair and truncate", () => {
    expect(formatPair(12 << 20, 40 << 20)).toBe("12.0/40.0 MiB");
    expect(formatPair(5, 900)).toBe("5/900 B");
    expect(truncate("linux/arm64/v8", 8)).toBe("linux/a…");
    expect(visibleLength(truncate("\x1b[32m✓\x1b[0m abcdefgh", 5))).toBe(5);
  });
});

describe("progressModeOf", () => {
  test("flag, then FERRY_PROGRESS, then auto (tty on a terminal, else plain); --quiet and --json", () => {
    expect(progressModeOf(undefined, { tty: true })).toBe("tty");
    expect(progressModeOf(undefined, { tty: false })).toBe("plain");
    expect(progressModeOf("auto", { tty: false })).toBe("plain");
    expect(progressModeOf(undefined, { tty: true, json: true })).toBe("none");
    expect(progressModeOf("json", { tty: true, json: true })).toBe("json");
    expect(progressModeOf(undefined, { env: "plain", tty: true })).toBe("plain");
    expect(progressModeOf("tty", { env: "none" })).toBe("tty");
    expect(progressModeOf("plain", { quiet: true })).toBe("none");
    expect(() => progressModeOf("fancy")).toThrow(
      'Cannot parse --progress "fancy": expected auto, tty, plain, json, none',
    );
    expect(() => progressModeOf(undefined, { env: "x" })).toThrow("FERRY_PROGRESS");
  });
});
