/**
 * The streaming tar reader: one pass over a stream of tar bytes (a file, a gunzip), entries handed to a
 * callback with their bodies streaming, the {@link TarPolicy} applied to every header. Import and copy
 * (`lib/ends/archive_scan.ts`, policy `"archive"`) and `ferry build` (`lib/verbs/build/rootfs.ts`, policy
 * `"layer"`) read through it.
 *
 * @module
 */
import { abortErrorOf } from "../errors.ts";
import { decodeHeader, isExtension, isZeroBlock, TAR_BLOCK, TarExtensions, type TarHeader } from "./header.ts";
import { TarGate, type TarPolicy } from "./policy.ts";

/** Options of {@link readTar}. */
export interface ReadTarOptions {
  policy: TarPolicy;
  /** Names the archive or layer in errors. */
  ref?: string;
  /** Most entries (default 100 000 for an archive, unlimited for a layer). */
  maxEntries?: number;
  signal?: AbortSignal;
}

/** One admitted entry, as {@link readTar} hands it over. */
export interface TarStreamEntry {
  /** The header, name (and a link's target) normalised by the policy. */
  header: TarHeader;
  /** Byte offset of the entry's data in the tar stream (an uncompressed tar file can be read there in place). */
  offset: number;
  /**
   * The entry's data: exactly `header.size` bytes of a file (nothing for other kinds), in the chunks the
   * stream gives; a short tar is the policy's error. Read it inside the callback, or not at all: it is skipped.
   */
  body: AsyncIterable<Uint8Array>;
}

/** What {@link readTar} found besides the entries. */
export interface ReadTarResult {
  /** For an archive: every symlink and hard link, resolved to the regular file it names (alias → file). */
  links: Map<string, string>;
}

/**
 * Reads the tar `stream` to its end marker (or end), calling `onEntry` for every entry the policy admits, in
 * order; the next header is read once `onEntry` settles. Throws the policy's {@link FormatError}
 * (`Cannot read archive <ref>: …`) for a refused entry, a corrupt header or a truncated tar; errors of the
 * stream itself (a corrupt gzip, a read error) pass through. The stream is cancelled when done.
 *
 * @example
 * ```ts
 * await readTar(layer.pipeThrough(gunzipStream()), { policy: "layer", ref: desc.digest }, async (entry) => {
 *   if (entry.header.kind === "file") for await (const chunk of entry.body) sink.write(chunk);
 * });
 * ```
 */
export async function readTar(
  stream: ReadableStream<Uint8Array>,
  options: ReadTarOptions,
  onEntry: (entry: TarStreamEntry) => Promise<void> | void,
): Promise<ReadTarResult> {
  const gate = new TarGate(options.policy, options.ref, { maxEntries: options.maxEntries });
  const bad = gate.bad;
  const reader = new ByteReader(stream.getReader(), bad);
  const extensions = new TarExtensions();
  try {
    for (;;) {
      if (options.signal?.aborted) throw abortErrorOf(options.signal);
      const block = await reader.exact(TAR_BLOCK);
      if (!block || isZeroBlock(block)) break;
      const raw = decodeHeader(block, reader.position - TAR_BLOCK, bad);
      if (isExtension(raw.typeflag)) {
        gate.extension(raw);
        const data = await reader.exact(padded(raw.size));
        if (!data && raw.size > 0) throw bad(`truncated at byte ${reader.position}`);
        extensions.add(raw.typeflag, (data ?? new Uint8Array()).subarray(0, raw.size), bad);
        continue;
      }
      const applied = extensions.apply(raw, bad);
      const size = applied.size;
      const header = gate.admit(applied);
      const offset = reader.position;
      let left = size;
      if (header) {
        const name = header.name;
        const body = header.kind === "file" ? reader.body(name, size, () => left, (n) => (left -= n)) : empty;
        await onEntry({ header, offset, body });
      }
      await reader.skipBody(header?.name ?? applied.name, size, size - left);
      await reader.skip(padded(size) - size);
    }
  } finally {
    await reader.cancel();
  }
  return { links: gate.links() };
}

function padded(size: number): number {
  return Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}

const empty: AsyncIterable<Uint8Array> = {
  async *[Symbol.asyncIterator]() {},
};

/** Pulls exact byte counts out of a stream of arbitrary chunks (no copies), tracking the position. */
class ByteReader {
  position = 0;
  #pending: Uint8Array = new Uint8Array(0);
  #done = false;
  constructor(
    readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    readonly bad: (reason: string) => Error,
  ) {}

  async #fill(): Promise<boolean> {
    while (this.#pending.byteLength === 0) {
      if (this.#done) return false;
      const { done, value } = await this.reader.read();
      if (done) {
        this.#done = true;
        return false;
      }
      this.#pending = value;
    }
    return true;
  }

  /** Chunks totalling up to `n` bytes (fewer only at the end of the stream). */
  async *take(n: number): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0 && await this.#fill()) {
      const chunk = this.#pending.byteLength <= left ? this.#pending : this.#pending.subarray(0, left);
      this.#pending = this.#pending.subarray(chunk.byteLength);
      left -= chunk.byteLength;
      this.position += chunk.byteLength;
      yield chunk;
    }
  }

  /** Exactly `n` bytes (copied when they span chunks), or undefined at a clean end of stream. */
  async exact(n: number): Promise<Uint8Array | undefined> {
    if (n === 0) return new Uint8Array();
    if (!(await this.#fill())) return undefined;
    if (this.#pending.byteLength >= n) {
      const out = this.#pending.subarray(0, n);
      this.#pending = this.#pending.subarray(n);
      this.position += n;
      return out;
    }
    const out = new Uint8Array(n);
    let got = 0;
    for await (const chunk of this.take(n)) {
      out.set(chunk, got);
      got += chunk.byteLength;
    }
    if (got < n) throw this.bad(`truncated at byte ${this.position}`);
    return out;
  }

  /** An entry's body: `left()` bytes still to come, `consumed(n)` as chunks are handed out. */
  body(name: string, size: number, left: () => number, consumed: (n: number) => void): AsyncIterable<Uint8Array> {
    return {
      [Symbol.asyncIterator]: async function* (this: ByteReader) {
        for await (const chunk of this.take(left())) {
          consumed(chunk.byteLength);
          yield chunk;
        }
        if (left() > 0) throw this.bad(`entry "${name}" is truncated (${size - left()} of ${size} bytes)`);
      }.bind(this),
    };
  }

  /** Skips what is left of an entry's data (`read` of `size` bytes already consumed). */
  async skipBody(name: string, size: number, read: number): Promise<void> {
    let got = read;
    for await (const chunk of this.take(size - read)) got += chunk.byteLength;
    if (got < size) throw this.bad(`entry "${name}" is truncated (${got} of ${size} bytes)`);
  }

  async skip(n: number): Promise<void> {
    let got = 0;
    for await (const chunk of this.take(n)) got += chunk.byteLength;
    if (got < n) throw this.bad(`truncated at byte ${this.position}`);
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}
