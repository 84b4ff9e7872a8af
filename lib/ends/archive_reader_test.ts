import { afterAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DigestMismatchError, type FerryError, FormatError } from "../errors.ts";
import { readLimited } from "../stream/read_limited.ts";
import { type CraftedEntry, tarFile } from "../../tests/helpers/crafted_tar.ts";
import { ArchiveStore } from "./archive_reader.ts";

const work = mkdtempSync(join(tmpdir(), "ferry-archive-reader-"));
const spool = mkdtempSync(join(tmpdir(), "ferry-archive-spool-"));
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(spool, { recursive: true, force: true });
});
let n = 0;
function write(entries: CraftedEntry[], gzip = false): string {
  const path = join(work, `${n++}.tar${gzip ? ".gz" : ""}`);
  writeFileSync(path, tarFile(entries, { gzip }));
  return path;
}
const enc = new TextEncoder();
const sha = (b: Uint8Array | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const hex = (b: Uint8Array | string) => sha(b).slice(7);

const config = JSON.stringify({
  architecture: "amd64",
  os: "linux",
  rootfs: { type: "layers", diff_ids: [sha("layer")] },
});
const manifest = JSON.stringify({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
  layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha("layer"), size: 5 }],
});
const index = JSON.stringify({
  schemaVersion: 2,
  manifests: [{
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: sha(manifest),
    size: manifest.length,
    annotations: { "org.opencontainers.image.ref.name": "1.0" },
  }],
});
const ociEntries: CraftedEntry[] = [
  { name: "oci-layout", data: '{"imageLayoutVersion":"1.0.0"}' },
  { name: "index.json", data: index },
  { name: `blobs/sha256/${hex(config)}`, data: config },
  { name: `blobs/sha256/${hex(manifest)}`, data: manifest },
  { name: `blobs/sha256/${hex("layer")}`, data: "layer" },
];
/** `ociEntries` with index.json's entry naming `source` as the carried index (a ferry per-platform export). */
const carrying = (source: string, extra: CraftedEntry[] = []): CraftedEntry[] => {
  const withSource = JSON.parse(index);
  withSource.manifests[0].annotations["dev.ferry.source-index"] = source;
  return [ociEntries[0], { name: "index.json", data: JSON.stringify(withSource) }, ...ociEntries.slice(2), ...extra];
};
const sourceIndex = JSON.stringify({
  schemaVersion: 2,
  manifests: [JSON.parse(index).manifests[0], {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: sha("other"),
    size: 5,
  }],
});
const classic = (items: unknown, extra: CraftedEntry[] = []): CraftedEntry[] => [
  { name: "1/layer.tar", data: "layer" },
  { name: `${hex(config)}.json`, data: config },
  { name: "manifest.json", data: JSON.stringify(items) },
  ...extra,
];
const item = { Config: `${hex(config)}.json`, RepoTags: ["app:1"], Layers: ["1/layer.tar"] };

