/**
 * Verify: prove, offline, that what was carried arrived intact. A registry image (talking to that registry only),
 * an OCI layout or archive, or the files of a `ferry export` (read as one set, as `ferry import` reads them, talking
 * to nothing): every blob's digest and size, every manifest reachable, the expected platforms, the referrers, and
 * with `--key` each image's cosign signature. The work is `verifyImages()` in lib/engine/verify.ts.
 *
 * @module
 */
import { open, readFile, stat } from "node:fs/promises";
import {
  ExitCode,
  FerryError,
  type FerryErrorOptions,
  FormatError,
  IntegrityError,
  UnsupportedError,
  UsageError,
} from "../errors.ts";
import { fetchManifest } from "../engine/fetch.ts";
import {
  storeSet,
  type VerifiedImage,
  verifyImages,
  type VerifyProblem,
  type VerifyReport,
  type VerifyRoot,
} from "../engine/verify.ts";
import { entryNames, SOURCE_INDEX, SOURCE_INDEX_NAME } from "../oci/annotations.ts";
import { parsePublicKey, type PublicKey } from "../oci/cosign.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { isDigest } from "../oci/digest.ts";
import { isIndex, MediaType } from "../oci/media_types.ts";
import { parsePlatformList } from "../oci/platform.ts";
import { type Location, parseLocation } from "../ref/location.ts";
import { formatReference, referenceTarget } from "../ref/reference.ts";
import type { RegistryOptions } from "../remote/client.ts";
import { ArchiveStore } from "../ends/archive_reader.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import { openRegistryStore } from "../ends/registry.ts";
import type { ReadableStore } from "../ends/store.ts";
import { fileErrorOf } from "../stream/files.ts";
import { isGzip } from "../stream/gzip.ts";

/**
 * Options of {@link verify}.
 *
 * @example
 * ```ts
 * const options: VerifyOptions = { keys: ["cosign.pub"], platforms: ["linux/amd64", "linux/arm64"], concurrency: 4 };
 * await verify(["out/image-amd64.tar.gz", "out/image-arm64.tar.gz"], options);
 * ```
 */
export interface VerifyOptions {
  /** Public key files (PEM `PUBLIC KEY`: ECDSA, Ed25519, RSA): every image must carry a signature one verifies. */
  keys?: string[];
  /** Platforms every image must have (`linux/amd64`, `arm64`, comma lists). */
  platforms?: string[];
  /** Every image must carry a signature, even without a key to check it. */
  requireSignature?: boolean;
  /**
   * A sigstore trusted root (trusted_root.json) to check keyless signatures' certificates against: not supported
   * yet (an {@link UnsupportedError}); verify with `keys`.
   */
  trustedRoot?: string;
  /** Also verify the images' referrers (signatures, attestations, SBOMs) and their graphs (default true). */
  referrers?: boolean;
  /** Blobs read at once (default 4). */
  concurrency?: number;
  /** Registry access, for a registry location. */
  registry?: RegistryOptions;
  /** Where a gzipped archive is spooled while read (default: this run's ferry temp directory). */
  tempDir?: string;
  /** Aborts the verification. */
  signal?: AbortSignal;
}

/**
 * What {@link verify} found: the engine's report, and whether it is clean.
 *
 * @example
 * ```ts
 * const result: VerifyResult = await verify(["oci:out:1.0"], { keys: ["cosign.pub"] });
 * if (!result.ok) for (const p of result.problems) console.log(`${p.ref}: ${p.message}`);
 * ```
 */
export interface VerifyResult extends VerifyReport {
  /** No problem found. */
  ok: boolean;
  /** The locations as given. */
  inputs: string[];
}

/**
 * `ferry verify` found problems: exit code {@link ExitCode}.Verification (10). The CLI prints each problem, then this.
 *
 * @example
 * ```ts
 * const result = await verify(["oci:out"]);
 * if (!result.ok) throw new VerificationError(result);
 * ```
 */
