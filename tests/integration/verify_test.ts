/**
 * End to end: `ferry verify` on a signed multi-arch image with an SBOM and an attestation (cosign's formats, keys made
 * here: ECDSA P-256, Ed25519, RSA), carried by ferry registry → OCI layout, OCI archive, export files → an air-gapped
 * registry. It passes on every good copy, offline for files (the source registry stopped, proxies pointed at a closed
 * port), and fails with exit 10, naming the image, on a tampered signature, a missing signature, a wrong key, a
 * corrupted blob, a manifest naming a missing blob and a missing expected platform.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { copyGraph } from "../../lib/engine/copy_graph.ts";
import { copyReferrers, discoverReferrers } from "../../lib/engine/referrers.ts";
import { openRegistryStore } from "../../lib/ends/registry.ts";
import { ExitCode } from "../../lib/errors.ts";
import { schemaTag } from "../../lib/oci/referrers.ts";
import { parseReference } from "../../lib/ref/reference.ts";
import { buildSampleImage, type SampleImage } from "../../lib/testing/sample_image.ts";
import {
  addCosignAttestation,
  addCosignSignature,
  addSpdxSbom,
  generateSigningKey,
  type MadeReferrer,
  type SigningKey,
} from "../../lib/testing/referrers.ts";
import { runCli } from "../helpers/cli.ts";
import { freePort, startRegistry, type TestRegistry } from "../helpers/registry.ts";

const PLATFORMS = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"];
const ecdsa = generateSigningKey();
const ed25519 = generateSigningKey("ed25519");
const rsa = generateSigningKey("rsa");
const wrong = generateSigningKey();
let source: TestRegistry;
let airgap: TestRegistry;
let work: string;
let good: SampleImage;
let sig: MadeReferrer;
const key = (name: string) => join(work, `${name}.pub`);
const ref = (repo: string) => `${source.host}/${repo}:1.0`;

/** Pushes `sample` and its referrers (as cosign and oras leave them at a registry without the referrers API). */
async function push(sample: SampleImage, repo: string): Promise<void> {
  const store = openRegistryStore(parseReference(ref(repo)));
  await copyGraph(sample.store, store, sample.root);
  await copyReferrers(sample.store, store, await discoverReferrers(sample.store, sample.root));
  await store.tag(sample.root, "1.0");
}

function signed(k: SigningKey, repo: string): { sample: SampleImage; sig: MadeReferrer } {
  const sample = buildSampleImage({ platforms: PLATFORMS });
  const made = addCosignSignature(sample.store, sample.root, { reference: `${source.host}/${repo}`, key: k });
  return { sample, sig: made };
}

async function verify(args: string[], env: Record<string, string> = {}) {
  return await runCli(["verify", ...args], { env, timeoutMs: 120_000 });
}

function expectGood(run: { code: number; stdout: string; stderr: string }) {
  expect(run.stderr).toBe("");
  expect(run.stdout).toContain("checked: all good");
  expect(run.code).toBe(0);
}

function expectFailed(run: { code: number; stdout: string; stderr: string }, image: string, problem: string) {
  expect(run.code).toBe(ExitCode.Verification);
  expect(run.stderr).toContain(`ferry verify: ${image}: ${problem}`);
  expect(run.stderr).toMatch(/ferry: Cannot verify \d+ of \d+ images?: \d+ problems?\n$/);
}

/** The layout's blob file of `digest`. */
const blobFile = (dir: string, digest: string) => join(dir, "blobs", "sha256", digest.slice(7));

