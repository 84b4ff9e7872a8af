/**
 * One answer per archive: every crafted OCI archive (hostile entries, valid-but-unusual encodings, broken
 * tars) goes through import, copy and serve, and all three must agree — refuse with the same message, or
 * accept and hand out the same image (a hard-linked blob, as docker save writes, served with its bytes).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MediaType } from "../../lib/oci/media_types.ts";
import { buildSampleImage } from "../../lib/testing/sample_image.ts";
import { copy } from "../../lib/verbs/copy.ts";
import { importImage } from "../../lib/verbs/import/import.ts";
import { serve } from "../../lib/verbs/serve.ts";
import { type CraftedEntry, tarFile } from "../helpers/crafted_tar.ts";

const work = mkdtempSync(join(tmpdir(), "ferry-tar-policy-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sample = buildSampleImage({ platforms: ["linux/amd64"], layerSize: 3000 });
const root = sample.root;
const blobs = [...sample.store.blobs.values()];
const manifest = sample.manifests[0];
const manifestJson = JSON.parse(new TextDecoder().decode(sample.store.get(manifest.digest)!));
const layer: { digest: string; size: number } = manifestJson.layers.at(-1);
const layerBytes = sample.store.get(layer.digest)!;
const blobName = (digest: string) => `blobs/sha256/${digest.slice(7)}`;
const index = JSON.stringify({
  schemaVersion: 2,
  mediaType: MediaType.OciIndex,
  manifests: [{ ...root, annotations: { "org.opencontainers.image.ref.name": "1.0" } }],
});

/** A valid OCI archive of the sample, the layer blob last, written with `layerEntry` for that blob. */
function archive(layerEntry: Partial<CraftedEntry> = {}, extra: CraftedEntry[] = []): CraftedEntry[] {
  return [
    { name: "oci-layout", data: '{"imageLayoutVersion":"1.0.0"}' },
    { name: "index.json", data: index },
    ...blobs.filter((b) => b.desc.digest !== layer.digest).map((b) => ({
      name: blobName(b.desc.digest),
      data: b.bytes,
    })),
    ...extra,
    { name: blobName(layer.digest), data: layerBytes, ...layerEntry },
  ];
}

type Answer = { ok: string } | { error: string };

