/**
 * `ferry ls`, `ferry rm`, `ferry inspect` (per platform sizes, layers, layers shared; --config, --tree, --json),
 * the help of each verb (examples, location forms), other tools' flags and "did you mean", and the completion
 * scripts, as a user runs them against a real registry and OCI layouts. With FERRY_BIN set, the compiled binary.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { MemoryStore } from "../../lib/ends/memory.ts";
import { OciLayoutStore } from "../../lib/ends/oci_layout.ts";
import { MediaType } from "../../lib/oci/media_types.ts";
import { runCli } from "../helpers/cli.ts";
import { startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { pushSampleImage } from "../helpers/sample.ts";
import { run } from "../helpers/tools.ts";

let registry: TestRegistry;
let frozen: TestRegistry;
const work = mkdtempSync(join(tmpdir(), "ferry-verbs-cli-"));
const REPO = () => `${registry.host}/verbs/app`;

beforeAll(async () => {
  [registry, frozen] = await Promise.all([startRegistry(), startRegistry({ noDelete: true })]);
  for (const tag of ["1.0", "1.1", "2.0"]) await pushSampleImage(`${REPO()}:${tag}`, { seed: Number(tag[0]) });
  await pushSampleImage(`${frozen.host}/verbs/app:1.0`);
}, 60_000);
afterAll(async () => {
  await Promise.all([registry?.stop(), frozen?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

describe("ferry ls", () => {
  test("a registry repository: one tag a line; --json is skopeo list-tags's shape", async () => {
    const r = await runCli(["ls", REPO()]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout.trim().split("\n").sort()).toEqual(["1.0", "1.1", "2.0"]);
    const json = await runCli(["ls", "--json", `docker://${REPO()}`]);
    expect(JSON.parse(json.stdout)).toEqual({ Repository: REPO(), Tags: expect.arrayContaining(["1.0", "1.1", "2.0"]) });
    const alias = await runCli(["tags", REPO()]);
    expect(alias.stdout).toBe(r.stdout);
  }, 30_000);

  test("an OCI layout lists its tags; a tag on the repository is refused", async () => {
    const layout = join(work, "layout");
    for (const tag of ["a", "b"]) expect((await runCli(["copy", `${REPO()}:1.0`, `oci:${layout}:${tag}`])).code).toBe(0);
    const r = await runCli(["ls", `oci:${layout}`]);
    expect(r.stdout).toBe("a\nb\n");
    const bad = await runCli(["ls", `${REPO()}:1.0`]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ferry: Cannot list tags of ".*:1\.0": name a repository, without a tag or digest\n$/);
  }, 30_000);
});

describe("ferry rm", () => {
  test("a registry tag: the manifest is deleted, ls no longer has it, inspect finds nothing", async () => {
    await pushSampleImage(`${REPO()}:old`, { seed: 9 });
    const r = await runCli(["rm", `${REPO()}:old`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Deleted .*verbs\/app:old \(sha256:[0-9a-f]{64}\)\n$/);
    expect((await runCli(["ls", REPO()])).stdout.split("\n")).not.toContain("old");
    const gone = await runCli(["inspect", `${REPO()}:old`]);
    expect(gone.code).toBe(3); // NotFound
  }, 30_000);

  test("a registry that does not allow deletes → one line saying so, exit 5", async () => {
    const r = await runCli(["rm", `${frozen.host}/verbs/app:1.0`]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^ferry: .*Cannot delete manifest .*: 127\.0\.0\.1:\d+ does not allow deletes \(405 Method Not Allowed\)\n$/);
    expect((await runCli(["inspect", `${frozen.host}/verbs/app:1.0`])).code).toBe(0);
  }, 30_000);

  test("an OCI layout: the tag leaves index.json, the other stays; an unknown tag → exit 3", async () => {
    const layout = join(work, "rm-layout");
    for (const tag of ["keep", "drop"]) expect((await runCli(["copy", `${REPO()}:1.0`, `oci:${layout}:${tag}`])).code).toBe(0);
    const r = await runCli(["rm", `oci:${layout}:drop`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Untagged oci:.*rm-layout:drop \(sha256:/);
    expect((await runCli(["ls", `oci:${layout}`])).stdout).toBe("keep\n");
    const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8"));
    expect(index.manifests).toHaveLength(1);
    const again = await runCli(["rm", `oci:${layout}:drop`]);
    expect(again.code).toBe(3);
    expect(again.stderr.trim().split("\n")).toHaveLength(1);
  }, 30_000);

  test("a repository without tag or digest is refused", async () => {
    const r = await runCli(["rm", REPO()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("name a tag or digest");
  });
});

describe("ferry inspect", () => {
  test("per platform: manifest digest, compressed size, layers, layers shared with the other platforms", async () => {
    const r = await runCli(["inspect", "--json", `${REPO()}:1.0`]);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.manifests.map((m: { platform: string }) => m.platform)).toEqual(["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
    for (const m of result.manifests) {
      expect(m).toMatchObject({ layers: 2, sharedLayers: 1 }); // the sample's base layer is every platform's
      expect(m.compressedSize).toBe(m.configDescriptor.size + m.layerDescriptors.reduce((n: number, l: { size: number }) => n + l.size, 0));
    }
    const text = await runCli(["inspect", `${REPO()}:1.0`]);
    expect(text.stdout).toMatch(/PLATFORM +DIGEST +SIZE +LAYERS +SHARED/);
    expect(text.stdout).toMatch(/linux\/arm64\/v8 +sha256:[0-9a-f]{64} +[\d.]+ KiB +2 +1\n/);
  }, 30_000);

  test("--tree draws index → manifests → config and layers; --config shows each image config", async () => {
    const tree = await runCli(["inspect", "--tree", `${REPO()}:1.0`]);
    const lines = tree.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/ index sha256:[0-9a-f]{64} {2}\d+ B$/);
    expect(lines.filter((l) => /^[├└]── linux\/\S+ {2}manifest sha256:/.test(l))).toHaveLength(3);
    expect(lines.filter((l) => /^[│ ] {3}[├└]── config +sha256:/.test(l))).toHaveLength(3);
    expect(lines.filter((l) => /^[│ ] {3}[├└]── layer \d +sha256:/.test(l))).toHaveLength(6);
    const config = await runCli(["inspect", "--config", "--json", `${REPO()}:1.0`]);
    const [amd64] = JSON.parse(config.stdout).manifests;
    expect(amd64.imageConfig).toMatchObject({ created: expect.any(String), cmd: ["cat", "/platform.txt"] });
    const text = await runCli(["inspect", "--config", `${REPO()}:1.0`]);
    expect(text.stdout).toContain('  cmd         ["cat","/platform.txt"]');
  }, 30_000);

  test("Windows: os.version in the platform column and in the config", async () => {
    const store = new MemoryStore();
    const enc = new TextEncoder();
    const config = store.put(
      enc.encode(JSON.stringify({
        os: "windows",
        architecture: "amd64",
        "os.version": "10.0.17763.1",
        config: { Entrypoint: ["cmd.exe"], Labels: { team: "win" } },
        rootfs: { type: "layers", diff_ids: [] },
      })),
      MediaType.OciConfig,
    );
    const layer = store.put(enc.encode("layer"), MediaType.OciLayerGzip);
    const manifest = store.put(
      enc.encode(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: [layer] })),
      MediaType.OciManifest,
    );
    const index = store.put(
      enc.encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [{ ...manifest, platform: { os: "windows", architecture: "amd64", "os.version": "10.0.17763.1" } }],
      })),
      MediaType.OciIndex,
    );
    const dir = join(work, "windows");
    const layout = await OciLayoutStore.open(dir, { create: true });
    await copyGraph(store, layout, index);
    await layout.tag(index, "1.0");
    await layout.close();
    const r = await runCli(["inspect", "--config", `oci:${dir}:1.0`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/windows\(10\.0\.17763\.1\)\/amd64 +sha256:/);
    expect(r.stdout).toContain("  os.version  10.0.17763.1");
    expect(r.stdout).toContain('  entrypoint  ["cmd.exe"]');
    expect(r.stdout).toContain("  labels      team=win");
  }, 30_000);
});

describe("help, other tools' flags, did you mean", () => {
  test("each verb's --help has 2-3 examples; the image verbs list the location forms", async () => {
    for (const verb of ["copy", "export", "import", "inspect", "mirror", "ls", "rm", "split", "login", "completion"]) {
      const help = await runCli([verb, "--help"]);
      expect(help.code).toBe(0);
      const examples = help.stdout.split("examples:\n")[1]?.split("\n\n")[0].split("\n") ?? [];
      expect(examples.length, verb).toBeGreaterThanOrEqual(2);
      expect(examples.length, verb).toBeLessThanOrEqual(3);
      if (["copy", "export", "import", "inspect", "mirror", "ls", "rm"].includes(verb)) {
        for (const form of ["docker://", "oci:", "oci-archive:", "docker-archive:", "docker-daemon:"]) {
          expect(help.stdout, `${verb} ${form}`).toContain(form);
        }
      }
    }
  }, 60_000);

  test("skopeo's --all, --preserve-digests, --retry-times are understood; -a/--all-tags on copy get a hint", async () => {
    const ok = await runCli(["copy", "--all", "--preserve-digests", "--retry-times", "2", `${REPO()}:1.0`, `${REPO()}:compat`]);
    expect(ok.code).toBe(0);
    expect((await runCli(["copy", "--help"])).stdout).toMatch(/also understood[^]*--preserve-digests[^]*--retry-times N/);
    const a = await runCli(["copy", "-a", `${REPO()}:1.0`, `${REPO()}:x`]);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("ferry mirror --all-tags");
    const tags = await runCli(["mirror", "-a", "--dry-run", "-d", `${registry.host}/m`, REPO()]);
    expect(tags.code).toBe(0); // -a is --all-tags for mirror, as for crane copy
    expect(tags.stdout).toContain("verbs/app:2.0");
    const noDigests = await runCli(["copy", "--preserve-digests=false", `${REPO()}:1.0`, `${REPO()}:x`]);
    expect(noDigests.stderr).toContain("ferry always preserves digests");
  }, 60_000);

  test("an unknown flag gets 'did you mean'; TLS-style flags are not rewritten into something else", async () => {
    const r = await runCli(["copy", "--platfrom", "linux/amd64", "a", "b"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "ferry: Cannot parse arguments: Unknown option '--platfrom'; did you mean --platform? (see 'ferry copy --help')\n",
    );
    const tls = await runCli(["copy", "--dest-tls-verify=false", "a", "b"]);
    expect(tls.stderr).not.toMatch(/did you mean --(?!dest-tls-verify)/);
  });
});

describe("ferry completion", () => {
  test("bash: commands, a command's flags, the values of --progress", async () => {
    const script = join(work, "ferry.bash");
    const out = await runCli(["completion", "bash"]);
    expect(out.code).toBe(0);
    writeFileSync(script, out.stdout);
    const complete = async (words: string[]) => {
      const r = await run("bash", [
        "-c",
        `source ${script}; COMP_WORDS=(${words.map((w) => `"${w}"`).join(" ")}); COMP_CWORD=${words.length - 1}; _ferry; ` +
        'printf "%s\\n" "${COMPREPLY[@]}"',
      ]);
      return r.stdout.trim().split("\n");
    };
    expect(await complete(["ferry", "c"])).toEqual(expect.arrayContaining(["copy", "completion"]));
    expect(await complete(["ferry", "copy", "--pla"])).toEqual(["--platform", "--plain-http"]);
    expect(await complete(["ferry", "cp", "--progress", ""])).toEqual(["auto", "tty", "plain", "json", "none"]);
    expect(await complete(["ferry", "ls", "--j"])).toEqual(["--json"]);
  });

  test("zsh and fish scripts name every command and flag; an unknown shell → exit 2", async () => {
    const zsh = (await runCli(["completion", "zsh"])).stdout;
    expect(zsh).toStartWith("#compdef ferry\n");
    const fish = (await runCli(["completion", "fish"])).stdout;
    for (const verb of ["copy", "export", "ls", "rm", "completion"]) {
      expect(zsh).toContain(`'${verb}:`);
      expect(fish).toContain(`-a '${verb}'`);
    }
    expect(fish).toContain("__fish_seen_subcommand_from copy cp' -l platform");
    expect(zsh).toContain("--progress[");
    const bad = await runCli(["completion", "tcsh"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("expected one of bash, zsh, fish");
  });
});

describe("ferry receipt", () => {
  test("a repository, --repository under a registry, a layout; a tampered receipt is refused by export --since", async () => {
    const out = join(work, "receipt.json");
    const r = await runCli(["receipt", "-o", out, REPO()]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Receipt of .* → .*receipt\.json: \d+ tags, \d+ manifests, \d+ blobs \(.*\), sha256:[0-9a-f]{64}\n$/);
    const doc = JSON.parse(readFileSync(out, "utf8"));
    expect(Object.keys(doc.tags)).toEqual(expect.arrayContaining([`${REPO()}:1.0`, `${REPO()}:2.0`]));
    // The same repository by --repository under the registry: the same content.
    const byFlag = await runCli(["receipt", "--repository", "verbs/app", registry.host]);
    expect(byFlag.code).toBe(0);
    const same = JSON.parse(byFlag.stdout);
    expect([same.tags, same.manifests, same.blobs]).toEqual([doc.tags, doc.manifests, doc.blobs]);
    // --check: every blob answers HEAD, so nothing is dropped.
    const checked = JSON.parse((await runCli(["receipt", "--check", REPO()])).stdout);
    expect(checked.blobs).toEqual(doc.blobs);
    writeFileSync(out, JSON.stringify({ ...doc, blobs: doc.blobs.slice(1) }));
    const bad = await runCli(["export", "--since", out, `${REPO()}:1.0`, "-o", join(work, "d.tar")]);
    expect(bad.code).toBe(6);
    expect(bad.stderr).toMatch(/^ferry: .*Cannot use receipt .*receipt\.json: its content hashes to sha256:/);
    const none = await runCli(["receipt"]);
    expect(none.code).toBe(2);
  }, 60_000);
});
