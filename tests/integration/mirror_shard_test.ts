/**
 * `ferry mirror plan` / `run --plan --shard K/N` / `merge` as a fan-out engine runs them: separate ferry processes
 * (as an Indexed Job's pods would be) against the real CNCF registry, counted at a proxy in front of the target;
 * a shard killed with SIGKILL mid-blob and rerun; a fake Docker Hub front announcing its budget and answering 429s.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseReference } from "../../lib/ref/reference.ts";
import { serve, type Server } from "../../lib/runtime.ts";
import { mirror, type MirrorEvent } from "../../lib/verbs/mirror/mirror.ts";
import { type MirrorPlan, type MirrorShardResult, shardOf } from "../../lib/verbs/mirror/plan.ts";
import { runCli } from "../helpers/cli.ts";
import { type FaultyProxy, startFaultyProxy } from "../helpers/faulty.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";

let src: TestRegistry;
let dst: TestRegistry;
let tmp: string;
let env: Record<string, string>;
const stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [src, dst] = await Promise.all([startRegistry(), startRegistry()]);
  tmp = await mkdtemp(join(tmpdir(), "ferry-mirror-shard-"));
  env = { DOCKER_CONFIG: join(tmp, "docker"), REGISTRY_AUTH_FILE: "" };
  // 10 repositories × 3 tags = 30 images, one platform each.
  // One repository's tags one after another (concurrent pushes of a shared blob into one repository race).
  await Promise.all([...Array(10).keys()].map(async (r) => {
    for (let t = 0; t < 3; t++) {
      await pushSampleImage(`${src.host}/fleet/app${r}:${t}.0`, { seed: 100 + r * 3 + t, platforms: ["linux/amd64"] });
    }
  }));
}, 120_000);
afterAll(async () => {
  for (const stop of stops) await stop().catch(() => {});
  await Promise.all([src?.stop(), dst?.stop()]);
  await rm(tmp, { recursive: true, force: true });
});

const ferry = (args: string[], extraEnv: Record<string, string> = {}) =>
  runCli(args, { env: { ...env, ...extraEnv }, timeoutMs: 120_000 });
const file = (name: string) => join(tmp, name);
const readJson = async <T>(name: string): Promise<T> => JSON.parse(await readFile(file(name), "utf8"));

async function proxy(upstream: string): Promise<FaultyProxy> {
  const p = await startFaultyProxy(upstream, []);
  stops.push(() => p.stop());
  return p;
}

/** The tag (or digest) manifest PUTs a proxy saw, as `repo:tag`. */
function manifestPuts(p: FaultyProxy): string[] {
  return p.requests.filter((r) => r.method === "PUT" && r.path.includes("/manifests/")).map((r) => {
    const m = /^\/v2\/(.+)\/manifests\/([^?]+)/.exec(r.path)!;
    return `${m[1]}:${m[2]}`;
  });
}

/** The blob digests a proxy saw uploaded (the digest= of the closing PUT or a monolithic POST). */
function blobUploads(p: FaultyProxy): string[] {
  return p.requests.filter((r) => (r.method === "PUT" || r.method === "POST") && /\/blobs\/uploads\/.*[?&]digest=/.test(r.path))
    .map((r) => decodeURIComponent(/[?&]digest=([^&]+)/.exec(r.path)![1]));
}

