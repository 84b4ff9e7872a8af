import { describe, expect, test } from "bun:test";
import { FormatError, RateLimitError, UsageError } from "../../errors.ts";
import { budgetOf, formatBudget, rateLimitKind } from "./budget.ts";
import {
  MAX_PLAN_BYTES,
  mergeMirrorResults,
  type MirrorPlan,
  type MirrorPlanItem,
  type MirrorShardResult,
  parseMirrorPlan,
  parseMirrorShardResult,
  parseShard,
  planId,
  shardOf,
} from "./plan.ts";

const D = (c: string) => `sha256:${c.repeat(64)}`;
const item = (name: string, over: Partial<MirrorPlanItem> = {}): MirrorPlanItem => ({
  source: `src.example.com/${name}:1.0`,
  sourceDigest: D("a"),
  sourceMediaType: "application/vnd.oci.image.index.v1+json",
  sourceSize: 300,
  target: `registry.example.com/mirror/${name}:1.0`,
  digest: D("a"),
  present: false,
  manifestRequests: 2,
  ...over,
});
const plan = (items: MirrorPlanItem[]): MirrorPlan => ({
  version: 1,
  target: "registry.example.com/mirror",
  settings: {},
  items,
  failures: [],
  budgets: [],
  manifestRequests: 0,
});

describe("shards", () => {
  test("shardOf: the first 8 bytes of sha256 of host/path, big-endian, mod N (checked against Python's hashlib)", () => {
    expect(shardOf("registry.example.com/mirror/library/alpine:3.20", 4)).toBe(0);
    expect(shardOf("registry.example.com/mirror/library/alpine", 7)).toBe(1);
    expect(shardOf("registry.example.com/mirror/library/alpine@" + D("b"), 1000)).toBe(576);
    expect(shardOf("registry.example.com/mirror/library/busybox:latest", 4)).toBe(2);
    // Every tag of a repository is in one shard.
    for (const tag of ["1", "2", "latest", "3.20-rc1"]) {
      expect(shardOf(`registry.example.com/mirror/library/alpine:${tag}`, 4)).toBe(0);
    }
  });

  test("parseShard: K/N with 0 ≤ K < N", () => {
    expect(parseShard("2/4")).toEqual({ index: 2, count: 4 });
    expect(parseShard("0/1")).toEqual({ index: 0, count: 1 });
    for (const bad of ["4/4", "1/0", "-1/4", "1", "a/b", "1/4/2", "0/10001"]) {
      expect(() => parseShard(bad)).toThrow(UsageError);
    }
    expect(() => parseShard("4/4")).toThrow(
      'Cannot parse --shard "4/4": expected K/N with 0 ≤ K < N ≤ 10000, e.g. 0/4',
    );
  });
});

