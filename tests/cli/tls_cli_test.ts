/**
 * TLS as docker, skopeo and crane do it, against real CNCF registries on 127.0.0.1 serving HTTPS with
 * certificates made by openssl for the test: a CA from --cert-dir or from $DOCKER_CONFIG/certs.d/HOST:PORT,
 * mutual TLS with client.cert/client.key, a wrong CA refused with a clear line (exit 5), a plain-HTTP
 * loopback registry still reached (HTTPS first, then the plain-HTTP fallback), --plain-http, and the
 * same TLS registry read by the library under Deno and by skopeo --cert-dir.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCerts, type TestCerts } from "../helpers/certs.ts";
import { runCli } from "../helpers/cli.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run } from "../helpers/tools.ts";

const root = join(import.meta.dir, "..", "..");
let certs: TestCerts;
let plain: TestRegistry;
let secure: TestRegistry;
let mutual: TestRegistry;
let tmp: string;
/** A --cert-dir with the CA only; one with the CA and a client certificate; one with an unrelated CA. */
let caDir: string;
let clientDir: string;
let wrongDir: string;
let rootDigest: string;

beforeAll(async () => {
  certs = await makeCerts();
  tmp = await mkdtemp(join(tmpdir(), "ferry-tls-"));
  const tls = { certificate: certs.serverCrt, key: certs.serverKey };
  [plain, secure, mutual] = await Promise.all([
    startRegistry(),
    startRegistry({ tls }),
    startRegistry({
      tls: { ...tls, clientCas: [certs.caCrt], clientCert: certs.clientCert, clientKey: certs.clientKey },
    }),
  ]);
  caDir = join(tmp, "ca");
  clientDir = join(tmp, "client");
  wrongDir = join(tmp, "wrong");
  await Promise.all([mkdir(caDir), mkdir(clientDir), mkdir(wrongDir)]);
  await copyFile(certs.caCrt, join(caDir, "ca.crt"));
  await copyFile(certs.caCrt, join(clientDir, "ca.crt"));
  await copyFile(certs.clientCert, join(clientDir, "client.cert"));
  await copyFile(certs.clientKey, join(clientDir, "client.key"));
  await copyFile(certs.otherCaCrt, join(wrongDir, "ca.crt"));
  const sample = await pushSampleImage(`${plain.host}/sample/app:1.0`);
  rootDigest = sample.root.digest;
}, 60_000);

afterAll(async () => {
  await Promise.all([plain?.stop(), secure?.stop(), mutual?.stop()]);
  await rm(tmp, { recursive: true, force: true });
  await certs?.remove();
});

describe("TLS registries on 127.0.0.1", () => {
  test("copy to an HTTPS registry with its CA from --dest-cert-dir, inspect it back with --cert-dir", async () => {
    const copied = await runCli([
      "copy",
      "--dest-cert-dir",
      caDir,
      `${plain.host}/sample/app:1.0`,
      `${secure.host}/tls/app:1.0`,
    ]);
    expect(copied.stderr).toBe("");
    expect(copied.code).toBe(0);
    const inspected = await runCli(["inspect", "--cert-dir", caDir, `${secure.host}/tls/app:1.0`]);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain(rootDigest);
  }, 60_000);

  test("the CA is found in $DOCKER_CONFIG/certs.d/HOST:PORT/ without any flag", async () => {
    const config = join(tmp, "docker-config");
    await mkdir(join(config, "certs.d", secure.host), { recursive: true });
    await copyFile(certs.caCrt, join(config, "certs.d", secure.host, "ca.crt"));
    const inspected = await runCli(["inspect", `${secure.host}/tls/app:1.0`], { env: { DOCKER_CONFIG: config } });
    expect(inspected.stderr).toBe("");
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain(rootDigest);
  }, 60_000);

  test("mutual TLS: client.cert and client.key from the cert dir; without them a clear line, exit 5", async () => {
    const copied = await runCli([
      "copy",
      "--dest-cert-dir",
      clientDir,
      `${plain.host}/sample/app:1.0`,
      `${mutual.host}/mtls/app:1.0`,
    ]);
    expect(copied.stderr).toBe("");
    expect(copied.code).toBe(0);
    const refused = await runCli(["inspect", "--cert-dir", caDir, "--retries", "0", `${mutual.host}/mtls/app:1.0`]);
    expect(refused.code).toBe(5);
    expect(refused.stderr).not.toContain("internal error");
    expect(refused.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(refused.stderr).toMatch(/client certificate.*client\.cert and client\.key/);
  }, 60_000);

  test("a certificate of an unknown CA: exit 5, one line naming the problem and how to trust the CA; no HTTP fallback", async () => {
    for (const args of [["--cert-dir", wrongDir], []]) {
      const result = await runCli(["inspect", ...args, `${secure.host}/tls/app:1.0`], {
        env: { DOCKER_CONFIG: join(tmp, "empty-config") },
      });
      expect(result.code).toBe(5);
      const lines = result.stderr.trimEnd().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^ferry: .*Cannot reach 127\.0\.0\.1:\d+: TLS certificate signed by an unknown authority/);
      expect(lines[0]).toContain("--cert-dir");
      expect(lines[0]).toContain(`certs.d/${secure.host}/ca.crt`);
    }
  }, 60_000);

  test("--tls-verify=false (and --insecure) skip verification", async () => {
    for (const flag of ["--tls-verify=false", "--insecure"]) {
      const result = await runCli(["inspect", flag, `${secure.host}/tls/app:1.0`]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(rootDigest);
    }
    const bad = await runCli(["inspect", "--tls-verify=maybe", `${secure.host}/tls/app:1.0`]);
    expect(bad.code).toBe(2);
  }, 60_000);

  test("a plain-HTTP loopback registry is reached by the fallback; --plain-http goes there directly", async () => {
    for (const args of [[], ["--plain-http"]]) {
      const result = await runCli(["inspect", ...args, `${plain.host}/sample/app:1.0`]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(rootDigest);
    }
    // --plain-http against the HTTPS registry speaks HTTP to it: refused, exit 5, no internal error.
    const wrong = await runCli(["inspect", "--plain-http", "--retries", "0", `${secure.host}/tls/app:1.0`]);
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).not.toContain("internal error");
  }, 60_000);

  test("the library under Deno: inspect and copy against the TLS registry with certDir", async () => {
    const script = join(tmp, "deno_tls.ts");
    await writeFile(
      script,
      `import { copy, inspect } from ${JSON.stringify(join(root, "mod.ts"))};
const [host, plainHost, certDir] = Deno.args;
const copied = await copy(plainHost + "/sample/app:1.0", host + "/deno/app:1.0", { destination: { certDir } });
const back = await inspect(host + "/deno/app:1.0", { registry: { certDir } });
console.log(JSON.stringify({ runtime: "deno", copied: copied.digest, inspected: back.digest }));
`,
    );
    const out = await run(join(root, "node_modules/.bin/deno"), ["run", "-A", "--config", join(root, "deno.json"), script, secure.host, plain.host, caDir], {
      cwd: root,
      timeoutMs: 120_000,
    });
    expect(JSON.parse(out.stdout.trim().split("\n").at(-1)!)).toEqual({
      runtime: "deno",
      copied: rootDigest,
      inspected: rootDigest,
    });
  }, 120_000);

  test("skopeo reads the same TLS registry with --cert-dir", async () => {
    const out = await run("skopeo", ["inspect", "--raw", "--cert-dir", caDir, `docker://${secure.host}/tls/app:1.0`]);
    expect(JSON.parse(out.stdout).manifests.length).toBeGreaterThan(0);
  }, 60_000);
});