describe("plan, 4 shard processes at once, merge", () => {
  test("30 images: every image at the target exactly once, shards disjoint, union complete, merge exit 0", async () => {
    const front = await proxy(dst.host);
    const spec = file("fleet.yaml");
    await writeFile(spec, [
      `target: ${front.host}/mirror`,
      "sources:",
      ...[...Array(10).keys()].map((r) => `  - repository: ${src.host}/fleet/app${r}`),
      "",
    ].join("\n"));
    const planned = await ferry(["mirror", "plan", "-c", spec, "--json", "-o", file("plan.json")]);
    expect(planned.stderr).toBe("");
    expect(planned.code).toBe(0);
    const plan: MirrorPlan = JSON.parse(planned.stdout);
    expect(await readJson<MirrorPlan>("plan.json")).toEqual(plan);
    expect(plan.version).toBe(1);
    expect(plan.items.length).toBe(30);
    expect(plan.items.every((i) => !i.present && i.manifestRequests === 2 && /^sha256:[0-9a-f]{64}$/.test(i.sourceDigest))).toBe(true);
    // The plan wrote nothing.
    expect(front.requests.filter((r) => r.method !== "GET" && r.method !== "HEAD")).toEqual([]);

    const runs = await Promise.all([0, 1, 2, 3].map((k) =>
      ferry(["mirror", "run", "--plan", file("plan.json"), "--shard", `${k}/4`, "--keep-going", "-o", file(`shard-${k}.json`), "--json"])
    ));
    for (const r of runs) {
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
    }
    const results = await Promise.all([0, 1, 2, 3].map((k) => readJson<MirrorShardResult>(`shard-${k}.json`)));
    expect(results.map((r) => JSON.parse(runs[results.indexOf(r)].stdout))).toEqual(results);
    const targets = results.flatMap((r) => r.images.map((i) => i.target));
    // Disjoint and complete: 30 distinct targets, each in the shard its repository hashes to, every repository in one.
    expect(new Set(targets).size).toBe(30);
    expect(targets.sort()).toEqual(plan.items.map((i) => i.target).sort());
    for (const r of results) {
      expect(r.images.every((i) => i.status === "copied" && shardOf(i.target, 4) === r.shard.index)).toBe(true);
    }
    expect(results.filter((r) => r.images.length > 0).length).toBeGreaterThan(1);
    // Every tag written exactly once at the target.
    const puts = manifestPuts(front).filter((p) => !p.includes("sha256:"));
    expect(puts.length).toBe(30);
    expect(new Set(puts).size).toBe(30);

    const merged = await ferry(["mirror", "merge", ...[0, 1, 2, 3].map((k) => file(`shard-${k}.json`)), "--retry", file("retry.json")]);
    expect(merged.code).toBe(0);
    expect(merged.stdout).toContain("30 copied, 0 already present, 0 failed");
    expect(merged.stdout).toContain("Merged 4 of 4 shards; 0 images to retry");
    expect((await readJson<MirrorPlan>("retry.json")).items).toEqual([]);

    // A rerun of a shard redoes nothing: every image present, no PUT at all.
    const before = front.requests.length;
    const again = await ferry(["mirror", "run", "--plan", file("plan.json"), "--shard", "2/4", "--json"]);
    expect(again.code).toBe(0);
    const rerun: MirrorShardResult = JSON.parse(again.stdout);
    expect(rerun).toMatchObject({ copied: 0, failed: 0, bytes: 0, manifestRequests: 0 });
    expect(rerun.present).toBe(results[2].images.length);
    expect(front.requests.slice(before).every((r) => r.method === "HEAD")).toBe(true);
  }, 180_000);

  test("merge: a failed image and a missing shard exit 9 and land in the retry plan, which then runs clean", async () => {
    const plan = await readJson<MirrorPlan>("plan.json");
    // One item pinned to a digest the source never had: it fails at the source (manifest unknown).
    const broken = structuredClone(plan);
    const victim = broken.items.find((i) => shardOf(i.target, 2) === 0)!;
    victim.sourceDigest = victim.digest = `sha256:${"0".repeat(64)}`;
    victim.target = victim.target.replace(/:\d\.0$/, ":broken");
    await writeFile(file("broken.json"), JSON.stringify(broken));
    const run0 = await ferry(["mirror", "run", "--plan", file("broken.json"), "--shard", "0/2", "--keep-going", "-o", file("b0.json")]);
    expect(run0.code).toBe(9);
    expect(run0.stdout).toContain(`failed   ${victim.source}: Cannot`);
    expect(run0.stderr).toContain("Cannot mirror 1 of");
    const merged = await ferry(["mirror", "merge", file("b0.json"), "--plan", file("broken.json"), "--retry", file("retry.json"), "--json"]);
    expect(merged.code).toBe(9);
    expect(merged.stderr).toContain("Cannot merge: missing the results of shards 1 of 2");
    const doc = JSON.parse(merged.stdout);
    expect(doc).toMatchObject({ shards: 2, merged: [0], missing: [1], failed: 1 });
    const retry = await readJson<MirrorPlan>("retry.json");
    const shard1 = broken.items.filter((i) => shardOf(i.target, 2) === 1).map((i) => i.target);
    expect(retry.items.map((i) => i.target).sort()).toEqual([victim.target, ...shard1].sort());
    // The retry plan (less the hopeless item) runs: everything in it was already there.
    retry.items = retry.items.filter((i) => i.target !== victim.target);
    await writeFile(file("retry.json"), JSON.stringify(retry));
    const fixed = await ferry(["mirror", "run", "--plan", file("retry.json"), "--json"]);
    expect(fixed.code).toBe(0);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ present: shard1.length, copied: 0, failed: 0 });
  }, 120_000);
});

