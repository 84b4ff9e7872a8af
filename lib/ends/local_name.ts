/**
 * A plain reference that is also a file or directory here (`out/image-amd64.tar.gz`, `out`) is refused
 * before any registry is asked: the user almost certainly meant the local path. The message names the
 * location form to write, sniffed from what is on disk.
 *
 * @module
 */
import { open, stat } from "node:fs/promises";
import { UsageError } from "../errors.ts";
import { type Location, plainReferenceText } from "../ref/location.ts";
import { gunzipStream, isGzip } from "../stream/gzip.ts";
import { readFileStream } from "../stream/files.ts";

/** Most bytes of a gzipped tar read (decompressed) while looking for its index.json or manifest.json. */
const SNIFF_LIMIT = 256 * 1024 * 1024;
const BLOCK = 512;

/**
 * Throws a {@link UsageError} when `location` is a plain registry reference whose text, as typed, names
 * an existing file or directory; `docker://` opts out of the check.
 *
 * @example
 * ```ts
 * await refuseLocalName(parseLocation("out/image-amd64.tar.gz"));
 * // UsageError: Cannot use "out/image-amd64.tar.gz" as a registry reference: it is a file here (an OCI archive); …
 * ```
 */
export async function refuseLocalName(location: Location): Promise<void> {
  const text = plainReferenceText(location);
  if (text === undefined) return;
  const info = await stat(text).catch(() => undefined);
  if (!info) return;
  const kind = info.isDirectory() ? "oci" : info.isFile() ? await sniffArchive(text) : undefined;
  if (kind === undefined) return;
  const what = info.isDirectory()
    ? (await stat(`${text.replace(/\/+$/, "")}/oci-layout`).catch(() => undefined))
      ? "a directory here (an OCI layout)"
      : "a directory here"
    : kind === "oci-archive"
    ? "a file here (an OCI archive)"
    : kind === "docker-archive"
    ? "a file here (a docker-archive)"
    : "a file here";
  const forms = kind === "archive" ? [`oci-archive:${text}`, `docker-archive:${text}`] : [`${kind}:${text}`];
  throw new UsageError(
    `Cannot use "${text}" as a registry reference: it is ${what}; write ${
      forms.join(" or ")
    } for it, or docker://${text} for the registry`,
  );
}

/**
 * What a local file holds, by its tar entries (gzipped or not): `index.json` or `oci-layout` → an OCI
 * archive, `manifest.json` → a docker-archive, else `archive` (cannot tell, or not a tar at all).
 */
async function sniffArchive(path: string): Promise<"oci-archive" | "docker-archive" | "archive"> {
  const names = new Set<string>();
  try {
    const fh = await open(path, "r");
    try {
      const magic = new Uint8Array(2);
      await fh.read(magic, 0, 2, 0);
      if (isGzip(magic)) {
        await fh.close().catch(() => {});
        await tarNamesOfStream(readFileStream(path).pipeThrough(gunzipStream()), names);
      } else {
        await tarNamesOfFile(fh, names);
      }
    } finally {
      await fh.close().catch(() => {});
    }
  } catch {
    // Not a readable tar: the names found so far decide.
  }
  if (names.has("index.json") || names.has("oci-layout")) return "oci-archive";
  if (names.has("manifest.json")) return "docker-archive";
  return "archive";
}

const INTERESTING = new Set(["index.json", "oci-layout", "manifest.json"]);

/** Header `h`'s entry name (`./` stripped) and content size, or undefined at the end marker or a non-header. */
function parseHeader(h: Uint8Array): { name: string; size: number } | undefined {
  if (h.every((b) => b === 0)) return undefined;
  const field = (start: number, length: number) => {
    const bytes = h.subarray(start, start + length);
    const end = bytes.indexOf(0);
    return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
  };
  const size = parseInt(field(124, 12).trim() || "0", 8);
  if (!Number.isFinite(size) || size < 0) return undefined;
  return { name: field(0, 100).replace(/^\.\//, ""), size };
}

async function tarNamesOfFile(fh: Awaited<ReturnType<typeof open>>, names: Set<string>): Promise<void> {
  const header = new Uint8Array(BLOCK);
  for (let offset = 0;;) {
    const { bytesRead } = await fh.read(header, 0, BLOCK, offset);
    const entry = bytesRead === BLOCK ? parseHeader(header) : undefined;
    if (!entry) return;
    if (INTERESTING.has(entry.name)) names.add(entry.name);
    offset += BLOCK + Math.ceil(entry.size / BLOCK) * BLOCK;
  }
}

async function tarNamesOfStream(stream: ReadableStream<Uint8Array>, names: Set<string>): Promise<void> {
  const reader = stream.getReader();
  let buffered: Uint8Array = new Uint8Array(0);
  let skip = 0;
  let read = 0;
  try {
    while (read < SNIFF_LIMIT) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
      let chunk: Uint8Array = value;
      if (skip > 0) {
        const n = Math.min(skip, chunk.byteLength);
        skip -= n;
        chunk = chunk.subarray(n);
      }
      buffered = concat(buffered, chunk);
      while (skip === 0 && buffered.byteLength >= BLOCK) {
        const entry = parseHeader(buffered.subarray(0, BLOCK));
        if (!entry) return;
        if (INTERESTING.has(entry.name)) names.add(entry.name);
        const body = Math.ceil(entry.size / BLOCK) * BLOCK;
        const rest = buffered.subarray(BLOCK);
        const n = Math.min(body, rest.byteLength);
        buffered = rest.subarray(n);
        skip = body - n;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.byteLength === 0) return b;
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
