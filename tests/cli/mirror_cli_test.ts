import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { Buffer } from "node:buffer";
import { type CliRun, runCli } from "../helpers/cli.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";

const USER = "robot";
const PASS = "hunter2-secret-Zq9";
let src: TestRegistry;
let dst: TestRegistry;
let tmp: string;
let env: Record<string, string>;

beforeAll(async () => {
  [src, dst] = await Promise.all([startRegistry(), startRegistry({ htpasswd: { username: USER, password: PASS } })]);
  tmp = await mkdtemp(join(tmpdir(), "ferry-mirror-cli-"));
  // An empty docker config of our own, so the user's never leaks in (or gets written).
  env = { DOCKER_CONFIG: join(tmp, "docker"), REGISTRY_AUTH_FILE: "" };
  await pushSampleImage(`${src.host}/apps/one:1.0`, { seed: 11 });
  await pushSampleImage(`${src.host}/apps/two:1.0`, { seed: 12 });
  await pushSampleImage(`${src.host}/apps/two:2.0`, { seed: 13 });
  await pushSampleImage(`${src.host}/apps/mixed:1.0`, { seed: 14, platforms: ["linux/amd64", "windows/amd64", "linux/arm64/v8"] });
}, 60_000);
afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()]);
  await rm(tmp, { recursive: true, force: true });
});

const ferry = (args: string[]) => runCli(args, { env });
const creds = ["--dest-creds", `${USER}:${PASS}`];