describe("one repository, one push at a time", () => {
  test("tags of one repository are copied one after another (overlapping uploads lose blob links), repositories in parallel", async () => {
    // Event order: an image runs from its first copy event to its result; two of one repository never overlap.
    const log: string[] = [];
    const result = await mirror({
      target: `${dst.host}/serial`,
      concurrency: 6,
      sources: [{ repository: `${src.host}/fleet/app8` }, { repository: `${src.host}/fleet/app9` }],
    }, {
      onEvent: (e: MirrorEvent) => {
        if (e.type === "copy") log.push(`copy ${e.source}`);
        if (e.type === "image") log.push(`done ${e.image.source}`);
      },
    });
    expect(result.copied).toBe(6);
    const spans = new Map<string, [number, number]>();
    log.forEach((line, i) => {
      const source = line.slice(5);
      const span = spans.get(source) ?? [i, i];
      spans.set(source, [Math.min(span[0], i), Math.max(span[1], i)]);
    });
    const repoOf = (source: string) => source.replace(/:[^:/]+$/, "");
    const list = [...spans];
    let parallel = false;
    for (const [a, [a0, a1]] of list) {
      for (const [b, [b0, b1]] of list) {
        if (a >= b) continue;
        const overlap = a0 < b1 && b0 < a1;
        if (repoOf(a) === repoOf(b)) expect(`${a} and ${b} ${overlap ? "overlap" : "apart"}`).toBe(`${a} and ${b} apart`);
        else if (overlap) parallel = true;
      }
    }
    expect(parallel).toBe(true);
  }, 60_000);
});

