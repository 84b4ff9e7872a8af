import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PartialError } from "../../lib/errors.ts";
import { mirror, type MirrorEvent } from "../../lib/verbs/mirror/mirror.ts";
import type { MirrorSpec } from "../../lib/verbs/mirror/spec.ts";
import type { RegistryEvent } from "../../lib/remote/rate_limit.ts";
import { serve, type Server } from "../../lib/runtime.ts";
import { type FaultyProxy, startFaultyProxy } from "../helpers/faulty.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run } from "../helpers/tools.ts";

const USER = "mirror-bot";
const PASS = "Tr0ub4dor&3-not-in-output";
const dest = { username: USER, password: PASS };

let src: TestRegistry;
let dst: TestRegistry;
let tmp: string;
const stops: (() => Promise<void>)[] = [];
const roots: Record<string, string> = {};

beforeAll(async () => {
  [src, dst] = await Promise.all([startRegistry(), startRegistry({ htpasswd: { username: USER, password: PASS } })]);
  tmp = await mkdtemp(join(tmpdir(), "ferry-mirror-"));
  const images = [["library/alpha:1.0", 1], ["team/beta:1.0", 2], ["gamma:2.0", 3]] as const;
  for (const [name, seed] of images) {
    const sample = await pushSampleImage(`${src.host}/${name}`, { seed, attestations: seed === 1 });
    roots[name] = sample.root.digest;
  }
}, 60_000);
afterAll(async () => {
  for (const stop of stops) await stop();
  await Promise.all([src?.stop(), dst?.stop()]);
  await rm(tmp, { recursive: true, force: true });
});

async function proxy(upstream: string, faults: Parameters<typeof startFaultyProxy>[1] = []): Promise<FaultyProxy> {
  const p = await startFaultyProxy(upstream, faults);
  stops.push(() => p.stop());
  return p;
}

/** The raw root on the target, read by skopeo with the target's credentials. */
async function targetRaw(ref: string): Promise<string> {
  return (await run("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", `${USER}:${PASS}`, `docker://${ref}`])).stdout;
}

const three = (host: string) => [
  { image: `${host}/library/alpha:1.0` },
  { image: `${host}/team/beta:1.0` },
  { image: `${host}/gamma:2.0` },
];