describe("reading a plan (hostile input)", () => {
  const ok = plan([item("library/alpine"), item("org/app", { platformFilter: ["linux/amd64"], digest: D("c") })]);

  test("a plan round-trips; its id is the sha256 of its items", () => {
    const read = parseMirrorPlan(JSON.stringify(ok));
    expect(read.items).toEqual(ok.items);
    expect(read.manifestRequests).toBe(4);
    expect(planId(read)).toBe(planId(ok));
    expect(planId(read)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  const bad: [string, unknown, string][] = [
    ["not JSON", "{", "invalid JSON"],
    ["another version", { ...ok, version: 2 }, "version: expected 1"],
    ["an unknown key", { ...ok, extra: 1 }, 'unknown key "extra"'],
    ["items not a list", { ...ok, items: {} }, "items: expected a list"],
    [
      "a malformed digest",
      plan([item("a", { sourceDigest: "sha256:abc" })]),
      'items[0].sourceDigest: "sha256:abc" is not a digest',
    ],
    ["a digest of another algorithm", plan([item("a", { digest: "md5:" + "a".repeat(32) })]), "is not a digest"],
    [
      "a target outside the prefix",
      plan([item("a", { target: "evil.example.com/x:1" })]),
      "not under the plan's target",
    ],
    [
      "a sibling path",
      plan([item("a", { target: "registry.example.com/mirrorx/a:1" })]),
      "not under the plan's target",
    ],
    ["a non-manifest media type", plan([item("a", { sourceMediaType: "text/html" })]), "is not a manifest type"],
    ["a negative size", plan([item("a", { sourceSize: -1 })]), "sourceSize: expected a whole number"],
    ["a string count", plan([item("a", { manifestRequests: "2" as unknown as number })]), "manifestRequests"],
    ["a narrowed digest without a filter", plan([item("a", { digest: D("c") })]), "differs from sourceDigest"],
    ["a bad platform", plan([item("a", { platformFilter: ["linux/"] })]), "platformFilter"],
    ["a target twice", plan([item("a"), item("a")]), "planned twice"],
    ["a bad reference", plan([item("a", { source: "UPPER CASE" })]), "items[0].source"],
    ["a huge string", plan([item("a", { source: "a".repeat(5000) })]), "expected a string"],
    ["bad settings", { ...ok, settings: { concurrency: 0 } }, "settings: concurrency"],
    [
      "__proto__",
      JSON.parse('{"version":1,"target":"r.example.com/m","items":[],"__proto__":{"x":1}}'),
      'unknown key "__proto__"',
    ],
  ];
  for (const [what, data, message] of bad) {
    test(`refuses ${what}`, () => {
      const text = typeof data === "string" ? data : JSON.stringify(data);
      let err: unknown;
      try {
        parseMirrorPlan(text, "plan.json");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FormatError);
      expect((err as Error).message).toStartWith("Cannot read plan.json: ");
      expect((err as Error).message).toContain(message);
    });
  }

  test("refuses a plan past the size bound before parsing it", () => {
    expect(() => parseMirrorPlan(" ".repeat(MAX_PLAN_BYTES + 1), "big.json")).toThrow("larger than");
  });
});

describe("merge", () => {
  const p = plan([item("a"), item("b"), item("c"), item("d"), item("e")]);
  const id = planId(p);
  const result = (index: number, count: number, statuses: Record<string, "copied" | "present" | "failed">) => {
    const mine = p.items.filter((i) => shardOf(i.target, count) === index);
    const images = mine.map((i) => ({
      source: i.source,
      target: i.target,
      status: statuses[i.target] ?? "copied",
      copied: 1,
      skipped: 0,
      mounted: 0,
      bytes: 10,
      manifestRequests: 2,
      ...(statuses[i.target] === "failed" ? { error: "Cannot pull: boom" } : {}),
    }));
    const r: MirrorShardResult = {
      version: 1,
      plan: id,
      shard: { index, count },
      target: p.target,
      dryRun: false,
      images,
      copied: 0,
      present: 0,
      planned: 0,
      failed: 0,
      skipped: 0,
      bytes: 0,
      manifestRequests: 0,
      retry: mine.filter((i) => statuses[i.target] === "failed"),
    };
    // Through the file format, as merge reads it.
    return parseMirrorShardResult(JSON.stringify(r), `shard-${index}.json`);
  };

  test("all shards done: one summary, nothing to retry", () => {
    const merged = mergeMirrorResults([0, 1, 2].map((k) => result(k, 3, {})));
    expect(merged).toMatchObject({ copied: 5, failed: 0, shards: 3, merged: [0, 1, 2], missing: [] });
    expect(merged.retryPlan.items).toEqual([]);
  });

  test("a failed image is in the retry plan; a missing shard is reported, its items retried given the plan", () => {
    const failing = p.items[0].target;
    const k = shardOf(failing, 3);
    const others = [0, 1, 2].filter((x) => x !== k);
    const merged = mergeMirrorResults([result(k, 3, { [failing]: "failed" }), result(others[0], 3, {})], p);
    expect(merged.failed).toBe(1);
    expect(merged.missing).toEqual([others[1]]);
    const missingItems = p.items.filter((i) => shardOf(i.target, 3) === others[1]).map((i) => i.target);
    expect(merged.retryPlan.items.map((i) => i.target).sort()).toEqual([failing, ...missingItems].sort());
    // The retry plan is a valid plan.
    expect(parseMirrorPlan(JSON.stringify(merged.retryPlan)).items.length).toBe(1 + missingItems.length);
  });

  test("refuses two results of one shard, results of two plans, mixed shard counts", () => {
    expect(() => mergeMirrorResults([result(0, 2, {}), result(0, 2, {})])).toThrow("two results of shard 0/2");
    expect(() => mergeMirrorResults([result(0, 2, {}), { ...result(1, 2, {}), plan: D("f") }])).toThrow("two plans");
    expect(() => mergeMirrorResults([result(0, 2, {}), result(1, 3, {})])).toThrow("shards of 2 with shards of 3");
    expect(() => mergeMirrorResults([])).toThrow("no shard results");
  });
});

describe("budgets and 429s", () => {
  test("a plan fits the announced budget, or says how many more windows it needs", () => {
    expect(budgetOf("registry-1.docker.io", { remaining: 76, limit: 100, windowSeconds: 21600 }, 12)).toEqual({
      host: "registry-1.docker.io",
      remaining: 76,
      limit: 100,
      windowSeconds: 21600,
      needed: 12,
      fits: true,
    });
    const over = budgetOf("registry-1.docker.io", { remaining: 10, limit: 100, windowSeconds: 21600 }, 250);
    expect(over).toMatchObject({ fits: false, moreWindows: 3 });
    expect(formatBudget(over)).toBe(
      "registry-1.docker.io: 10 of 100 manifest requests left per 6 h; the plan needs 250: does not fit (3 more windows, about 18 h)",
    );
  });

  test("the pull limit (a docs link, or nothing left) is told apart from the abuse limit (a bare 429)", () => {
    const pull = new RateLimitError(
      "Cannot pull manifest 1.0: GET … answered 429: TOOMANYREQUESTS: You have reached your pull rate limit",
      {
        status: 429,
        errors: [{ code: "TOOMANYREQUESTS", message: "see https://docs.docker.com/docker-hub/download-rate-limit/" }],
      },
    );
    const bare = new RateLimitError("Cannot pull manifest 1.0: GET … answered 429: HTTP 429 Too Many Requests", {
      status: 429,
    });
    expect(rateLimitKind(pull)).toBe("pull");
    expect(rateLimitKind(bare)).toBe("abuse");
    expect(rateLimitKind(bare, { remaining: 0, limit: 100 })).toBe("pull");
    expect(rateLimitKind(new Error("x"))).toBeUndefined();
  });
});