describe("a shard killed mid-copy", () => {
  test("kill -9 during a big blob; the rerun copies only what was not complete", async () => {
    // A source front that stalls the big layer's body halfway, the first time only.
    const big = await pushSampleImage(`${src.host}/kill/big:1.0`, { seed: 900, platforms: ["linux/amd64"], baseLayerSize: 24 << 20 });
    for (const n of [1, 2, 3, 4, 5]) await pushSampleImage(`${src.host}/kill/small${n}:1.0`, { seed: 900 + n, platforms: ["linux/amd64"] });
    const bigLayer = (await (await fetch(`http://${src.host}/v2/kill/big/manifests/${big.manifests[0].digest}`, {
      headers: { accept: big.manifests[0].mediaType },
    })).json()).layers.reduce((a: { size: number }, b: { size: number }) => (a.size > b.size ? a : b));
    let stalledOnce = false;
    let onStall: () => void = () => {};
    const stalled = new Promise<void>((resolve) => (onStall = resolve));
    const held: ReadableStreamDefaultController<Uint8Array>[] = [];
    const stalling: Server = await serve(async (req) => {
      const url = new URL(req.url);
      const headers = new Headers(req.headers);
      headers.delete("host");
      const res = await fetch(`http://${src.host}${url.pathname}${url.search}`, { method: req.method, headers });
      if (stalledOnce || req.method !== "GET" || !url.pathname.endsWith(`/blobs/${bigLayer.digest}`) || !res.body) {
        return new Response(res.body, { status: res.status, headers: res.headers });
      }
      stalledOnce = true;
      const reader = res.body.getReader();
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent >= bigLayer.size / 2) {
            held.push(controller);
            onStall();
            return new Promise<void>(() => {}); // never more
          }
          const { done, value } = await reader.read();
          if (done) return controller.close();
          sent += value.byteLength;
          controller.enqueue(value);
        },
      });
      return new Response(body, { status: 200, headers: res.headers });
    });
    stops.push(() => stalling.stop());

    const images = ["small1", "small2", "big", "small3", "small4", "small5"];
    await writeFile(file("kill.yaml"), [
      `target: ${dst.host}/killed`,
      "sources:",
      ...images.map((n) => `  - image: ${stalling.host}/kill/${n}:1.0`),
      "",
    ].join("\n"));
    const plan = await ferry(["mirror", "plan", "-c", file("kill.yaml"), "-o", file("kill-plan.json")]);
    expect(plan.code).toBe(0);

    // One shard process, one image at a time, in plan order: small1, small2 done, then big stalls mid-blob.
    const bin = process.env.FERRY_BIN;
    const args = ["mirror", "run", "--plan", file("kill-plan.json"), "--shard", "0/1", "--parallel", "1", "-o", file("killed.json")];
    const child: ChildProcess = bin
      ? spawn(bin, args, { env: { ...process.env, ...env }, stdio: "ignore" })
      : spawn(process.execPath, [join(import.meta.dir, "../../cli.ts"), ...args], { env: { ...process.env, ...env }, stdio: "ignore" });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal }))
    );
    await Promise.race([stalled, exited.then(() => Promise.reject(new Error("the shard ended before the stall")))]);
    process.kill(child.pid!, "SIGKILL");
    expect((await exited).signal).toBe("SIGKILL");
    for (const c of held) c.error(new Error("killed"));

    const has = async (repo: string, what: "manifests" | "blobs", ref: string) =>
      (await fetch(`http://${dst.host}/v2/killed/kill/${repo}/${what}/${ref}`, {
        method: "HEAD",
        headers: { accept: "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json" },
      })).status === 200;
    expect(await has("small1", "manifests", "1.0")).toBe(true);
    expect(await has("small2", "manifests", "1.0")).toBe(true);
    expect(await has("big", "manifests", "1.0")).toBe(false);
    expect(await has("big", "blobs", bigLayer.digest)).toBe(false);
    // No result file: the process died.
    await expect(readFile(file("killed.json"))).rejects.toThrow();

    // The big image's blobs already complete at the target (config, small layer), as the kill left them.
    const bigManifest = await (await fetch(`http://${src.host}/v2/kill/big/manifests/${big.manifests[0].digest}`, {
      headers: { accept: big.manifests[0].mediaType },
    })).json();
    const bigBlobs: string[] = [bigManifest.config.digest, ...bigManifest.layers.map((l: { digest: string }) => l.digest)];
    const complete = new Set<string>();
    for (const d of bigBlobs) if (await has("big", "blobs", d)) complete.add(d);

    // The rerun, counted at a proxy in front of the target.
    const front = await proxy(dst.host);
    const retargeted = (await readFile(file("kill-plan.json"), "utf8")).replaceAll(`${dst.host}/killed`, `${front.host}/killed`);
    await writeFile(file("kill-plan-2.json"), retargeted);
    const rerun = await ferry(["mirror", "run", "--plan", file("kill-plan-2.json"), "--shard", "0/1", "--parallel", "1", "--json"]);
    expect(rerun.stderr).toBe("");
    expect(rerun.code).toBe(0);
    const result: MirrorShardResult = JSON.parse(rerun.stdout);
    const status = Object.fromEntries(result.images.map((i) => [parseReference(i.target).repository.split("/").pop(), i.status]));
    expect(status).toEqual({ small1: "present", small2: "present", big: "copied", small3: "copied", small4: "copied", small5: "copied" });
    // Nothing complete was copied again: no tag written for the finished images, no complete blob uploaded.
    const puts = manifestPuts(front);
    expect(puts.some((p) => p.startsWith("killed/kill/small1:") || p.startsWith("killed/kill/small2:"))).toBe(false);
    const uploaded = blobUploads(front);
    for (const d of complete) expect(uploaded).not.toContain(d);
    expect(uploaded).toContain(bigLayer.digest);
    expect(uploaded.filter((d) => d === bigLayer.digest).length).toBe(1);
    expect(uploaded.filter((d) => bigBlobs.includes(d)).sort()).toEqual(bigBlobs.filter((d) => !complete.has(d)).sort());
  }, 180_000);
});