describe("ferry mirror between real registries (target with basic auth)", () => {
  test("mirrors three multi-arch images under the prefix, every platform, digests kept", async () => {
    const result = await mirror({ target: `${dst.host}/mirror`, sources: three(src.host) }, { destination: dest });
    expect(result).toMatchObject({ copied: 3, present: 0, failed: 0 });
    expect(result.images.map((i) => i.target)).toEqual([
      `${dst.host}/mirror/library/alpha:1.0`,
      `${dst.host}/mirror/team/beta:1.0`,
      `${dst.host}/mirror/gamma:2.0`,
    ]);
    for (const [name, digest] of Object.entries(roots)) {
      const raw = await targetRaw(`${dst.host}/mirror/${name}`);
      const index = JSON.parse(raw);
      expect(index.manifests.filter((m: { platform: { os: string } }) => m.platform.os === "linux").length).toBe(3);
      expect(result.images.find((i) => i.source.endsWith(name))?.digest).toBe(digest);
      expect(`sha256:${createHash("sha256").update(raw).digest("hex")}`).toBe(digest);
    }
    // Root + 3 platform manifests each, + the attestation manifests of alpha.
    expect(result.manifestRequests).toBeGreaterThanOrEqual(12);
  }, 60_000);

  test("a second run copies nothing and makes only HEAD requests, one per image at each end", async () => {
    const sp = await proxy(src.host);
    const dp = await proxy(dst.host);
    const result = await mirror({ target: `${dp.host}/mirror`, sources: three(sp.host) }, { destination: dest });
    expect(result).toMatchObject({ copied: 0, present: 3, failed: 0, bytes: 0, manifestRequests: 0 });
    expect(sp.requests.every((r) => r.method === "HEAD")).toBe(true);
    expect(sp.requests.length).toBe(3);
    expect(dp.requests.every((r) => r.method === "HEAD")).toBe(true);
    // 3 HEADs; the first ones may be answered 401 before the client learns it needs basic auth.
    expect(dp.requests.filter((r) => r.path.includes("/manifests/")).length).toBeLessThanOrEqual(6);
  }, 60_000);

  test("a new tag upstream is picked up by a repository source; the dry run plans exactly what the run does", async () => {
    await pushSampleImage(`${src.host}/team/beta:1.1`, { seed: 4 });
    await pushSampleImage(`${src.host}/team/beta:1.1-rc1`, { seed: 5 });
    const spec: MirrorSpec = {
      target: `${dst.host}/mirror`,
      sources: [{ repository: `${src.host}/team/beta`, tags: { deny: ["-rc"] } }],
    };
    const plan = await mirror(spec, { destination: dest, dryRun: true });
    expect(plan).toMatchObject({ dryRun: true, planned: 1, present: 1, copied: 0 });
    expect(plan.images.map((i) => [i.source, i.status])).toEqual([
      [`${src.host}/team/beta:1.0`, "present"],
      [`${src.host}/team/beta:1.1`, "planned"],
    ]);
    expect((await run("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", `${USER}:${PASS}`, `docker://${dst.host}/mirror/team/beta:1.1`], { allowFailure: true })).code).not.toBe(0);
    const done = await mirror(spec, { destination: dest });
    expect(done).toMatchObject({ copied: 1, present: 1 });
    expect(done.images[1].status).toBe("copied");
    expect(done.manifestRequests).toBe(plan.manifestRequests);
    expect(JSON.parse(await targetRaw(`${dst.host}/mirror/team/beta:1.1`)).manifests.length).toBe(3);
  }, 60_000);

  test("a platform filter writes the chosen platforms; its rerun is cheap too", async () => {
    const spec: MirrorSpec = {
      target: `${dst.host}/filtered`,
      platforms: ["linux/arm64"],
      sources: [{ image: `${src.host}/gamma:2.0`, platforms: ["linux/amd64", "linux/arm/v7"] }, { image: `${src.host}/team/beta:1.0` }],
    };
    const first = await mirror(spec, { destination: dest });
    expect(first.images.map((i) => i.platforms)).toEqual([["linux/amd64", "linux/arm/v7"], ["linux/arm64/v8"]]);
    const sp = await proxy(src.host);
    const again = await mirror({ ...spec, sources: spec.sources.map((s) => ({ ...s, image: s.image!.replace(src.host, sp.host) })) }, {
      destination: dest,
    });
    expect(again).toMatchObject({ copied: 0, present: 2 });
    // A filtered index is not the source's: its digest needs the source index (one GET), never the platform manifests.
    expect(sp.requests.map((r) => r.method).sort()).toEqual(["GET", "GET", "HEAD", "HEAD"]);
  }, 60_000);

  test("wildcard platforms: linux/* keeps every Linux image and no Windows one; */amd64 every OS's amd64", async () => {
    await pushSampleImage(`${src.host}/mixed:1.0`, { seed: 7, platforms: ["windows/amd64", "linux/amd64", "linux/arm/v7"] });
    const result = await mirror({
      target: `${dst.host}/wild`,
      platforms: ["linux/*"],
      sources: [{ image: `${src.host}/mixed:1.0` }, { image: `${src.host}/mixed:1.0`, target: "amd64/mixed", platforms: ["*/amd64"] }],
    }, { destination: dest });
    expect(result.images.map((i) => i.platforms)).toEqual([["linux/amd64", "linux/arm/v7"], ["windows/amd64", "linux/amd64"]]);
    const platformsAt = async (ref: string) =>
      JSON.parse(await targetRaw(ref)).manifests.map((m: { platform: { os: string; architecture: string } }) =>
        `${m.platform.os}/${m.platform.architecture}`
      );
    expect(await platformsAt(`${dst.host}/wild/mixed:1.0`)).toEqual(["linux/amd64", "linux/arm"]);
    expect(await platformsAt(`${dst.host}/wild/amd64/mixed:1.0`)).toEqual(["windows/amd64", "linux/amd64"]);
    // A wildcard that matches nothing is the same error as an exact platform the image lacks.
    await expect(mirror({ target: `${dst.host}/wild`, platforms: ["darwin/*"], sources: [{ image: `${src.host}/mixed:1.0` }] }, {
      destination: dest,
    })).rejects.toThrow("Cannot find platform darwin/* in the index; it has windows/amd64, linux/amd64, linux/arm/v7");
  }, 60_000);
});

