/**
 * Every network fault a registry can show (tests/helpers/faulty.ts startWireFaultProxy: reset mid-body,
 * a body shorter than its Content-Length, 5xx, a stall, a garbage status line, a close before the
 * headers, bytes that are not HTTP) on every kind of request of a pull and a push: the CLI ends with
 * exit 5 and one clear line, never "internal error". The faults persist, so the retries meet them too.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { startWireFaultProxy, WIRE_FAULT_KINDS, type WireFault } from "../helpers/faulty.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";

let registry: TestRegistry;
let tmp: string;
let layout: string;

beforeAll(async () => {
  registry = await startRegistry();
  tmp = await mkdtemp(join(tmpdir(), "ferry-faults-"));
  await pushSampleImage(`${registry.host}/sample/app:1.0`);
  layout = join(tmp, "layout");
  const out = await runCli(["copy", `${registry.host}/sample/app:1.0`, `oci:${layout}:1.0`]);
  if (out.code !== 0) throw new Error(out.stderr);
}, 60_000);

afterAll(async () => {
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

/** `answerBody`: whether the answer has a body to cut short (HEAD, POST, PATCH and PUT answers have none). */
const targets: { name: string; direction: "pull" | "push"; method: string; path: RegExp; answerBody?: boolean }[] = [
  { name: "manifest HEAD", direction: "pull", method: "HEAD", path: /\/manifests\// },
  { name: "manifest GET", direction: "pull", method: "GET", path: /\/manifests\//, answerBody: true },
  { name: "blob GET", direction: "pull", method: "GET", path: /\/blobs\/sha256:/, answerBody: true },
  { name: "upload POST", direction: "push", method: "POST", path: /\/blobs\/uploads\// },
  { name: "upload PATCH", direction: "push", method: "PATCH", path: /\/blobs\/uploads\// },
  { name: "upload PUT", direction: "push", method: "PUT", path: /\/blobs\/uploads\// },
  { name: "manifest PUT", direction: "push", method: "PUT", path: /\/manifests\// },
];

const TIMEOUTS = ["--retries", "1", "--timeout", "2", "--idle-timeout", "2", "--connect-timeout", "2"];

describe("one fault on a blob upload is retried: the push succeeds", () => {
  for (const [name, fault] of [
    ["a 503 answer to the streaming PATCH", { kind: "status", status: 503 }],
    ["a dropped connection during the PATCH", { kind: "reset" }],
    ["a connection closed before the PATCH's answer", { kind: "close" }],
    ["a 503 answer to the committing PUT", { kind: "status", status: 503, method: "PUT" }],
  ] as [string, WireFault][]) {
    test(name, async () => {
      const proxy = await startWireFaultProxy(registry.host, [
        { method: "PATCH", path: /\/blobs\/uploads\//, ...fault, times: 1 } as WireFault,
      ]);
      try {
        const result = await runCli(["copy", `oci:${layout}:1.0`, `${proxy.host}/retried/app:1.0`]);
        expect(result.stderr).toBe("");
        expect(result.code).toBe(0);
        const check = await runCli(["inspect", `${registry.host}/retried/app:1.0`]);
        expect(check.code).toBe(0);
      } finally {
        await proxy.stop();
      }
    }, 60_000);
  }
});

describe("network faults end in exit 5 with one clear line", () => {
  for (const target of targets) {
    for (const kind of WIRE_FAULT_KINDS) {
      // A cut answer body needs one; a reset mid-request needs a request body or an answer body.
      const bodyless = target.method === "HEAD" || target.method === "POST";
      if (!target.answerBody && (kind === "short" || (kind === "reset" && bodyless))) continue;
      test(`${kind} on ${target.name} (${target.direction})`, async () => {
        const fault = { kind, method: target.method, path: target.path, ...(kind === "status" ? { status: 503 } : {}),
          // Stall mid-body where the answer has one, else before the headers.
          ...(kind === "stall" && !target.answerBody ? { beforeHeaders: true } : {}),
        } as WireFault;
        const proxy = await startWireFaultProxy(registry.host, [fault]);
        try {
          const args = target.direction === "pull"
            ? ["copy", ...TIMEOUTS, `${proxy.host}/sample/app:1.0`, `oci:${join(tmp, `out-${kind}-${target.method}`)}:1.0`]
            : ["copy", ...TIMEOUTS, `oci:${layout}:1.0`, `${proxy.host}/pushed-${kind}/app:1.0`];
          const started = Date.now();
          const result = await runCli(args, { timeoutMs: 60_000 });
          expect(result.stderr).not.toContain("internal error");
          expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: 5 });
          const lines = result.stderr.trimEnd().split("\n");
          expect(lines).toHaveLength(1);
          expect(lines[0]).toStartWith("ferry: ");
          // A stall is cut by the timeouts: (1 + retries) × 2 s and the backoff, far below the runner's 60 s.
          expect(Date.now() - started).toBeLessThan(30_000);
          if (kind === "stall") {
            // …and retried: the faulty request was made more than once.
            const tries = proxy.requests.filter((r) => r.method === target.method && target.path.test(r.path));
            expect(tries.length).toBeGreaterThan(1);
          }
        } finally {
          await proxy.stop();
        }
      }, 70_000);
    }
  }
});