describe("a fake Docker Hub front (RateLimit headers, 429s)", () => {
  /** In front of the real source: announces `remaining` of 100 per `window` s on manifest answers; answers 429s on demand. */
  async function hub(options: { remaining: () => number; window: number; answer429?: (req: Request) => Response | undefined }) {
    const requests: { method: string; path: string }[] = [];
    const server = await serve(async (req) => {
      const url = new URL(req.url);
      requests.push({ method: req.method, path: url.pathname });
      const limited = url.pathname.includes("/manifests/") ? options.answer429?.(req) : undefined;
      if (limited) return limited;
      const headers = new Headers(req.headers);
      headers.delete("host");
      const res = await fetch(`http://${src.host}${url.pathname}${url.search}`, { method: req.method, headers });
      const out = new Headers(res.headers);
      if (url.pathname.includes("/manifests/")) {
        out.set("ratelimit-limit", `100;w=${options.window}`);
        out.set("ratelimit-remaining", `${options.remaining()};w=${options.window}`);
      }
      return new Response(res.body, { status: res.status, headers: out });
    });
    stops.push(() => server.stop());
    return { host: server.host, requests };
  }

  test("plan reads the budget by HEAD and says whether it fits", async () => {
    let remaining = 5;
    const h = await hub({ remaining: () => remaining, window: 21600 });
    const spec = file("hub.yaml");
    // maxDelay 0: the pacer would space the roots' GETs 30 s apart with 5 of 100 left (that pacing is tested below).
    await writeFile(spec, `target: ${dst.host}/hub\nrateLimit: { maxDelay: 0 }\nsources:\n  - repository: ${h.host}/fleet/app0\n  - image: ${h.host}/fleet/app1:0.0\n`);
    const fits = await ferry(["mirror", "plan", "-c", spec, "--json"]);
    expect(fits.code).toBe(0);
    const plan: MirrorPlan = JSON.parse(fits.stdout);
    expect(plan.items.length).toBe(4);
    expect(plan.budgets).toEqual([{ host: h.host, remaining: 5, limit: 100, windowSeconds: 21600, needed: 8, fits: false, moreWindows: 1 }]);
    const text = await ferry(["mirror", "plan", "-c", spec]);
    expect(text.stdout).toContain(
      `${h.host}: 5 of 100 manifest requests left per 6 h; the plan needs 8: does not fit (1 more window, about 6 h)`,
    );
    remaining = 90;
    const ok = await ferry(["mirror", "plan", "-c", spec]);
    expect(ok.stdout).toContain(`${h.host}: 90 of 100 manifest requests left per 6 h; the plan needs 8: fits`);
    // An image the target already has costs the plan one HEAD at the source, and nothing from the budget.
    await ferry(["mirror", "-d", `${dst.host}/hub`, `${h.host}/fleet/app1:0.0`]);
    const before = h.requests.length;
    const after = JSON.parse((await ferry(["mirror", "plan", "-d", `${dst.host}/hub`, `${h.host}/fleet/app1:0.0`, "--json"])).stdout);
    expect(after.items[0].present).toBe(true);
    expect(after.budgets[0]).toMatchObject({ remaining: 90, needed: 0, fits: true });
    expect(h.requests.slice(before).map((r) => r.method)).toEqual(["HEAD"]);
  }, 120_000);

  test("run paces itself on its share of one budget: --budget-shares 4 waits 4× longer near the reserve", async () => {
    const h = await hub({ remaining: () => 8, window: 4 });
    await writeFile(file("paced.yaml"), `target: ${dst.host}/paced\nrateLimit: { reserve: 10 }\nsources:\n  - image: ${h.host}/fleet/app2:0.0\n`);
    await ferry(["mirror", "plan", "-c", file("paced.yaml"), "-o", file("paced.json")]);
    const timed = async (shares: string, target: string) => {
      const plan = (await readFile(file("paced.json"), "utf8")).replaceAll(`${dst.host}/paced`, `${dst.host}/${target}`);
      await writeFile(file(`${target}.json`), plan);
      const started = Date.now();
      const r = await ferry(["mirror", "run", "--plan", file(`${target}.json`), "--budget-shares", shares]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("1 copied");
      return Date.now() - started;
    };
    // Two manifest GETs (root, then its image): the second waits window / remaining: 4 s / 8 alone, 4 s / (8 / 4) shared.
    const alone = await timed("1", "paced1");
    const shared = await timed("4", "paced4");
    expect(shared).toBeGreaterThanOrEqual(2000);
    expect(shared - alone).toBeGreaterThan(1000);
  }, 120_000);

  test("a 429 with Docker's docs link is the pull limit (the rest not attempted); a bare 429 the abuse limit", async () => {
    const pullLimit = await hub({
      remaining: () => 0,
      window: 21600,
      answer429: (req) =>
        req.method === "GET"
          ? Response.json({
            errors: [{
              code: "TOOMANYREQUESTS",
              message: "You have reached your pull rate limit. See https://docs.docker.com/docker-hub/usage/pulls/",
            }],
          }, { status: 429, headers: { "ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0;w=21600" } })
          : undefined,
    });
    const images = ["app3:0.0", "app4:0.0", "app5:0.0"].map((n) => `${pullLimit.host}/fleet/${n}`);
    // maxDelay 0: with 0 left the pacer would wait its 30 s maximum before each GET.
    await writeFile(file("limited.yaml"), [
      `target: ${dst.host}/limited`,
      "rateLimit: { maxDelay: 0 }",
      "sources:",
      ...images.map((i) => `  - image: ${i}`),
      "",
    ].join("\n"));
    const planned = await ferry(["mirror", "plan", "-c", file("limited.yaml"), "--parallel", "1", "--retries", "0"]);
    // Planning HEADs are free; the roots' GETs are refused: the plan lists the failures, exit 9.
    expect(planned.code).toBe(9);
    expect(planned.stdout).toContain("the pull rate limit is spent (0 of 100 left per 6 h)");
    expect(planned.stdout).toContain(`not attempted: the pull rate limit of ${pullLimit.host} is spent`);
    // The same through run, from a plan made before the budget ran out.
    const good: MirrorPlan = JSON.parse((await ferry([
      "mirror", "plan", "-d", `${dst.host}/limited`, "--all-tags", "--json",
      ...["app3", "app4", "app5"].map((n) => `${src.host}/fleet/${n}`),
    ])).stdout);
    const mine = good.items.map((i) => ({ ...i, source: i.source.replace(src.host, pullLimit.host) }));
    await writeFile(file("limited.json"), JSON.stringify({ version: 1, target: `${dst.host}/limited`, settings: { rateLimit: { maxDelay: 0 } }, items: mine }));
    const before = pullLimit.requests.length;
    const run = await ferry(["mirror", "run", "--plan", file("limited.json"), "--keep-going", "--parallel", "1", "--retries", "0", "--json"]);
    expect(run.code).toBe(9);
    const result: MirrorShardResult = JSON.parse(run.stdout);
    expect(result.failed).toBe(9);
    const errors = result.images.map((i) => i.error ?? "");
    expect(errors[0]).toContain("TOOMANYREQUESTS");
    expect(errors[0]).toContain("the pull rate limit is spent (0 of 100 left per 6 h); retry the failed images after the window");
    for (const [i, image] of result.images.entries()) {
      expect(image.source).toBe(mine[i].source);
      if (i > 0) expect(image.error).toBe(`Cannot mirror ${mine[i].source}: not attempted: the pull rate limit of ${pullLimit.host} is spent`);
    }
    // One refused GET, then nothing more asked of the spent host.
    expect(pullLimit.requests.slice(before).filter((r) => r.method === "GET").length).toBe(1);
    expect(result.retry.length).toBe(9);

    let bare = 1;
    const abuse = await hub({
      remaining: () => 50,
      window: 21600,
      answer429: (req) => (req.method === "GET" && bare-- > 0 ? new Response("Too Many Requests", { status: 429 }) : undefined),
    });
    const abused = await ferry([
      "mirror", "-d", `${dst.host}/abused`, "--keep-going", "--parallel", "1", "--retries", "0",
      `${abuse.host}/fleet/app6:0.0`, `${abuse.host}/fleet/app7:0.0`,
    ]);
    expect(abused.stdout).not.toContain("not attempted");
    expect(abused.code).toBe(9);
    expect(abused.stdout).toContain("a bare 429 is the registry's abuse limit (too many requests at once), not the pull limit");
    // Not the pull limit: the next image was still tried, and copied.
    expect(abused.stdout).toContain("1 copied, 0 already present, 1 failed");
  }, 120_000);
});