export class VerificationError extends FerryError {
  /** `"VerificationError"`, set explicitly so that it survives minification. */
  override readonly name = "VerificationError";
  /** {@link ExitCode}.Verification: the process exit code for this error. */
  readonly exitCode: typeof ExitCode.Verification = ExitCode.Verification;
  /** The problems found. */
  readonly problems: VerifyProblem[];
  /** The error for a verification with problems. */
  constructor(result: Pick<VerifyResult, "images" | "problems">, options?: FerryErrorOptions) {
    const failed = new Set(result.problems.map((p) => p.ref)).size;
    const n = result.problems.length;
    super(
      `Cannot verify ${failed} of ${Math.max(failed, result.images.length)} image${
        result.images.length === 1 ? "" : "s"
      }: ${n} problem${n === 1 ? "" : "s"}`,
      options,
    );
    this.problems = result.problems;
  }
}

/** One input: a registry image, or a local file or directory (of a set read together). */
type Input =
  | { kind: "registry"; text: string; location: Extract<Location, { kind: "registry" }> }
  | { kind: "file"; text: string; path: string; dir: boolean; tag?: string };

/**
 * Verifies `locations`: registry images (each on its own) and local inputs (OCI layouts, OCI archives, docker
 * save tarballs, `ferry export` files: read together as one set, so an index carried in each export file finds
 * its manifests in the others). Local inputs are never sent to a registry. Returns every problem found (see
 * {@link VerifyResult}); throws only when an input cannot be opened at all, a key cannot be read, or on abort.
 *
 * @example
 * ```ts
 * const result = await verify(["out/image-amd64.tar.gz", "out/image-arm64.tar.gz"], { keys: ["cosign.pub"] });
 * console.log(result.ok, result.images.map((i) => `${i.ref} ${i.platforms.join(",")}`));
 * ```
 */
export async function verify(locations: string[], options: VerifyOptions = {}): Promise<VerifyResult> {
  if (locations.length === 0) throw new UsageError("Cannot verify: no LOCATION given");
  if (options.trustedRoot !== undefined) {
    throw new UnsupportedError(
      `Cannot verify against the trusted root ${options.trustedRoot}: checking keyless signatures' certificate ` +
        "chains (Fulcio X.509, Rekor and TSA timestamps) is not supported yet; verify with --key",
    );
  }
  const want = parsePlatformList(options.platforms);
  const keys = await readKeys(options.keys ?? []);
  const inputs = await Promise.all(locations.map(classify));
  const engine = {
    keys,
    platforms: want === "all" ? undefined : want,
    requireSignature: options.requireSignature,
    referrers: options.referrers,
    concurrency: options.concurrency,
    signal: options.signal,
  };
  const reports: VerifyReport[] = [];
  const openProblems: VerifyProblem[] = [];
  const archives: ArchiveStore[] = [];
  try {
    for (const input of inputs) {
      if (input.kind !== "registry") continue;
      const ref = input.location.reference;
      const store = openRegistryStore(ref, options.registry);
      const root = await store.resolve(referenceTarget(ref), { signal: options.signal });
      reports.push(await verifyImages(store, [{ desc: root, name: input.text }], engine));
    }
    const files = inputs.filter((i) => i.kind === "file");
    if (files.length > 0) {
      const ends: ReadableStore[] = [];
      const roots: VerifyRoot[] = [];
      const carried: VerifyRoot[] = [];
      for (const file of files) {
        const opened = await openFile(file, options, archives).catch((err) => {
          const problem = openProblem(file.text, err);
          if (!problem) throw err;
          openProblems.push(problem);
          return undefined;
        });
        if (!opened) continue;
        ends.push(opened.store);
        roots.push(...opened.roots);
        for (const c of opened.carried) if (!carried.some((k) => k.desc.digest === c.desc.digest)) carried.push(c);
      }
      if (ends.length > 0) {
        const set = storeSet(ends);
        // A root an index carried in the files lists is verified as part of that index, not on its own; an index
        // that is itself a root of an input (a layout holding it whole) is verified as that root, strictly.
        const partial = carried.filter((c) => !roots.some((r) => r.desc.digest === c.desc.digest));
        const covered = new Set<string>();
        for (const c of carried) {
          const fetched = await fetchManifest(set, c.desc, { signal: options.signal })
            .catch(() => undefined);
          if (fetched?.parsed.kind === "index") {
            for (const m of fetched.parsed.index.manifests) covered.add(m.digest);
          }
        }
        const own = dedupe(roots.filter((r) => !covered.has(r.desc.digest)));
        reports.push(await verifyImages(set, [...partial, ...own], engine));
      }
    }
  } finally {
    await Promise.all(archives.map((a) => a.dispose()));
  }
  const problems = [...openProblems, ...reports.flatMap((r) => r.problems)];
  const images: VerifiedImage[] = reports.flatMap((r) => r.images);
  return {
    ok: problems.length === 0,
    inputs: locations,
    images,
    problems,
    manifests: reports.reduce((n, r) => n + r.manifests, 0),
    blobs: reports.reduce((n, r) => n + r.blobs, 0),
    bytes: reports.reduce((n, r) => n + r.bytes, 0),
  };
}

