/**
 * A sequential tar reader over a Web stream (ustar, GNU long names, PAX paths and sizes): what
 * `ferry build` uses to read the layers of a base image for `COPY --from`. Entry bodies stream.
 *
 * @module
 */
import { FormatError } from "../../errors.ts";

/** One tar entry's header. */
export interface TarHeader {
  /** Path as stored, with any leading `./` or `/` removed and no trailing slash. */
  name: string;
  /** The ustar type flag: `0` file, `1` hard link, `2` symlink, `5` directory, … */
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname: string;
}

const BLOCK = 512;
const dec = new TextDecoder();

/**
 * Calls `onEntry` for every entry of the tar `stream`, in order. `body` yields the entry's content; what
 * `onEntry` leaves unread is skipped. Throws a {@link FormatError} for a truncated or corrupt tar.
 *
 * @example
 * ```ts
 * await readTar(layerStream.pipeThrough(gunzipStream()), async (header, body) => {
 *   if (header.type === "0") for await (const chunk of body) sink.write(chunk);
 * });
 * ```
 */
export async function readTar(
  stream: ReadableStream<Uint8Array>,
  onEntry: (header: TarHeader, body: AsyncIterable<Uint8Array>) => Promise<void>,
): Promise<void> {
  const reader = new Bytes(stream.getReader());
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  try {
    for (;;) {
      const block = await reader.exact(BLOCK);
      if (!block || block.every((b) => b === 0)) break;
      if (!checksumOk(block)) throw new FormatError("Cannot read layer: corrupt tar header");
      const type = String.fromCharCode(block[156] || 0x30);
      const size = pax.size !== undefined ? Number(pax.size) : octal(block.subarray(124, 136));
      const padded = Math.ceil(size / BLOCK) * BLOCK;
      if (type === "x" || type === "g" || type === "L" || type === "K") {
        const data = await reader.exact(padded);
        if (!data) throw new FormatError("Cannot read layer: truncated tar");
        const text = dec.decode(data.subarray(0, size));
        if (type === "x") pax = { ...pax, ...parsePax(text) };
        else if (type === "L") longName = text.replace(/\0+$/, "");
        else if (type === "K") longLink = text.replace(/\0+$/, "");
        continue;
      }
      const prefix = cString(block.subarray(345, 500));
      const raw = pax.path ?? longName ??
        (prefix ? `${prefix}/${cString(block.subarray(0, 100))}` : cString(block.subarray(0, 100)));
      const header: TarHeader = {
        name: raw.replace(/^(\.?\/)+/, "").replace(/\/+$/, ""),
        type,
        mode: octal(block.subarray(100, 108)) & 0o7777,
        uid: pax.uid !== undefined ? Number(pax.uid) : octal(block.subarray(108, 116)),
        gid: pax.gid !== undefined ? Number(pax.gid) : octal(block.subarray(116, 124)),
        size,
        linkname: (pax.linkpath ?? longLink ?? cString(block.subarray(157, 257))).replace(/^\.\//, ""),
      };
      pax = {};
      longName = longLink = undefined;
      const hasBody = type === "0" || type === "7" || type === "\0";
      let left = hasBody ? size : 0;
      const body = {
        async *[Symbol.asyncIterator]() {
          while (left > 0) {
            const chunk = await reader.some(left);
            if (!chunk) throw new FormatError("Cannot read layer: truncated tar");
            left -= chunk.byteLength;
            yield chunk;
          }
        },
      };
      await onEntry(header, body);
      await reader.skip(left + (hasBody ? padded - size : padded));
    }
  } finally {
    await reader.cancel();
  }
}

/** Buffered reads of exact sizes over a stream reader. */
class Bytes {
  #buffer: Uint8Array = new Uint8Array(0);
  constructor(readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  async #fill(n: number): Promise<boolean> {
    while (this.#buffer.byteLength < n) {
      const { done, value } = await this.reader.read();
      if (done) return false;
      const next = new Uint8Array(this.#buffer.byteLength + value.byteLength);
      next.set(this.#buffer);
      next.set(value, this.#buffer.byteLength);
      this.#buffer = next;
    }
    return true;
  }

  /** Exactly `n` bytes, or undefined at the end of the stream. */
  async exact(n: number): Promise<Uint8Array | undefined> {
    if (!(await this.#fill(n))) return undefined;
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  /** Between 1 and `max` bytes, or undefined at the end of the stream. */
  async some(max: number): Promise<Uint8Array | undefined> {
    if (this.#buffer.byteLength === 0) {
      const { done, value } = await this.reader.read();
      if (done) return undefined;
      this.#buffer = value;
    }
    const n = Math.min(max, this.#buffer.byteLength);
    const out = this.#buffer.slice(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return out;
  }

  async skip(n: number): Promise<void> {
    while (n > 0) {
      const chunk = await this.some(n);
      if (!chunk) throw new FormatError("Cannot read layer: truncated tar");
      n -= chunk.byteLength;
    }
  }

  async cancel(): Promise<void> {
    await this.reader.cancel().catch(() => {});
  }
}

function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return dec.decode(end < 0 ? b : b.subarray(0, end));
}

function octal(b: Uint8Array): number {
  if (b[0] & 0x80) {
    // GNU base-256 for large numbers.
    let n = 0;
    for (let i = 1; i < b.length; i++) n = n * 256 + b[i];
    return n;
  }
  const text = cString(b).trim();
  return text === "" ? 0 : parseInt(text, 8);
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i];
  return sum === octal(block.subarray(148, 156));
}

function parsePax(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  const bytes = new TextEncoder().encode(text);
  while (at < bytes.byteLength) {
    const space = bytes.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(dec.decode(bytes.subarray(at, space)));
    if (!Number.isInteger(length) || length <= 0) break;
    const record = dec.decode(bytes.subarray(space + 1, at + length - 1));
    const eq = record.indexOf("=");
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    at += length;
  }
  return out;
}
