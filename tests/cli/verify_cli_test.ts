/**
 * `ferry verify` as a process (source or FERRY_BIN): a signed layout written here passes with its key and fails with
 * exit 10 once a blob is flipped; usage errors, unreadable and private keys, --trusted-root and docker-daemon: each
 * one line with its own exit code. No registry: nothing here may need the network.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { copyReferrers, discoverReferrers } from "../../lib/engine/referrers.ts";
import { OciLayoutStore } from "../../lib/ends/oci_layout.ts";
import { ExitCode } from "../../lib/errors.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import { addCosignSignature, generateSigningKey } from "../../lib/testing/referrers.ts";
import { runCli } from "../helpers/cli.ts";

let work: string;
const key = generateSigningKey("ed25519");
const sample = buildSampleImage({ platforms: ["linux/amd64", "linux/arm64/v8"] });
addCosignSignature(sample.store, sample.root, { reference: "example.com/app", key });

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "ferry-verify-cli-"));
  await writeFile(join(work, "cosign.pub"), key.publicPem);
  await writeFile(join(work, "cosign.key"), key.privateKey.export({ type: "pkcs8", format: "pem" }).toString());
  await writeFile(join(work, "junk.pub"), "not a key\n");
  const layout = await OciLayoutStore.open(join(work, "layout"), { create: true });
  await copyGraph(sample.store, layout, sample.root);
  await copyReferrers(sample.store, layout, await discoverReferrers(sample.store, sample.root));
  await layout.tag(sample.root, "1.0");
  await layout.close();
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe("ferry verify", () => {
  test("a signed layout passes with its key; a flipped byte fails with exit 10, naming image, platform and blob", async () => {
    const layout = join(work, "layout");
    const ok = await runCli(["verify", "--key", join(work, "cosign.pub"), layout]);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`oci:${layout}:1.0  ${sample.root.digest}  linux/amd64, linux/arm64/v8, 1 referrer, signed`);
    const manifest = JSON.parse(new TextDecoder().decode(sample.store.get(sample.manifests[0].digest)!));
    const layer = manifest.layers[0];
    const file = join(layout, "blobs", "sha256", layer.digest.slice(7));
    const bytes = await readFile(file);
    bytes[0] ^= 0xff;
    await writeFile(file, bytes);
    const bad = await runCli(["verify", "--key", join(work, "cosign.pub"), layout]);
    expect(bad.code).toBe(ExitCode.Verification);
    expect(bad.stderr).toStartWith(
      `ferry verify: oci:${layout}:1.0: linux/amd64 layer ${layer.digest}: content does not match its digest`,
    );
    expect(bad.stderr).toEndWith("ferry: Cannot verify 1 of 1 image: 1 problem\n"); // a shared layer: once per image
    expect(bad.stdout).toContain("checked: 1 problem");
    const json = await runCli(["verify", "--json", layout]);
    expect(json.code).toBe(ExitCode.Verification);
    const report = JSON.parse(json.stdout);
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject({ ref: `oci:${layout}:1.0`, kind: "digest", digest: layer.digest });
    bytes[0] ^= 0xff;
    await writeFile(file, bytes);
  });

  test("usage: no LOCATION (2), docker-daemon: (2), --trusted-root (7), a private key (7), junk (8), no file (3)", async () => {
    const layout = join(work, "layout");
    const cases: [string[], number, string][] = [
      [[], ExitCode.Usage, "ferry: Cannot verify: expected LOCATION..."],
      [["docker-daemon:app:1.0"], ExitCode.Usage, "ferry: Cannot verify docker-daemon:app:1.0: the Docker engine's"],
      [["--trusted-root", "trusted_root.json", layout], ExitCode.Unsupported, "ferry: Cannot verify against the trusted root"],
      [["--key", join(work, "cosign.key"), layout], ExitCode.Unsupported, "it is a private key; pass the public one"],
      [["--key", join(work, "junk.pub"), layout], ExitCode.Io, `Cannot read key ${join(work, "junk.pub")}: not a PEM`],
      [["--key", join(work, "none.pub"), layout], ExitCode.NotFound, `Cannot read key ${join(work, "none.pub")}`],
    ];
    for (const [args, code, message] of cases) {
      const run = await runCli(["verify", ...args]);
      expect(run.stderr).toContain(message);
      expect(run.code).toBe(code);
    }
  });

  test("--help names the flags", async () => {
    const help = await runCli(["verify", "--help"]);
    expect(help.code).toBe(0);
    for (const flag of ["--key FILE", "--platform", "--require-signature", "--json", "--trusted-root FILE"]) {
      expect(help.stdout).toContain(flag);
    }
  });
});