describe("ArchiveStore", () => {
  for (const gzip of [false, true]) {
    test(`reads an OCI archive (${gzip ? "gzipped, spooled" : "plain, in place"})`, async () => {
      const store = await ArchiveStore.open(write(ociEntries, gzip), { tempDir: spool });
      try {
        expect(store.format).toBe("oci");
        const root = await store.resolve("1.0");
        expect(root.digest).toBe(sha(manifest));
        expect(await store.resolve("")).toEqual(root);
        const bytes = await readLimited(await store.fetch(root));
        expect(new TextDecoder().decode(bytes)).toBe(manifest);
        expect(readdirSync(spool).length).toBe(gzip ? 1 : 0);
      } finally {
        await store.dispose();
      }
      expect(readdirSync(spool)).toEqual([]);
    });
  }

  test("reads a classic docker save tarball, synthesising the manifest; symlinked layers are aliases", async () => {
    const store = await ArchiveStore.open(
      write(classic([item, { ...item, RepoTags: ["app:2"], Layers: ["2/layer.tar"] }], [
        { name: "2/layer.tar", type: "symlink", link: "../1/layer.tar" },
      ])),
    );
    expect(store.format).toBe("docker");
    expect(store.roots.map((r) => r.names)).toEqual([["app:1"], ["app:2"]]);
    const root = await store.resolve("app:1");
    const m = JSON.parse(new TextDecoder().decode(await readLimited(await store.fetch(root))));
    expect(m.config.digest).toBe(sha(config));
    expect(m.layers).toEqual([{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha("layer"), size: 5 }]);
    await store.dispose();
  });

  // The hostile-archive table: each crafted archive → its error class and one-line message.
  const hostile: [string, () => CraftedEntry[], new (...a: never[]) => FerryError, RegExp][] = [
    [
      "absolute path",
      () => [...ociEntries, { name: "/etc/passwd", data: "x" }],
      FormatError,
      /entry "\/etc\/passwd" has an absolute path/,
    ],
    [
      "dot-dot path",
      () => [...ociEntries, { name: "blobs/../../x", data: "x" }],
      FormatError,
      /has a "\.\." path component/,
    ],
    [
      "symlink out of the archive",
      () => [...ociEntries, { name: "evil", type: "symlink", link: "../../etc/shadow" }],
      FormatError,
      /link "evil" points outside the archive/,
    ],
    [
      "absolute symlink",
      () => [...ociEntries, { name: "evil", type: "symlink", link: "/etc/shadow" }],
      FormatError,
      /points outside the archive/,
    ],
    [
      "dangling symlink",
      () => [...ociEntries, { name: "evil", type: "symlink", link: "nothere" }],
      FormatError,
      /not a file in the archive/,
    ],
    ["fifo", () => [...ociEntries, { name: "pipe", type: "fifo" }], FormatError, /device, fifo or unknown type/],
    [
      "duplicate names",
      () => [...ociEntries, { name: "./index.json", data: index }],
      FormatError,
      /duplicate entry "index.json"/,
    ],
    [
      "manifest.json pointing outside",
      () => classic([{ ...item, Layers: ["../../../etc/passwd"] }]),
      FormatError,
      /manifest.json points outside the archive \(layer "..\/..\/..\/etc\/passwd"\)/,
    ],
    [
      "manifest.json naming a missing file",
      () => classic([{ ...item, Layers: ["9/layer.tar"] }]),
      FormatError,
      /names layer "9\/layer.tar", which is not in the archive/,
    ],
    [
      "enormous manifest.json",
      () => [{ name: "manifest.json", data: "[" + " ".repeat(5 * 1024 * 1024) + "]" }],
      FormatError,
      /manifest.json is too large/,
    ],
    [
      "blob not matching its digest",
      () => [...ociEntries.slice(0, 4), { name: `blobs/sha256/${hex("layer")}`, data: "LAYER" }],
      DigestMismatchError,
      /Cannot verify blob: expected digest sha256:/,
    ],
    [
      "layer not matching its diff_id",
      () => [{ name: "1/layer.tar", data: "other" }, ...classic([item]).slice(1)],
      DigestMismatchError,
      /expected digest sha256:/,
    ],
    [
      "config not matching its name",
      () => [{ name: "1/layer.tar", data: "layer" }, { name: `${hex(config)}.json`, data: config + " " }, {
        name: "manifest.json",
        data: JSON.stringify([item]),
      }],
      DigestMismatchError,
      /expected digest/,
    ],
    [
      "not an image archive",
      () => [{ name: "hello.txt", data: "hi" }],
      FormatError,
      /neither index.json nor manifest.json/,
    ],
    [
      "index.json naming a missing blob",
      () => [ociEntries[0], ociEntries[1]],
      FormatError,
      /index.json names sha256:\w+, which is not in the archive/,
    ],
    [
      "carried index not in the archive",
      () => carrying(sha(sourceIndex)),
      FormatError,
      /dev.ferry.source-index names sha256:\w+, which is not in the archive/,
    ],
    ["carried index not a digest", () => carrying("latest"), FormatError, /dev.ferry.source-index is not a digest/],
    ["carried index that is a manifest", () => carrying(sha(manifest)), FormatError, /which is not an index/],
  ];
  for (const [name, entries, cls, message] of hostile) {
    test(`refuses: ${name}`, async () => {
      const path = write(entries());
      const err = await ArchiveStore.open(path, { tempDir: spool }).then(() => undefined, (e) => e);
      expect(err).toBeInstanceOf(cls);
      expect(err.message).toMatch(message);
      expect(err.message).not.toContain("\n");
      expect(err.ref).toBe(path);
    });
  }

  test("an index carried unlisted (dev.ferry.source-index) is offered as carried, not as a root", async () => {
    const path = write(
      carrying(sha(sourceIndex), [{ name: `blobs/sha256/${hex(sourceIndex)}`, data: sourceIndex }]),
      true,
    );
    const store = await ArchiveStore.open(path, { tempDir: spool });
    try {
      expect(store.roots.map((r) => r.desc.digest)).toEqual([sha(manifest)]);
      const desc = {
        mediaType: "application/vnd.oci.image.index.v1+json",
        digest: sha(sourceIndex),
        size: sourceIndex.length,
      };
      expect(store.carried).toEqual([desc]);
      expect(new TextDecoder().decode(await readLimited(await store.fetch(desc)))).toBe(sourceIndex);
    } finally {
      await store.dispose();
    }
  });

  test("refuses garbage and a truncated gzip stream", async () => {
    const garbage = join(work, "garbage.tar");
    writeFileSync(garbage, enc.encode("x".repeat(2000)));
    await expect(ArchiveStore.open(garbage)).rejects.toThrow(/corrupt tar header/);
    const whole = tarFile(ociEntries, { gzip: true });
    const cut = join(work, "cut.tar.gz");
    writeFileSync(cut, whole.subarray(0, whole.length - 100));
    const err = await ArchiveStore.open(cut, { tempDir: spool }).catch((e) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(readdirSync(spool)).toEqual([]);
  });
});

describe("ArchiveStore: blobs shared across the archives of one import", () => {
  test("a blob verified in an earlier archive is hashed again but not spooled again", async () => {
    const known = new Map();
    const first = await ArchiveStore.open(write(ociEntries, true), { tempDir: spool, known });
    const second = await ArchiveStore.open(write(ociEntries, true), { tempDir: spool, known });
    try {
      expect([...known.keys()].sort()).toEqual([sha("layer"), sha(config), sha(manifest)].sort());
      // The first archive spooled its one layer (metadata and JSON blobs stay in memory); the second nothing.
      expect(readdirSync(first.spoolDir!).length).toBe(1);
      expect(second.spoolDir).toBeUndefined();
      const layer = { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha("layer"), size: 5 };
      expect(new TextDecoder().decode(await readLimited(await second.fetch(layer)))).toBe("layer");
    } finally {
      await second.dispose();
      await first.dispose();
    }
  });

  test("an entry named like a known blob but with other bytes is still refused", async () => {
    const known = new Map();
    const first = await ArchiveStore.open(write(ociEntries, true), { tempDir: spool, known });
    try {
      const forged = ociEntries.map((e) => e.name === `blobs/sha256/${hex("layer")}` ? { ...e, data: "LAYER" } : e);
      const err = await ArchiveStore.open(write(forged, true), { tempDir: spool, known }).catch((e) => e);
      expect(err).toBeInstanceOf(DigestMismatchError);
    } finally {
      await first.dispose();
    }
  });
});
