/**
 * Which blobs were pushed into which repository of a writable `ferry serve` (uploads and cross-repository
 * mounts), kept in a small JSON file beside index.json ({@link UPLOADED_BLOBS_FILE}), rewritten whole
 * (temp file, rename) on every change, so a restarted serve gives the same answers. A blob a repository's
 * manifests use needs no record here: index.json says so.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { FormatError } from "../errors.ts";
import { isDigest } from "../oci/digest.ts";
import { fileErrorOf, writeFileAtomic } from "../stream/files.ts";

/** The file's name in the layout directory. */
export const UPLOADED_BLOBS_FILE = ".ferry-uploaded-blobs.json";

interface UploadedBlobsJson {
  schemaVersion: 1;
  /** Repository name → digests, sorted. */
  repositories: Record<string, string[]>;
}

/** The uploads record of one layout directory; every method waits for the file to be read first. */
export class UploadedBlobs {
  readonly #repos = new Map<string, Set<string>>();
  readonly #loaded: Promise<void>;
  /** Writes run one after another, each writing the state as it is then. */
  #writing: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {
    this.#loaded = this.#load();
    this.#loaded.catch(() => {}); // reported by the first caller of ready()
  }

  /** Resolves once the file is read; rejects with a FormatError for a file that is not one of ours. */
  ready(): Promise<void> {
    return this.#loaded;
  }

  /** Whether blob `digest` was pushed into repository `name` (and not deleted from it since). */
  async has(name: string, digest: string): Promise<boolean> {
    await this.#loaded;
    return this.#repos.get(name)?.has(digest) ?? false;
  }

  /** The repositories holding blob `digest` by an upload or a mount. */
  async holders(digest: string): Promise<string[]> {
    await this.#loaded;
    return [...this.#repos].filter(([, digests]) => digests.has(digest)).map(([name]) => name);
  }

  /** Records `digest` as pushed into `name`, on disk before it resolves. */
  async add(name: string, digest: string): Promise<void> {
    await this.#loaded;
    let digests = this.#repos.get(name);
    if (!digests) this.#repos.set(name, digests = new Set());
    if (digests.has(digest)) return;
    digests.add(digest);
    await this.#save();
  }

  /** Forgets that `digest` was pushed into `name`, on disk before it resolves. */
  async remove(name: string, digest: string): Promise<void> {
    await this.#loaded;
    const digests = this.#repos.get(name);
    if (!digests?.delete(digest)) return;
    if (digests.size === 0) this.#repos.delete(name);
    await this.#save();
  }

  async #load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      if ((err as { code?: string })?.code === "ENOENT") return;
      throw fileErrorOf(err, "read", this.path);
    }
    let doc: UploadedBlobsJson;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new FormatError(`Cannot parse ${this.path}: ${(err as Error).message}`, { ref: this.path, cause: err });
    }
    const repos = doc && typeof doc === "object" ? doc.repositories : undefined;
    if (doc?.schemaVersion !== 1 || !repos || typeof repos !== "object") {
      throw new FormatError(`Cannot read ${this.path}: not ferry's record of uploaded blobs`, { ref: this.path });
    }
    for (const [name, digests] of Object.entries(repos)) {
      if (!Array.isArray(digests) || !digests.every((d) => typeof d === "string" && isDigest(d))) {
        throw new FormatError(`Cannot read ${this.path}: repository "${name}" lists invalid digests`, {
          ref: this.path,
        });
      }
      this.#repos.set(name, new Set(digests));
    }
  }

  #save(): Promise<void> {
    const run = this.#writing.then(() => {
      const repositories: Record<string, string[]> = {};
      for (const name of [...this.#repos.keys()].sort()) repositories[name] = [...this.#repos.get(name)!].sort();
      const doc: UploadedBlobsJson = { schemaVersion: 1, repositories };
      return writeFileAtomic(this.path, `${JSON.stringify(doc, null, 1)}\n`);
    });
    this.#writing = run.catch(() => {});
    return run;
  }
}