beforeAll(async () => {
  [source, airgap] = await Promise.all([startRegistry(), startRegistry()]);
  work = await mkdtemp(join(tmpdir(), "ferry-verify-it-"));
  await writeFile(key("ecdsa"), ecdsa.publicPem);
  await writeFile(key("ed25519"), ed25519.publicPem);
  await writeFile(key("rsa"), rsa.publicPem);
  await writeFile(key("wrong"), wrong.publicPem);
  // The good image: a cosign signature and attestation of its index, an SPDX SBOM of its amd64 manifest.
  ({ sample: good, sig } = signed(ecdsa, "signed/app"));
  addCosignAttestation(good.store, good.root, { reference: `${source.host}/signed/app`, key: ecdsa });
  addSpdxSbom(good.store, good.manifests[0], { name: "app" });
  await push(good, "signed/app");
  await push(signed(ed25519, "ed/app").sample, "ed/app");
  await push(signed(rsa, "rsa/app").sample, "rsa/app");
  await push(buildSampleImage({ platforms: PLATFORMS }), "unsigned/app");
  // A tampered signature: the annotation's base64 changed (now another key's signature of the same payload).
  const tampered = signed(ecdsa, "tampered/app");
  const manifest = JSON.parse(new TextDecoder().decode(tampered.sample.store.get(tampered.sig.desc.digest)!));
  const { sign } = await import("node:crypto");
  manifest.layers[0].annotations["dev.cosignproject.cosign/signature"] = sign(
    "sha256",
    tampered.sig.payload,
    wrong.privateKey,
  ).toString("base64");
  const forged = tampered.sample.store.put(new TextEncoder().encode(JSON.stringify(manifest)), manifest.mediaType);
  tampered.sample.store.tags.set(schemaTag(tampered.sample.root.digest, "sig"), forged);
  await push(tampered.sample, "tampered/app");
  // Carried by ferry: a layout, an OCI archive, export files, and those files imported into the air-gapped registry.
  for (
    const args of [
      ["copy", ref("signed/app"), `oci:${join(work, "layout")}:1.0`],
      ["copy", ref("signed/app"), `oci-archive:${join(work, "app.tar")}:1.0`],
      ["copy", ref("ed/app"), `oci:${join(work, "ed-layout")}:1.0`],
      ["export", "-o", join(work, "out"), ref("signed/app")],
    ]
  ) {
    const r = await runCli(args, { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(`ferry ${args.join(" ")}: ${r.stderr}`);
  }
  const files = await exportFiles();
  const imported = await runCli(["import", ...files, `${airgap.host}/app:1.0`], { timeoutMs: 120_000 });
  if (imported.code !== 0) throw new Error(`ferry import: ${imported.stderr}`);
}, 240_000);

afterAll(async () => {
  await Promise.all([source?.stop(), airgap?.stop()]);
  await rm(work, { recursive: true, force: true });
}, 30_000);

async function exportFiles(): Promise<string[]> {
  const names = (await readdir(join(work, "out"))).filter((n) => n.endsWith(".tar.gz")).sort();
  return names.map((n) => join(work, "out", n));
}

describe("ferry verify passes on every good copy", () => {
  test("the registry image, with the key: signed, its SBOM and attestation verified too", async () => {
    const run = await verify(["--key", key("ecdsa"), ref("signed/app")]);
    expectGood(run);
    expect(run.stdout).toContain(
      `${ref("signed/app")}  ${good.root.digest}  linux/amd64, linux/arm64/v8, linux/arm/v7, 3 referrers, signed (${
        key("ecdsa")
      })`,
    );
  }, 60_000);

  test("Ed25519 and RSA keys (each verifying its own image only)", async () => {
    expectGood(await verify(["--key", key("ed25519"), ref("ed/app")]));
    expectGood(await verify(["--key", key("rsa"), ref("rsa/app")]));
    expectGood(await verify(["--key", key("ecdsa"), "--key", key("rsa"), ref("rsa/app")]));
    expectGood(await verify(["--key", key("ed25519"), `oci:${join(work, "ed-layout")}:1.0`]));
    const crossed = await verify(["--key", key("ed25519"), ref("rsa/app")]);
    expectFailed(crossed, ref("rsa/app"), "signature sha256:");
  }, 60_000);

  test("the OCI layout and the OCI archive ferry copy wrote", async () => {
    expectGood(await verify(["--key", key("ecdsa"), `oci:${join(work, "layout")}`]));
    const tagged = await verify(["--key", key("ecdsa"), "--json", `oci:${join(work, "layout")}:1.0`]);
    expect(tagged.code).toBe(0);
    const report = JSON.parse(tagged.stdout);
    expect(report).toMatchObject({ ok: true, problems: [] });
    expect(report.images).toHaveLength(1);
    expect(report.images[0]).toMatchObject({ digest: good.root.digest, referrers: 3, signed: true });
    expect(report.images[0].signatures[0]).toMatchObject({ signature: sig.desc.digest, verified: true });
    expectGood(await verify(["--key", key("ecdsa"), `oci-archive:${join(work, "app.tar")}`]));
  }, 60_000);

  test("the air-gapped registry the export files were imported into: same digest, signature intact", async () => {
    const run = await verify(["--key", key("ecdsa"), "--platform", "linux/amd64,linux/arm64", `${airgap.host}/app:1.0`]);
    expectGood(run);
    expect(run.stdout).toContain(`${good.root.digest}  linux/amd64, linux/arm64/v8, linux/arm/v7, 3 referrers, signed`);
  }, 60_000);
});

describe("ferry verify fails, naming the image, with exit code 10", () => {
  test("a tampered signature annotation", async () => {
    const run = await verify(["--key", key("ecdsa"), ref("tampered/app")]);
    expectFailed(run, ref("tampered/app"), "signature sha256:");
    expect(run.stderr).toContain(`of the index ${good.root.digest}: does not verify with ${key("ecdsa")}`);
  }, 60_000);

  test("a missing signature (with --key, or --require-signature alone)", async () => {
    const run = await verify(["--key", key("ecdsa"), ref("unsigned/app")]);
    expectFailed(run, ref("unsigned/app"), `no signature that verifies with ${key("ecdsa")}: none on the index`);
    expectFailed(await verify(["--require-signature", ref("unsigned/app")]), ref("unsigned/app"), "no signature:");
    expectGood(await verify([ref("unsigned/app")])); // nothing asked of signatures
  }, 60_000);

  test("a wrong key", async () => {
    const run = await verify(["--key", key("wrong"), `oci:${join(work, "layout")}:1.0`]);
    expectFailed(
      run,
      `oci:${join(work, "layout")}:1.0`,
      `signature ${sig.desc.digest} of the index ${good.root.digest}: does not verify with ${key("wrong")}`,
    );
  }, 60_000);

  test("a corrupted blob: one byte of a layer flipped in a layout", async () => {
    const dir = join(work, "corrupt");
    await cp(join(work, "layout"), dir, { recursive: true });
    const manifest = JSON.parse(await readFile(blobFile(dir, good.manifests[1].digest), "utf8"));
    const layer = manifest.layers.at(-1);
    const bytes = await readFile(blobFile(dir, layer.digest));
    bytes[bytes.length >> 1] ^= 0x01;
    await writeFile(blobFile(dir, layer.digest), bytes);
    const run = await verify(["--key", key("ecdsa"), `oci:${dir}`]);
    expectFailed(run, `oci:${dir}:1.0`, `linux/arm64/v8 layer ${layer.digest}: content does not match its digest`);
    expect(run.stderr.match(/^ferry verify: /gm)).toHaveLength(1); // the other blobs and the signature are fine
  }, 60_000);

  test("a manifest referencing a missing blob", async () => {
    const dir = join(work, "dangling");
    await cp(join(work, "layout"), dir, { recursive: true });
    const manifest = JSON.parse(await readFile(blobFile(dir, good.manifests[2].digest), "utf8"));
    await rm(blobFile(dir, manifest.config.digest));
    const run = await verify([`oci:${dir}:1.0`]);
    expectFailed(run, `oci:${dir}:1.0`, `linux/arm/v7 config ${manifest.config.digest}: not found`);
  }, 60_000);

  test("a missing expected platform", async () => {
    const run = await verify(["--platform", "linux/s390x", "--platform", "linux/amd64", ref("signed/app")]);
    expectFailed(
      run,
      ref("signed/app"),
      "platform linux/s390x: not in the image (it has linux/amd64, linux/arm64/v8, linux/arm/v7)",
    );
  }, 60_000);
});

describe("export files, offline", () => {
  test("all files as one set pass, with the source registry stopped and proxies at a closed port", async () => {
    const files = await exportFiles();
    expect(files.length).toBe(3);
    await source.stop(); // the files' verification needs no registry at all
    const closed = `http://127.0.0.1:${await freePort()}`;
    const env = { HTTP_PROXY: closed, HTTPS_PROXY: closed, http_proxy: closed, https_proxy: closed, NO_PROXY: "" };
    const run = await verify(["--key", key("ecdsa"), "--platform", "linux/arm/v7", ...files], env);
    expectGood(run);
    // Named as exported: the index the files carry.
    expect(run.stdout).toContain(
      `${ref("signed/app")}  ${good.root.digest}  linux/amd64, linux/arm64/v8, linux/arm/v7, 3 referrers, signed`,
    );
    expect(run.stdout).toMatch(/^1 image, /m);
    // The layout and archive too.
    expectGood(await verify(["--key", key("ecdsa"), `oci:${join(work, "layout")}`], env));
    expectGood(await verify(["--key", key("ecdsa"), `oci-archive:${join(work, "app.tar")}`], env));
  }, 120_000);

  test("one file of the set: its platform verifies; the others are missing unless --platform names only it", async () => {
    const [amd64] = (await exportFiles()).filter((f) => f.includes("amd64"));
    const alone = await verify(["--key", key("ecdsa"), amd64]);
    expect(alone.code).toBe(ExitCode.Verification);
    expect(alone.stderr).toContain(`linux/arm64/v8 manifest ${good.manifests[1].digest}: not among the inputs`);
    expectGood(await verify(["--key", key("ecdsa"), "--platform", "linux/amd64", amd64]));
    // With the layout that holds the whole index: one image, verified as the layout's (a path, as import takes it).
    const mixed = await verify(["--key", key("ecdsa"), join(work, "layout"), amd64]);
    expectGood(mixed);
    expect(mixed.stdout).toMatch(/^1 image, /m);
  }, 60_000);

  test("a corrupted export file fails at once, naming the file", async () => {
    const files = await exportFiles();
    const bad = join(work, "bad-amd64.tar.gz");
    await cp(files.find((f) => f.includes("amd64"))!, bad);
    const { gunzipSync, gzipSync } = await import("node:zlib");
    const tar = gunzipSync(await readFile(bad));
    tar[tar.length - 2048] ^= 0x01; // inside the last entry's data (a tar ends with two zero blocks)
    await writeFile(bad, gzipSync(tar));
    const run = await verify([bad, ...files.filter((f) => !f.includes("amd64"))]);
    expect(run.code).toBe(ExitCode.Verification);
    expect(run.stderr).toContain(`ferry verify: ${bad}: `);
  }, 60_000);
});