async function answerOf(run: () => Promise<string>): Promise<Answer> {
  try {
    return { ok: await run() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

let n = 0;
/** The same archive through import, copy and serve: each one's root digest (and for serve, the layer's bytes), or its error. */
async function throughAll(tar: Uint8Array): Promise<{ import: Answer; copy: Answer; serve: Answer }> {
  const path = join(work, `case-${++n}.tar`);
  writeFileSync(path, tar);
  const imported = await answerOf(async () =>
    (await importImage([path], `oci:${join(work, `imported-${n}`)}:1.0`, { tempDir: work })).digest
  );
  const copied = await answerOf(async () => (await copy(`oci-archive:${path}`, `oci:${join(work, `copied-${n}`)}:1.0`)).digest);
  const served = await answerOf(async () => {
    const registry = await serve([path], { address: "127.0.0.1:0", repo: "app" });
    try {
      const res = await fetch(`${registry.url}/v2/app/manifests/1.0`, { headers: { accept: MediaType.OciIndex } });
      if (res.status !== 200) throw new Error(`manifest: HTTP ${res.status}`);
      const digest = res.headers.get("docker-content-digest")!;
      await res.arrayBuffer();
      const blob = await fetch(`${registry.url}/v2/app/blobs/${layer.digest}`);
      if (blob.status !== 200) throw new Error(`layer blob: HTTP ${blob.status}`);
      const bytes = new Uint8Array(await blob.arrayBuffer());
      if (!Buffer.from(bytes).equals(Buffer.from(layerBytes))) throw new Error("layer blob: wrong bytes");
      return digest;
    } finally {
      await registry.stop();
    }
  });
  return { import: imported, copy: copied, serve: served };
}

/** `tar` cut in the middle of its last entry's (the layer blob's) data. */
function cut(tar: Uint8Array): Uint8Array {
  const padding = (512 - (layer.size % 512)) % 512;
  return tar.subarray(0, tar.byteLength - 1024 - padding - Math.floor(layer.size / 2));
}

const accepted = "accepted";
const cases: [string, () => Uint8Array, RegExp | typeof accepted][] = [
  [
    "duplicate index.json",
    () => tarFile(archive({}, [{ name: "./index.json", data: JSON.stringify({ schemaVersion: 2, manifests: [] }) }])),
    /: duplicate entry "index.json"$/,
  ],
  ["a ../x name", () => tarFile(archive({}, [{ name: "../x", data: "x" }])), /: entry "\.\.\/x" has a "\.\." path component$/],
  ["an absolute name", () => tarFile(archive({}, [{ name: "/etc/x", data: "x" }])), /: entry "\/etc\/x" has an absolute path$/],
  ["a fifo", () => tarFile(archive({}, [{ name: "pipe", type: "fifo" }])), /: entry "pipe" is a device, fifo or unknown type "6"$/],
  [
    "a char device",
    () => tarFile(archive({}, [{ name: "null", type: "char" }])),
    /: entry "null" is a device, fifo or unknown type "3"$/,
  ],
  [
    "a symlink out of the archive",
    () => tarFile(archive({}, [{ name: "evil", type: "symlink", link: "../../etc/shadow" }])),
    /: link "evil" points outside the archive \(\.\.\/\.\.\/etc\/shadow\)$/,
  ],
  [
    "a dangling hard link",
    () => tarFile(archive({}, [{ name: "gone", type: "hardlink", link: "blobs/sha256/nothere" }])),
    /: link "gone" points at "blobs\/sha256\/nothere", which is not a file in the archive$/,
  ],
  [
    "a hard-linked blob (docker save writes these)",
    () =>
      tarFile(archive({ type: "hardlink", link: "legacy/layer.tar.gz", data: undefined }, [{
        name: "legacy/layer.tar.gz",
        data: layerBytes,
      }])),
    accepted,
  ],
  [
    "a symlinked blob",
    () =>
      tarFile(archive({ type: "symlink", link: "../../legacy/layer.tar.gz", data: undefined }, [{
        name: "legacy/layer.tar.gz",
        data: layerBytes,
      }])),
    accepted,
  ],
  ["a GNU long name", () => tarFile(archive({ encoding: { name: "gnu" } })), accepted],
  ["a pax path", () => tarFile(archive({ encoding: { name: "pax" } })), accepted],
  ["a base-256 size", () => tarFile(archive({ encoding: { size: "base256" } })), accepted],
  [
    "a truncated tar",
    () => cut(tarFile(archive())),
    new RegExp(`: entry "blobs/sha256/${layer.digest.slice(7)}" is truncated \\(\\d+ of ${layer.size} bytes\\)$`),
  ],
  ["a bad checksum", () => tarFile(archive({ encoding: { checksum: "bad" } })), /: corrupt tar header at byte \d+$/],
];

describe("one tar policy for import, copy and serve", () => {
  for (const [name, build, expected] of cases) {
    test(name, async () => {
      const answers = await throughAll(build());
      const path = join(work, `case-${n}.tar`);
      if (expected === accepted) {
        expect(answers).toEqual({ import: { ok: root.digest }, copy: { ok: root.digest }, serve: { ok: root.digest } });
      } else {
        expect(answers.import).toEqual(answers.copy);
        expect(answers.serve).toEqual(answers.import);
        const message = (answers.import as { error?: string }).error ?? "";
        expect(message.startsWith(`Cannot read archive ${path}: `)).toBe(true);
        expect(message).toMatch(expected);
      }
    }, 30_000);
  }
});
