/**
 * The CLI as a user meets it: argv → exit code and one line on stderr (ggcr's TestBadInputs idea), against the
 * real registry, one with htpasswd auth, and a fault-injecting proxy in front of the real registry.
 * With FERRY_BIN set, the same table runs against the compiled binary.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { type FaultyProxy, startFaultyProxy } from "../helpers/faulty.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run } from "../helpers/tools.ts";
import packageJson from "../../package.json" with { type: "json" };

let registry: TestRegistry;
let secured: TestRegistry;
let proxy: FaultyProxy;
let tmp: string;
let corruptDigest: string;

beforeAll(async () => {
  [registry, secured] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: { username: "ferry", password: "s3cret-pass" } }),
  ]);
  tmp = await mkdtemp(join(tmpdir(), "ferry-cli-"));
  const sample = await pushSampleImage(`${registry.host}/sample/app:1.0`);
  // The amd64 image's own layer (last layer) is the one the proxy corrupts.
  const amd64 = sample.manifests.find((m) => m.platform?.architecture === "amd64")!;
  const manifest = JSON.parse(new TextDecoder().decode(sample.store.get(amd64.digest)!));
  corruptDigest = manifest.layers.at(-1).digest;
  proxy = await startFaultyProxy(registry.host, [{ kind: "corrupt", digest: corruptDigest }]);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([registry?.stop(), secured?.stop()]);
  await rm(tmp, { recursive: true, force: true });
});

interface Row {
  name: string;
  args: () => string[];
  code: number;
  stderr: RegExp;
}

const rows: Row[] = [
  { name: "unknown command", args: () => ["frobnicate"], code: 2, stderr: /unknown command/ },
  { name: "misspelt command gets a suggestion", args: () => ["copi", "a", "b"], code: 2, stderr: /did you mean "copy"/ },
  { name: "unknown flag", args: () => ["copy", "--bogus", "a", "b"], code: 2, stderr: /Unknown option '--bogus'/ },
  { name: "missing argument", args: () => ["copy", "onlyone"], code: 2, stderr: /expected SRC and DST/ },
  { name: "bad reference", args: () => ["copy", "Bad//Ref", "oci:x"], code: 2, stderr: /Cannot parse reference/ },
  { name: "bad platform", args: () => ["copy", "--platform", "linux/", "a", "oci:x"], code: 2, stderr: /platform/ },
  { name: "bad --jobs", args: () => ["copy", "--jobs", "0", "a", "oci:x"], code: 2, stderr: /--jobs/ },
  { name: "unsupported transport", args: () => ["copy", "dir:/tmp/x", "oci:x"], code: 2, stderr: /transport/ },
  {
    name: "unknown host",
    args: () => ["inspect", "ferry-test.invalid/app:1.0"],
    code: 5,
    stderr: /ferry-test\.invalid/,
  },
  {
    name: "connection refused",
    args: () => ["inspect", "127.0.0.1:9/app:1.0"],
    code: 5,
    stderr: /Cannot reach 127\.0\.0\.1:9/,
  },
  {
    name: "404 manifest",
    args: () => ["copy", `${registry.host}/sample/app:nope`, `oci:${tmp}/nope`],
    code: 3,
    stderr: /MANIFEST_UNKNOWN/,
  },
  {
    name: "platform not in the index",
    args: () => ["copy", "--platform", "s390x", `${registry.host}/sample/app:1.0`, `oci:${tmp}/s390x`],
    code: 3,
    stderr: /linux\/s390x.*linux\/amd64/,
  },
  {
    name: "401 without credentials",
    args: () => ["inspect", `${secured.host}/sample/app:1.0`],
    code: 4,
    stderr: /UNAUTHORIZED|authenticat/i,
  },
  {
    name: "401 with wrong credentials, password never printed",
    args: () => ["copy", "--dest-creds", "ferry:wrong-pass-123", `${registry.host}/sample/app:1.0`, `${secured.host}/x/app:1.0`],
    code: 4,
    stderr: /^(?!.*wrong-pass-123).*authenticat/i,
  },
  {
    name: "blob whose bytes do not match its digest",
    args: () => ["copy", `${proxy.host}/sample/app:1.0`, `${registry.host}/corrupt/app:1.0`],
    code: 6,
    stderr: /Cannot verify blob: expected digest sha256:/,
  },
];

describe("ferry CLI: bad inputs → exit code and one line", () => {
  for (const row of rows) {
    test(row.name, async () => {
      const result = await runCli(row.args());
      expect({ code: result.code, stderr: result.stderr }).toMatchObject({ code: row.code });
      // --creds on the command line is warned about (as docker does for login -p); the error is one line.
      const lines = result.stderr.trimEnd().split("\n").filter((l) => !l.startsWith("WARNING! Using --"));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toStartWith("ferry: ");
      expect(lines[0]).toMatch(row.stderr);
    }, 60_000);
  }

  test("the corrupted copy left nothing tagged at the destination", async () => {
    const tags = await run("skopeo", ["list-tags", "--tls-verify=false", `docker://${registry.host}/corrupt/app`], {
      allowFailure: true,
    });
    expect(tags.stdout).not.toContain("1.0");
  }, 30_000);

  test("failed copies left no OCI layout behind", async () => {
    expect(await readdir(tmp)).toEqual([]);
  });
});

describe("ferry CLI: working commands", () => {
  test("--help and --version", async () => {
    const help = await runCli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("copy");
    const version = await runCli(["--version"]);
    expect(version.stdout.trim()).toBe(`ferry ${packageJson.version}`); // the compiled binary too (test.sh)
  });

  test("copy with credentials to the htpasswd registry, then inspect --json", async () => {
    const copied = await runCli([
      "copy",
      "--dest-creds",
      "ferry:s3cret-pass",
      "--json",
      `${registry.host}/sample/app:1.0`,
      `${secured.host}/team/app:1.0`,
    ]);
    expect(copied.stderr).toMatch(/^WARNING! Using --dest-creds via the CLI is insecure\. .*\n$/);
    expect(copied.code).toBe(0);
    const result = JSON.parse(copied.stdout);
    expect(result.platforms).toEqual(["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
    const inspected = await runCli(["inspect", "--json", "--creds", "ferry:s3cret-pass", `${secured.host}/team/app:1.0`]);
    expect(inspected.code).toBe(0);
    expect(JSON.parse(inspected.stdout).digest).toBe(result.digest);
  }, 60_000);

  test("inspect --raw prints the exact manifest bytes: `ferry inspect --raw REF | sha256sum` is the digest", async () => {
    const ref = `${registry.host}/sample/app:1.0`;
    const index = JSON.parse((await runCli(["inspect", "--json", ref])).stdout);
    const child = index.manifests[0].digest;
    for (const [target, digest] of [[ref, index.digest], [`${registry.host}/sample/app@${child}`, child]]) {
      // Through a real pipe into sha256sum, as a script would.
      const bin = process.env.FERRY_BIN;
      const ferry = bin ? [bin] : [process.execPath, join(import.meta.dir, "../../cli.ts")];
      const piped = await run("sh", ["-c", '"$@" | sha256sum', "sh", ...ferry, "inspect", "--raw", target]);
      expect(piped.stdout.split(" ")[0]).toBe(digest.replace("sha256:", ""));
    }
  }, 60_000);
});