describe("ferry mirror through faults", () => {
  test("429 with Retry-After, 503s and a cut blob: completes, every digest verified, the wait honoured", async () => {
    const sp = await proxy(src.host, [
      { kind: "status", status: 429, times: 1, method: "GET", path: /\/manifests\//, retryAfter: "1" },
      { kind: "status", status: 503, times: 2, method: "GET", path: /\/blobs\// },
      { kind: "cut", times: 1 },
    ]);
    const events: RegistryEvent[] = [];
    const started = Date.now();
    const result = await mirror({ target: `${dst.host}/faulty`, sources: three(sp.host) }, {
      destination: dest,
      onEvent: (e: MirrorEvent) => (e.type === "retry" ? events.push(e) : undefined),
    });
    expect(result).toMatchObject({ copied: 3, failed: 0 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(events).toContainEqual({ type: "retry", host: sp.host, status: 429, waitMs: 1000, attempt: 0, retryAfter: true });
    expect(events.filter((e) => e.type === "retry" && e.status === 503).length).toBe(2);
    // The cut blob was resumed, not re-sent whole: a Range request followed it.
    expect(sp.requests.some((r) => r.method === "GET" && r.path.includes("/blobs/"))).toBe(true);
    for (const name of Object.keys(roots)) {
      // skopeo re-reads everything from the target and checks every digest on the way.
      const out = join(tmp, `verify-${name.replace(/[/:]/g, "-")}`);
      await run("skopeo", [
        "copy", "--quiet", "--all", "--src-tls-verify=false", "--src-creds", `${USER}:${PASS}`,
        `docker://${dst.host}/faulty/${name}`, `oci:${out}:x`,
      ]);
      expect(await targetRaw(`${dst.host}/faulty/${name}`)).toBe(await targetRaw(`${dst.host}/mirror/${name}`));
    }
  }, 60_000);

  test("--keep-going: one missing image, the others land, a PartialError names it", async () => {
    const spec: MirrorSpec = {
      target: `${dst.host}/partial`,
      sources: [...three(src.host), { image: `${src.host}/nope:1.0` }, { repository: `${src.host}/absent/repo` }],
    };
    const seen: string[] = [];
    const err = await mirror(spec, {
      destination: dest,
      keepGoing: true,
      onEvent: (e) => (e.type === "image" ? seen.push(`${e.image.status} ${e.image.source}`) : undefined),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(PartialError);
    expect(err.exitCode).toBe(9);
    expect(err.failures.map((f: { ref: string }) => f.ref).sort()).toEqual([`${src.host}/absent/repo`, `${src.host}/nope:1.0`]);
    expect(err.message).toContain(`${src.host}/nope:1.0`);
    expect(err.failures.find((f: { ref: string }) => f.ref.endsWith("nope:1.0")).error).toContain("Cannot find manifest 1.0");
    expect(seen.filter((s) => s.startsWith("copied")).length).toBe(3);
    for (const name of Object.keys(roots)) expect(JSON.parse(await targetRaw(`${dst.host}/partial/${name}`)).manifests.length).toBeGreaterThan(0);
    // Without --keep-going the first failure is the error.
    await expect(mirror({ ...spec, target: `${dst.host}/partial2` }, { destination: dest })).rejects.toThrow("Cannot");
  }, 60_000);

  test("without keepGoing: the first failure is the error; the images it stopped are skipped, not failed with it", async () => {
    // A source that never answers, so its image is in flight when the missing one fails.
    const hanging: (() => void)[] = [];
    const silent: Server = await serve((req) =>
      new Promise<Response>((resolve) => {
        const answer = () => resolve(new Response("stopped", { status: 503 }));
        hanging.push(answer);
        req.signal.addEventListener("abort", answer, { once: true });
      })
    );
    stops.push(async () => {
      for (const answer of hanging) answer();
      await silent.stop();
    });
    const seen: MirrorEvent[] = [];
    const err = await mirror({
      target: `${dst.host}/strict`,
      concurrency: 2,
      sources: [{ image: `${silent.host}/slow/app:1.0` }, { image: `${src.host}/nope:1.0` }, { image: `${src.host}/gamma:2.0` }],
    }, { destination: dest, onEvent: (e) => (e.type === "image" ? seen.push(e) : undefined) }).catch((e) => e);
    expect(err.message).toBe("Cannot find manifest 1.0");
    expect(err.exitCode).toBe(3);
    const images = seen.flatMap((e) => (e.type === "image" ? [e.image] : []));
    const byName = Object.fromEntries(images.map((i) => [i.source.replace(/^[^/]+\//, ""), i]));
    expect(Object.keys(byName).sort()).toEqual(["gamma:2.0", "nope:1.0", "slow/app:1.0"]);
    expect(byName["nope:1.0"]).toMatchObject({ status: "failed", error: "Cannot find manifest 1.0" });
    // In flight when it failed, and never started: neither failed, neither carries the other image's error.
    expect(byName["slow/app:1.0"]).toMatchObject({ status: "skipped", target: `${dst.host}/strict/slow/app:1.0` });
    expect(byName["gamma:2.0"]).toMatchObject({ status: "skipped", target: `${dst.host}/strict/gamma:2.0` });
    expect(byName["slow/app:1.0"].error).toBeUndefined();
    expect(byName["gamma:2.0"].error).toBeUndefined();
    // Nothing was tagged for them.
    expect((await run("skopeo", ["inspect", "--raw", "--tls-verify=false", "--creds", `${USER}:${PASS}`, `docker://${dst.host}/strict/gamma:2.0`], {
      allowFailure: true,
    })).code).not.toBe(0);
  }, 60_000);

  test("RateLimit-Remaining is reported, and requests slow down near zero", async () => {
    // A registry announcing a shrinking budget (as Docker Hub does) in front of the real one.
    let remaining = 12;
    const upstream = src.host;
    const announcing: Server = await serve(async (req) => {
      const url = new URL(req.url);
      const forward = new Headers(req.headers);
      forward.delete("host");
      const res = await fetch(`http://${upstream}${url.pathname}${url.search}`, { method: req.method, headers: forward });
      const headers = new Headers(res.headers);
      if (url.pathname.includes("/manifests/")) {
        if (req.method === "GET") remaining = Math.max(0, remaining - 1);
        headers.set("RateLimit-Limit", "100;w=2");
        headers.set("RateLimit-Remaining", `${remaining};w=2`);
      }
      return new Response(res.body, { status: res.status, headers });
    });
    stops.push(() => announcing.stop());
    const limits: number[] = [];
    const started = Date.now();
    const result = await mirror({
      target: `${dst.host}/paced`,
      concurrency: 1,
      rateLimit: { reserve: 10, maxDelay: 1 },
      sources: [{ image: `${announcing.host}/team/beta:1.0` }, { image: `${announcing.host}/gamma:2.0` }],
    }, { destination: dest, onEvent: (e) => (e.type === "ratelimit" ? limits.push(e.remaining) : undefined) });
    expect(result.copied).toBe(2);
    expect(limits[0]).toBe(12);
    expect(Math.min(...limits)).toBeLessThanOrEqual(5);
    // Once 8 are left (after the first image), each manifest GET starts 2 s / remaining after the previous
    // one: 250 ms before the second root, then 3 × 286 ms for its platforms (unpaced, this takes ~100 ms).
    expect(Date.now() - started).toBeGreaterThan(1100);
  }, 60_000);
});