async function readKeys(paths: string[]): Promise<PublicKey[]> {
  return await Promise.all(paths.map(async (path) => {
    const text = await readFile(path, "utf8").catch((err) => {
      throw fileErrorOf(err, "read key", path);
    });
    return parsePublicKey(text, path);
  }));
}

/**
 * A location, or a path as `ferry import` takes one (`out/image-amd64.tar.gz`, `./layout`): a file or directory
 * that exists here is local, unless written `docker://`.
 */
async function classify(text: string): Promise<Input> {
  if (!/^(docker|oci|oci-archive|docker-archive|docker-daemon):/.test(text)) {
    const info = await stat(text).catch(() => undefined);
    if (info?.isDirectory() || info?.isFile()) return { kind: "file", text, path: text, dir: info.isDirectory() };
  }
  const location = parseLocation(text);
  switch (location.kind) {
    case "registry":
      return { kind: "registry", text, location };
    case "oci":
    case "oci-archive": {
      const dir = location.kind === "oci" ||
        await stat(location.path).then((s) => s.isDirectory(), () => false);
      return { kind: "file", text, path: location.path, dir, ...(location.tag ? { tag: location.tag } : {}) };
    }
    case "docker-archive": {
      const tag = location.reference ? formatReference(location.reference, { short: true }) : undefined;
      return { kind: "file", text, path: location.path, dir: false, ...(tag ? { tag } : {}) };
    }
    case "docker-daemon":
      throw new UsageError(
        `Cannot verify ${text}: the Docker engine's images are not content-addressed files; ` +
          "verify the registry or the files they came from",
      );
  }
}

interface OpenedFile {
  store: ReadableStore;
  roots: VerifyRoot[];
  carried: VerifyRoot[];
}

/** Opens a layout directory, an OCI archive (a plain tar read in place), or a gzipped or docker save archive. */
async function openFile(
  file: Extract<Input, { kind: "file" }>,
  options: VerifyOptions,
  archives: ArchiveStore[],
): Promise<OpenedFile> {
  const prefix = file.dir ? "oci:" : "oci-archive:";
  if (file.dir || !(await gzipped(file.path))) {
    let layout: OciLayoutStore | undefined;
    if (file.dir) layout = await OciLayoutStore.open(file.path);
    else {
      layout = await OciLayoutStore.openArchive(file.path).catch((err) => {
        // A docker save tarball (no index.json) is read by the archive reader below.
        if (err instanceof FormatError && /not an OCI archive/.test(err.message)) return undefined;
        throw err;
      });
    }
    if (layout) {
      const entries = file.tag
        ? [await layout.resolve(file.tag, { signal: options.signal })]
        : await layout.imageEntries();
      const roots = entries.map((desc) => ({ desc: plain(desc), name: nameOf(prefix, file.path, desc, file.tag) }));
      return { store: layout, roots, carried: file.tag ? [] : await carriedIn(layout, prefix, file.path) };
    }
  }
  const archive = await ArchiveStore.open(file.path, { tempDir: options.tempDir, signal: options.signal });
  archives.push(archive);
  if (file.tag) {
    const desc = await archive.resolve(file.tag);
    return { store: archive, roots: [{ desc, name: `${prefix}${file.path}:${file.tag}` }], carried: [] };
  }
  return {
    store: archive,
    roots: archive.roots.map((r) => ({ desc: plain(r.desc), name: nameOf(prefix, file.path, r.desc, r.names[0]) })),
    carried: archive.carried.map((desc) => {
      const exported = archive.carriedNames.get(desc.digest);
      return { desc, name: exported ? shortName(exported) : `${prefix}${file.path}@${desc.digest}`, partial: true };
    }),
  };
}

