/**
 * `ferry mirror plan | run | merge` from the command line (source, and the compiled binary with FERRY_BIN): the
 * Indexed Job form (`--shard-from-env` with JOB_COMPLETION_INDEX), the files between the steps, the usage errors.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";

const USER = "shard-bot";
const PASS = "s3cret-Shard-Xy7";
let src: TestRegistry;
let dst: TestRegistry;
let tmp: string;
let env: Record<string, string>;

beforeAll(async () => {
  [src, dst] = await Promise.all([startRegistry(), startRegistry({ htpasswd: { username: USER, password: PASS } })]);
  tmp = await mkdtemp(join(tmpdir(), "ferry-mirror-plan-cli-"));
  env = { DOCKER_CONFIG: join(tmp, "docker"), REGISTRY_AUTH_FILE: "", JOB_COMPLETION_INDEX: "" };
  for (const [name, seed] of [["a/one", 31], ["b/two", 32], ["c/three", 33], ["d/four", 34]] as const) {
    await pushSampleImage(`${src.host}/${name}:1.0`, { seed, platforms: ["linux/amd64", "linux/arm64/v8"] });
  }
}, 60_000);
afterAll(async () => {
  await Promise.all([src?.stop(), dst?.stop()]);
  await rm(tmp, { recursive: true, force: true });
});

const ferry = (args: string[], extra: Record<string, string> = {}) => runCli(args, { env: { ...env, ...extra } });
const creds = ["--dest-creds", `${USER}:${PASS}`];
const file = (name: string) => join(tmp, name);
const images = () => ["a/one", "b/two", "c/three", "d/four"].map((n) => `${src.host}/${n}:1.0`);

describe("ferry mirror plan / run / merge", () => {
  test("plan -o, then run as an Indexed Job's two pods (--shard-from-env), then merge: exit 0, all copied once", async () => {
    const plan = await ferry(["mirror", "plan", "-d", `${dst.host}/job`, "--platform", "linux/arm64", ...images(), ...creds, "-o", file("plan.json")]);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain("Plan for");
    expect(plan.stdout).toContain("4 to copy, 0 already present, 0 failed; the copy will make 8 manifest requests");
    const doc = JSON.parse(await readFile(file("plan.json"), "utf8"));
    expect(doc.items.map((i: { platformFilter: string[]; platforms: string[] }) => [i.platformFilter, i.platforms])).toEqual(
      Array(4).fill([["linux/arm64"], ["linux/arm64/v8"]]),
    );
    for (const k of ["0", "1"]) {
      const run = await ferry(["mirror", "run", "--plan", file("plan.json"), "--shard-from-env", "--shards", "2", "--keep-going", ...creds, "-o", file(`r${k}.json`)], {
        JOB_COMPLETION_INDEX: k,
      });
      // Only the warning --dest-creds on the command line prints (asserted in mirror_cli_test.ts).
      expect(run.stderr).toMatch(/^(WARNING! Using --dest-creds via the CLI is insecure\. .*\n)?$/);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(`(shard ${k}/2)`);
      expect(run.stdout).not.toContain(PASS);
    }
    const merged = await ferry(["mirror", "merge", file("r0.json"), file("r1.json"), "--json"]);
    expect(merged.code).toBe(0);
    expect(JSON.parse(merged.stdout)).toMatchObject({ copied: 4, failed: 0, shards: 2, merged: [0, 1], missing: [] });
    // The narrowed index (arm64 only) is what landed, at the plan's digest.
    const again = await ferry(["mirror", "run", "--plan", file("plan.json"), ...creds, "--json"]);
    expect(JSON.parse(again.stdout)).toMatchObject({ present: 4, copied: 0, shard: { index: 0, count: 1 } });
  }, 60_000);

  test("plan --shard K/N plans only that shard's images; the shards' plans together are the whole plan", async () => {
    const whole = JSON.parse((await ferry(["mirror", "plan", "-d", `${dst.host}/part`, ...images(), ...creds, "--json"])).stdout);
    const parts = [];
    for (const k of [0, 1, 2]) {
      const r = await ferry(["mirror", "plan", "-d", `${dst.host}/part`, ...images(), ...creds, "--json", "--shard", `${k}/3`]);
      expect(r.code).toBe(0);
      const p = JSON.parse(r.stdout);
      expect(p.shard).toEqual({ index: k, count: 3 });
      parts.push(...p.items);
    }
    const key = (i: { target: string }) => i.target;
    expect(parts.map(key).sort()).toEqual(whole.items.map(key).sort());
  }, 60_000);

  const usage: [string, string[], Record<string, string>, number, string][] = [
    ["run without --plan", ["mirror", "run", "--shard", "0/2"], {}, 2, "Cannot run a mirror plan: give --plan FILE"],
    ["a missing plan file", ["mirror", "run", "--plan", "/nonexistent/plan.json"], {}, 8, "Cannot read /nonexistent/plan.json"],
    ["--shard-from-env without --shards", ["mirror", "run", "--plan", "p.json", "--shard-from-env"], { JOB_COMPLETION_INDEX: "1" }, 2, "give the number of shards with --shards N"],
    ["--shard-from-env outside a Job", ["mirror", "run", "--plan", "PLAN", "--shard-from-env", "--shards", "4"], {}, 2, "JOB_COMPLETION_INDEX is not set"],
    ["an index past the shards", ["mirror", "run", "--plan", "PLAN", "--shard-from-env", "--shards", "4"], { JOB_COMPLETION_INDEX: "4" }, 2, 'Cannot parse JOB_COMPLETION_INDEX with --shards "4/4"'],
    ["a bad --shard", ["mirror", "run", "--plan", "PLAN", "--shard", "2"], {}, 2, 'Cannot parse --shard "2": expected K/N'],
    ["--shard and --shard-from-env", ["mirror", "run", "--plan", "PLAN", "--shard", "0/2", "--shard-from-env"], {}, 2, "not both"],
    ["--shard on a bare mirror", ["mirror", "-d", "127.0.0.1:1/x", "--shard", "0/2", "alpine"], {}, 2, "Cannot use --shard with 'ferry mirror'"],
    ["--keep-going with merge", ["mirror", "merge", "--keep-going", "r.json"], {}, 2, "Cannot use --keep-going with 'ferry mirror merge'"],
    ["--dry-run with plan", ["mirror", "plan", "--dry-run", "-d", "127.0.0.1:1/x", "alpine"], {}, 2, "Cannot use --dry-run with 'ferry mirror plan'"],
    ["merge without files", ["mirror", "merge"], {}, 2, "Cannot merge: give the shards' result files"],
    ["images given to run", ["mirror", "run", "--plan", "PLAN", "alpine"], {}, 2, 'unexpected "alpine"'],
  ];
  for (const [what, args, extra, code, message] of usage) {
    test(`${what}: exit ${code}`, async () => {
      await writeFile(file("tiny.json"), JSON.stringify({ version: 1, target: `${dst.host}/x`, items: [] }));
      const r = await ferry(args.map((a) => (a === "PLAN" ? file("tiny.json") : a)), extra);
      expect(r.stderr).toContain(message);
      expect(r.code).toBe(code);
    });
  }

  test("a hostile plan is refused before any request, naming the field (exit 8)", async () => {
    const plan = JSON.parse(await readFile(file("plan.json"), "utf8"));
    plan.items[1].target = "evil.example.com/elsewhere:1.0";
    await writeFile(file("hostile.json"), JSON.stringify(plan));
    const r = await ferry(["mirror", "run", "--plan", file("hostile.json")]);
    expect(r.code).toBe(8);
    expect(r.stderr).toContain(`Cannot read ${file("hostile.json")}: items[1].target: not under the plan's target ${dst.host}/job`);
  });

  test("help lists the three subcommands", async () => {
    const r = await ferry(["mirror", "--help"]);
    expect(r.stdout).toContain("ferry mirror plan (-c mirror.yaml | -d PREFIX IMAGE...)");
    expect(r.stdout).toContain("ferry mirror run --plan plan.json (--shard K/N | --shard-from-env --shards N)");
    expect(r.stdout).toContain("ferry mirror merge RESULT.json... [--plan plan.json] [--retry retry.json]");
  });
});
