/**
 * Registries that answer in ways docker-registry does not: a manifest HEAD refused with 405 (the client
 * falls back to GET), served by the fault proxy in front of the real registry; an --authfile that is not
 * there; indexes and manifests whose digests are not digests (path traversal, md5, upper-case hex),
 * served by ferry's own registry handler over a MemoryStore holding the crafted bytes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../../lib/ends/memory.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { serve, type Server } from "../../lib/runtime.ts";
import { registryHandler } from "../../lib/server/handler.ts";
import { runCli } from "../helpers/cli.ts";
import { type FaultyProxy, startFaultyProxy } from "../helpers/faulty.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";

let registry: TestRegistry;
let noHead: FaultyProxy;
let tmp: string;
let rootDigest: string;

beforeAll(async () => {
  registry = await startRegistry();
  tmp = await mkdtemp(join(tmpdir(), "ferry-quirks-"));
  rootDigest = (await pushSampleImage(`${registry.host}/sample/app:1.0`)).root.digest;
  noHead = await startFaultyProxy(registry.host, [
    { kind: "status", status: 405, times: 10_000, method: "HEAD", path: /\/manifests\// },
  ]);
}, 60_000);

afterAll(async () => {
  await noHead?.stop();
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe("a registry that answers manifest HEAD with 405", () => {
  test("inspect, copy out of it and into it (twice: the second finds everything there) fall back to GET", async () => {
    const inspected = await runCli(["inspect", `${noHead.host}/sample/app:1.0`]);
    expect(inspected.stderr).toBe("");
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain(rootDigest);
    const out = await runCli(["copy", `${noHead.host}/sample/app:1.0`, `oci:${join(tmp, "layout")}:1.0`]);
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    for (const expected of [/ 0 already present/, / 0 copied/]) {
      const into = await runCli(["copy", `${registry.host}/sample/app:1.0`, `${noHead.host}/other/app:1.0`]);
      expect(into.stderr).toBe("");
      expect(into.code).toBe(0);
      expect(into.stdout).toMatch(expected);
    }
    expect(noHead.requests.some((r) => r.method === "GET" && r.path.includes("/manifests/"))).toBe(true);
  }, 60_000);
});

describe("--authfile", () => {
  test("a file that does not exist is an error naming it (exit 8), not anonymous access", async () => {
    const missing = join(tmp, "no-such-auth.json");
    for (const args of [["inspect"], ["copy", "--dest-creds", "u:p"]]) {
      const dst = args[0] === "copy" ? [`oci:${join(tmp, "never")}`] : [];
      const result = await runCli([...args, "--authfile", missing, `${registry.host}/sample/app:1.0`, ...dst]);
      expect(result.code).toBe(8);
      expect(result.stderr.trimEnd().split("\n").at(-1)).toBe(
        `ferry: Cannot read credentials from ${missing} (--authfile): no such file`,
      );
    }
  }, 60_000);
});

describe("digests are validated before they reach a path, URL or file name", () => {
  const enc = new TextEncoder();
  const log: string[] = [];
  let evil: Server;
  let recorder: FaultyProxy; // a destination that records every request
  const cases: Record<string, string> = {
    traversal: "sha256:../../../../etc/passwd",
    md5: `md5:${"a".repeat(32)}`,
    upper: `sha256:${"A".repeat(64)}`,
    short: `sha512:${"a".repeat(64)}`,
  };
  beforeAll(async () => {
    const store = new MemoryStore();
    const config = store.put(enc.encode('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'), MediaType.OciConfig);
    for (const [name, digest] of Object.entries(cases)) {
      const bad = { mediaType: MediaType.OciManifest, digest, size: 10, platform: { os: "linux", architecture: "amd64" } };
      store.tags.set(`index-${name}`, store.put(enc.encode(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [bad] })), MediaType.OciIndex));
      const manifest = store.put(
        enc.encode(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [{ mediaType: MediaType.OciLayerGzip, digest, size: 10 }] })),
        MediaType.OciManifest,
      );
      const good = { ...manifest, platform: { os: "linux", architecture: "amd64" } };
      store.tags.set(`layer-${name}`, store.put(enc.encode(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [good] })), MediaType.OciIndex));
    }
    recorder = await startFaultyProxy(registry.host, []);
    evil = await serve(registryHandler(new Map([["evil/app", store]]), { onRequest: (e) => log.push(`${e.method} ${e.path}`) }));
  });
  afterAll(async () => {
    await evil?.stop();
    await recorder?.stop();
  });

  for (const [name, digest] of Object.entries(cases)) {
    for (const where of ["index", "layer"]) {
      test(`${name} digest in ${where === "index" ? "an index entry" : "a layer"}: copy and export fail with a FormatError, no request made with it`, async () => {
        log.length = 0;
        const ref = `${evil.host}/evil/app:${where}-${name}`;
        recorder.requests.length = 0;
        for (
          const args of [
            ["copy", ref, `oci:${join(tmp, `evil-${name}`)}`],
            ["copy", ref, `${recorder.host}/evil-copy/app:1.0`],
            ["export", "-o", join(tmp, `evil-export-${name}`), ref],
          ]
        ) {
          const result = await runCli(args);
          expect(result.stderr).not.toContain("internal error");
          expect(result.code).toBe(8);
          expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
          expect(result.stderr).toContain("invalid digest");
        }
        const hex = digest.slice(digest.indexOf(":") + 1);
        const bad = (l: string) => l.includes("etc/passwd") || l.includes(hex) || l.includes("md5:");
        expect(log.filter(bad)).toEqual([]);
        expect(recorder.requests.map((r) => `${r.method} ${r.path}`).filter(bad)).toEqual([]);
      }, 60_000);
    }
  }
});

describe("credentials on the command line", () => {
  test("--creds, --src-creds and --dest-creds print login -p's warning on stderr, never the password", async () => {
    const result = await runCli([
      "copy",
      "--src-creds",
      "someone:src-pass-123",
      "--dest-creds",
      "someone:dest-pass-456",
      `${registry.host}/sample/app:1.0`,
      `oci:${join(tmp, "creds")}:1.0`,
    ]);
    expect(result.code).toBe(0);
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines).toEqual([
      "WARNING! Using --src-creds via the CLI is insecure. Use ferry login --password-stdin (or docker login), or --authfile.",
      "WARNING! Using --dest-creds via the CLI is insecure. Use ferry login --password-stdin (or docker login), or --authfile.",
    ]);
    expect(result.stderr + result.stdout).not.toContain("pass-");
    const inspected = await runCli(["inspect", "--creds", "someone:x", `${registry.host}/sample/app:1.0`]);
    expect(inspected.stderr).toStartWith("WARNING! Using --creds via the CLI is insecure.");
  }, 60_000);
});