/** The indexes a layout's entries say they were exported from ({@link SOURCE_INDEX}), named as exported. */
async function carriedIn(layout: OciLayoutStore, prefix: string, path: string): Promise<VerifyRoot[]> {
  const out: VerifyRoot[] = [];
  for (const entry of layout.entries()) {
    const digest = entry.annotations?.[SOURCE_INDEX];
    if (typeof digest !== "string" || !isDigest(digest) || out.some((r) => r.desc.digest === digest)) continue;
    const size = await layout.blobSize(digest);
    let mediaType: string = MediaType.OciIndex;
    if (size !== undefined) {
      const bytes = await readSmallBlob(layout, { mediaType, digest, size });
      const declared = bytes && safeMediaType(bytes);
      if (declared && isIndex(declared)) mediaType = declared;
    }
    const exported = entry.annotations?.[SOURCE_INDEX_NAME];
    const name = exported ? shortName(exported) : `${prefix}${path}@${digest}`;
    // A missing index blob: size 0 makes the read report it (not found).
    out.push({ desc: { mediaType, digest, size: size ?? 0 }, name, partial: true });
  }
  return out;
}

async function readSmallBlob(store: ReadableStore, desc: Descriptor): Promise<Uint8Array | undefined> {
  try {
    return (await fetchManifest(store, desc)).bytes;
  } catch {
    return undefined;
  }
}

function safeMediaType(bytes: Uint8Array): string | undefined {
  try {
    const m = JSON.parse(new TextDecoder().decode(bytes))?.mediaType;
    return typeof m === "string" ? m : undefined;
  } catch {
    return undefined;
  }
}

/** `docker.io/library/app:1.0` → `app:1.0`, `127.0.0.1:5000/team/app:1.0` as is. */
function shortName(name: string): string {
  return name.replace(/^docker\.io\/(library\/)?/, "");
}

function nameOf(prefix: string, path: string, desc: Descriptor, given?: string): string {
  const name = given ?? entryNames(desc)[0];
  return name ? `${prefix}${path}:${shortName(name)}` : `${prefix}${path}@${desc.digest}`;
}

function plain(desc: Descriptor): Descriptor {
  return {
    mediaType: desc.mediaType,
    digest: desc.digest,
    size: desc.size,
    ...(desc.platform ? { platform: desc.platform } : {}),
  };
}

function dedupe(roots: VerifyRoot[]): VerifyRoot[] {
  return roots.filter((r, i) => roots.findIndex((o) => o.desc.digest === r.desc.digest) === i);
}

async function gzipped(path: string): Promise<boolean> {
  const handle = await open(path, "r").catch((err) => {
    throw fileErrorOf(err, "read", path);
  });
  try {
    const head = new Uint8Array(2);
    await handle.read(head, 0, 2, 0);
    return isGzip(head);
  } finally {
    await handle.close();
  }
}

/**
 * What an input that does not open says, as a problem: bytes that do not match (an archive is hashed while it is
 * opened), or a malformed archive or layout. Anything else (no such file, an abort) is thrown.
 */
function openProblem(input: string, err: unknown): VerifyProblem | undefined {
  if (err instanceof IntegrityError) {
    return { ref: input, kind: /size/i.test(err.name) ? "size" : "digest", message: err.message };
  }
  if (err instanceof FormatError) {
    return { ref: input, kind: /not in the archive/.test(err.message) ? "missing" : "invalid", message: err.message };
  }
  return undefined;
}