/** `ferry ARGS...` with `input` on stdin (runCli has no stdin). */
function ferryWithStdin(args: string[], input: string): Promise<CliRun> {
  const bin = process.env.FERRY_BIN;
  const [cmd, argv] = bin ? [bin, args] : [process.execPath, [join(import.meta.dir, "..", "..", "cli.ts"), ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

function noSecret(run: CliRun) {
  expect(run.stdout).not.toContain(PASS);
  expect(run.stderr).not.toContain(PASS);
}

describe("ferry mirror", () => {
  test("-d PREFIX IMAGE...: copies, then a rerun finds everything present (--json)", async () => {
    const first = await ferry(["mirror", "-d", `${dst.host}/cli`, `${src.host}/apps/one:1.0`, `${src.host}/apps/two:1.0`, ...creds]);
    expect(first.stderr).toMatch(/^WARNING! Using --dest-creds via the CLI is insecure\. .*\n$/); // and nothing else
    expect(first.code).toBe(0);
    noSecret(first);
    expect(first.stdout).toContain(`copied   ${src.host}/apps/one:1.0 → ${dst.host}/cli/apps/one:1.0  sha256:`);
    expect(first.stdout).toContain("Mirrored to");
    expect(first.stdout).toContain("2 copied, 0 already present, 0 failed");
    const again = await ferry(["mirror", "-d", `${dst.host}/cli`, `${src.host}/apps/one:1.0`, ...creds, "--json"]);
    expect(again.code).toBe(0);
    const summary = JSON.parse(again.stdout);
    expect(summary).toMatchObject({ target: `${dst.host}/cli`, copied: 0, present: 1, failed: 0, bytes: 0, manifestRequests: 0 });
    expect(summary.images[0]).toMatchObject({ source: `${src.host}/apps/one:1.0`, target: `${dst.host}/cli/apps/one:1.0`, status: "present" });
    noSecret(again);
  }, 60_000);

  test("--all-tags with filters, --dry-run plans with the number of manifest requests", async () => {
    const plan = await ferry(["mirror", "-d", `${dst.host}/cli`, "--all-tags", "--deny", "^1", `${src.host}/apps/two`, ...creds, "--dry-run"]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/planned +.*apps\/two:2\.0 → .*\/cli\/apps\/two:2\.0 .* 4 manifest requests/);
    expect(plan.stdout).toContain("1 to copy, 0 already present, 0 failed; the copy will make 4 manifest requests");
    const done = await ferry(["mirror", "-d", `${dst.host}/cli`, "--all-tags", "--deny", "^1", `${src.host}/apps/two`, ...creds]);
    expect(done.code).toBe(0);
    expect(done.stdout).toContain("1 copied, 0 already present, 0 failed");
    expect(done.stdout).toContain("4 manifest requests");
  }, 60_000);

  test("--keep-going: exit 9, the summary names the missing image, the others land", async () => {
    const run = await ferry([
      "mirror", "-d", `${dst.host}/kg`, `${src.host}/apps/nope:1.0`, `${src.host}/apps/one:1.0`, ...creds, "--keep-going",
    ]);
    expect(run.code).toBe(9);
    expect(run.stderr).toContain(`ferry: Cannot mirror 1 of 2 images: ${src.host}/apps/nope:1.0`);
    expect(run.stdout).toContain(`failed   ${src.host}/apps/nope:1.0: Cannot find manifest 1.0`);
    expect(run.stdout).toContain(`1 copied, 0 already present, 1 failed (${src.host}/apps/nope:1.0)`);
    const json = await ferry(["mirror", "-d", `${dst.host}/kg`, `${src.host}/apps/nope:1.0`, `${src.host}/apps/one:1.0`, ...creds, "--keep-going", "--json"]);
    expect(json.code).toBe(9);
    expect(JSON.parse(json.stdout)).toMatchObject({ present: 1, failed: 1 });
    const strict = await ferry(["mirror", "-d", `${dst.host}/kg`, `${src.host}/apps/nope:1.0`, ...creds]);
    expect(strict.code).toBe(3);
  }, 60_000);

  test("without --keep-going: the failure's exit code, the rest reported skipped, --json prints its summary too", async () => {
    const args = ["mirror", "-d", `${dst.host}/strict`, "--parallel", "1", `${src.host}/apps/nope:1.0`, `${src.host}/apps/one:1.0`, ...creds];
    const text = await ferry(args);
    expect(text.code).toBe(3);
    expect(withoutCredsWarning(text.stderr)).toBe(`ferry: ${src.host}/apps/nope:1.0: Cannot find manifest 1.0\n`);
    expect(text.stdout).toContain(`failed   ${src.host}/apps/nope:1.0: Cannot find manifest 1.0`);
    expect(text.stdout).toContain(`skipped  ${src.host}/apps/one:1.0 → ${dst.host}/strict/apps/one:1.0  not attempted`);
    expect(text.stdout).not.toContain(`${src.host}/apps/one:1.0: Cannot find manifest`);
    expect(text.stdout).toContain(`0 copied, 0 already present, 1 failed (${src.host}/apps/nope:1.0), 1 skipped`);
    const json = await ferry([...args, "--json"]);
    expect(json.code).toBe(3);
    const summary = JSON.parse(json.stdout);
    expect(summary).toMatchObject({ copied: 0, present: 0, failed: 1, skipped: 1 });
    expect(summary.images).toMatchObject([
      { source: `${src.host}/apps/nope:1.0`, status: "failed", error: "Cannot find manifest 1.0" },
      { source: `${src.host}/apps/one:1.0`, status: "skipped" },
    ]);
    expect(summary.images[1].error).toBeUndefined();
  }, 60_000);

  test("--os linux, --platform 'linux/*' and platforms: [linux/*] in mirror.yaml keep only the Linux images", async () => {
    const image = `${src.host}/apps/mixed:1.0`;
    const byOs = await ferry(["mirror", "-d", `${dst.host}/os`, "--os", "linux", image, ...creds, "--json"]);
    expect(withoutCredsWarning(byOs.stderr)).toBe("");
    expect(byOs.code).toBe(0);
    const first = JSON.parse(byOs.stdout).images[0];
    expect(first).toMatchObject({ status: "copied", platforms: ["linux/amd64", "linux/arm64/v8"] });
    // The same filter spelled as a wildcard, on the command line and in the file: the same index, already there.
    const byWildcard = await ferry(["mirror", "-d", `${dst.host}/os`, "--platform", "linux/*", image, ...creds, "--json"]);
    expect(JSON.parse(byWildcard.stdout).images[0]).toMatchObject({ status: "present", digest: first.digest });
    const yaml = join(tmp, "os.yaml");
    await writeFile(yaml, `target: ${dst.host}/os\nplatforms: [linux/*]\nsources:\n  - image: ${image}\n`);
    const byFile = await ferry(["mirror", "-c", yaml, ...creds, "--json"]);
    expect(JSON.parse(byFile.stdout).images[0]).toMatchObject({ status: "present", digest: first.digest });
    // Any OS, one architecture.
    const arm = await ferry(["mirror", "-d", `${dst.host}/arch`, "--platform", "*/amd64", image, ...creds, "--json"]);
    expect(JSON.parse(arm.stdout).images[0].platforms).toEqual(["linux/amd64", "windows/amd64"]);
    const both = await ferry(["mirror", "-d", `${dst.host}/os`, "--os", "linux", "--platform", "arm64", image]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--os linux is --platform 'linux/*'");
    const notOs = await ferry(["mirror", "-d", `${dst.host}/os`, "--os", "linux/amd64", image]);
    expect(notOs.code).toBe(2);
    expect(notOs.stderr).toContain(`Cannot use --os "linux/amd64": expected an OS like linux or windows`);
  }, 60_000);

  test("-c mirror.yaml; unknown keys and bad flags are usage errors", async () => {
    const good = join(tmp, "mirror.yaml");
    await writeFile(good, `target: ${dst.host}/yaml\nconcurrency: 2\nsources:\n  - repository: ${src.host}/apps/two\n    tags: { allow: ['^2'] }\n    platforms: [linux/arm64]\n`);
    const ok = await ferry(["mirror", "-c", good, ...creds, "--json"]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).images).toMatchObject([{ status: "copied", platforms: ["linux/arm64/v8"], target: `${dst.host}/yaml/apps/two:2.0` }]);
    const bad = join(tmp, "bad.yaml");
    await writeFile(bad, `target: ${dst.host}/yaml\nsources:\n  - image: a\n    tag: [x]\n`);
    const typo = await ferry(["mirror", "-c", bad]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain(`ferry: Cannot read ${bad}: sources[0]: unknown key "tag"`);
    expect((await ferry(["mirror", `${src.host}/apps/one:1.0`])).code).toBe(2);
    expect((await ferry(["mirror", "-d", "nohost", `${src.host}/apps/one:1.0`])).stderr).toContain("must start with a registry host");
    expect((await ferry(["mirror", "-c", join(tmp, "missing.yaml")])).code).toBe(8);
  }, 60_000);

  test("a wrong password: exit 4, and the secret appears nowhere", async () => {
    const run = await ferry(["mirror", "-d", `${dst.host}/x`, `${src.host}/apps/one:1.0`, "--dest-creds", `${USER}:wrong-${PASS}`, "--json"]);
    expect(run.code).toBe(4);
    noSecret(run);
  }, 60_000);
});

describe("ferry login / logout", () => {
  test("login with --password-stdin writes config.json; mirror then needs no flags; logout removes it", async () => {
    const bad = await ferryWithStdin(["login", "-u", USER, "--password-stdin", dst.host], "wrong-password-123\n");
    expect(bad.code).toBe(4);
    expect(`${bad.stdout}${bad.stderr}`).not.toContain("wrong-password-123");

    const login = await ferryWithStdin(["login", "-u", USER, "--password-stdin", dst.host], `${PASS}\n`);
    expect(login.code).toBe(0);
    expect(login.stdout).toContain(`Login Succeeded (${dst.host}; credentials stored in ${join(tmp, "docker", "config.json")})`);
    noSecret(login);
    const config = JSON.parse(await readFile(join(tmp, "docker", "config.json"), "utf8"));
    expect(Buffer.from(config.auths[dst.host].auth, "base64").toString()).toBe(`${USER}:${PASS}`);

    const mirrored = await ferry(["mirror", "-d", `${dst.host}/login`, `${src.host}/apps/one:1.0`]);
    expect(mirrored.code).toBe(0);

    const logout = await ferry(["logout", dst.host]);
    expect(logout).toMatchObject({ code: 0, stdout: `Removing login credentials for ${dst.host}\n` });
    expect((await ferry(["logout", dst.host])).stdout).toBe(`Not logged in to ${dst.host}\n`);
    expect((await ferry(["mirror", "-d", `${dst.host}/login2`, `${src.host}/apps/one:1.0`])).code).toBe(4);
  }, 60_000);

  test("login needs a username and a password source", async () => {
    expect((await ferry(["login", dst.host])).stderr).toContain("give the username with -u USER");
    expect((await ferry(["login", "-u", USER, dst.host])).stderr).toContain("--password-stdin");
    const insecure = await ferry(["login", "-u", USER, "-p", PASS, dst.host]);
    expect(insecure.code).toBe(0);
    expect(insecure.stderr).toContain("WARNING! Using --password via the CLI is insecure");
    noSecret(insecure);
    expect((await ferry(["logout", dst.host])).code).toBe(0);
  }, 60_000);
});

/** stderr without the one warning --dest-creds on the command line prints (asserted in its own test). */
function withoutCredsWarning(stderr: string): string {
  return stderr.replace(/^WARNING! Using --dest-creds via the CLI is insecure\. .*\n/, "");
}
