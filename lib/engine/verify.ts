/**
 * Verification of what a store holds, offline: from each root (an index.json entry of a layout or archive, or the
 * image a reference names), every manifest reachable is read and parsed and every blob streamed, each checked
 * against its descriptor's digest and size; the platforms expected must be there; and, given keys, each image
 * must carry a cosign signature (on its index or on each of its platform manifests) that verifies. Problems are
 * collected, one per finding, rather than thrown at the first. Memory stays bounded: blobs are hashed as they
 * stream, only manifests, configs and signature payloads (≤ 4 MiB each) are held.
 *
 * The input is a list of ends (one registry repository, one layout, or the files of one `ferry export`): a digest
 * is read from the first end that holds it, so an index carried in one file may name manifests kept in others.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { abortErrorOf, FerryError, NotFoundError } from "../errors.ts";
import {
  COSIGN_SIGNATURE_ANNOTATION,
  COSIGN_SIMPLESIGNING_TYPE,
  type PublicKey,
  SIGSTORE_BUNDLE_TYPE,
  verifySigstoreBundle,
  verifySimpleSigning,
} from "../oci/cosign.ts";
import type { Descriptor, Platform } from "../oci/descriptor.ts";
import { isDigest } from "../oci/digest.ts";
import { isAttestation, type ParsedManifest, parseManifest } from "../oci/manifest.ts";
import { isManifest, isNondistributable } from "../oci/media_types.ts";
import { formatPlatform, matchPlatform, platformOfConfig } from "../oci/platform.ts";
import { Limiter } from "../stream/limiter.ts";
import { MAX_MANIFEST_BYTES } from "../stream/read_limited.ts";
import type { ReadableStore, ReferrerDescriptor, ReferrersOptions, StoreOptions } from "../ends/store.ts";
import { discoverReferrers, type Referrer } from "./referrers.ts";
import { TaskGroup } from "./task_group.ts";

/**
 * What kind of problem {@link verifyImages} found.
 *
 * - `missing`: a manifest or blob a descriptor names is not there (a dangling reference);
 * - `digest`, `size`: its bytes do not hash to the descriptor's digest, or are not its size;
 * - `invalid`: a manifest that does not parse (or is of a kind ferry does not read);
 * - `unreadable`: reading failed (a registry or file error), so nothing can be said about it;
 * - `platform`: an expected platform is not in the image;
 * - `unsigned`: no signature where one is required;
 * - `signature`: signatures are there, none verifies with the keys.
 *
 * @example
 * ```ts
 * declare const report: VerifyReport;
 * const kinds: VerifyProblemKind[] = report.problems.map((p) => p.kind);
 * ```
 */
export type VerifyProblemKind =
  | "missing"
  | "digest"
  | "size"
  | "invalid"
  | "unreadable"
  | "platform"
  | "unsigned"
  | "signature";

/**
 * One problem, about one image.
 *
 * @example
 * ```ts
 * const problem: VerifyProblem = { ref: "oci:out:1.0", kind: "digest", message: "linux/amd64 layer sha256:…: …" };
 * console.log(`ferry verify: ${problem.ref}: ${problem.message}`);
 * ```
 */
export interface VerifyProblem {
  /** The image it is about (`127.0.0.1:5000/app:1.0`, `oci:out:1.0`, a file), or the input that could not be read. */
  ref: string;
  /** What is wrong: a missing blob, a digest or size mismatch, a missing platform, a signature that fails, …. */
  kind: VerifyProblemKind;
  /** One line, naming the platform and the digest it is about. */
  message: string;
  /** The manifest or blob it is about, when it is about one. */
  digest?: string;
}

/**
 * One signature checked (cosign's simple-signing layer, or a sigstore bundle).
 *
 * @example
 * ```ts
 * declare const report: VerifyReport;
 * const checked: VerifiedSignature = report.images[0].signatures[0];
 * console.log(checked.subject, checked.verified ? `by ${checked.key}` : checked.reason);
 * ```
 */
export interface VerifiedSignature {
  /** The digest signed: the index, or one platform manifest. */
  subject: string;
  /** The signature manifest's digest. */
  signature: string;
  /** A cosign simple-signing signature, or a sigstore bundle. */
  format: "cosign" | "sigstore-bundle";
  /** Whether it verified with one of the keys. */
  verified: boolean;
  /** The key it verified with. */
  key?: string;
  /** Why it did not verify. */
  reason?: string;
}

/**
 * One image verified.
 *
 * @example
 * ```ts
 * declare const report: VerifyReport;
 * const image: VerifiedImage = report.images[0];
 * console.log(image.ref, image.digest, image.platforms, image.signed);
 * ```
 */
export interface VerifiedImage {
  /** How problems name it. */
  ref: string;
  /** The root's digest (an index or a manifest). */
  digest: string;
  /** The root's media type. */
  mediaType: string;
  /** The platforms present (`linux/amd64`, …). */
  platforms: string[];
  /** Referrers found (signatures, attestations, SBOMs), their graphs verified too. */
  referrers: number;
  /** Every signature checked (with keys only). */
  signatures: VerifiedSignature[];
  /** With keys: whether the index, or each platform manifest, has a signature that verifies. */
  signed?: boolean;
}

/**
 * What {@link verifyImages} found.
 *
 * @example
 * ```ts
 * const sample = buildSampleImage();
 * const report: VerifyReport = await verifyImages(sample.store, [{ desc: sample.root, name: "sample" }]);
 * if (report.problems.length > 0) console.log(`${report.problems.length} problems`);
 * ```
 */
export interface VerifyReport {
  /** Every image verified, with what was found of it. */
  images: VerifiedImage[];
  /** Every problem found, one each; empty when everything checks out. */
  problems: VerifyProblem[];
  /** Manifests read and checked (each digest once). */
  manifests: number;
  /** Blobs streamed and checked (each digest once). */
  blobs: number;
  /** Bytes read. */
  bytes: number;
}

/**
 * A root to verify: an image and how problems name it.
 *
 * @example
 * ```ts
 * const store = await OciLayoutStore.open("out");
 * const root: VerifyRoot = { desc: await store.resolve("1.0"), name: "oci:out:1.0" };
 * ```
 */
export interface VerifyRoot {
  /** The image's root descriptor. */
  desc: Descriptor;
  /** How problems name the image. */
  name: string;
  /**
   * An index carried by a subset of files (`ferry export`'s per-platform files carry their index): its entries
   * absent from the inputs are missing only if `platforms` is not given or names them.
   */
  partial?: boolean;
}

/**
 * Options of {@link verifyImages}.
 *
 * @example
 * ```ts
 * declare const pem: string; // cosign.pub's text
 * const options: VerifyImagesOptions = {
 *   keys: [parsePublicKey(pem, "cosign.pub")],
 *   platforms: [parsePlatform("linux/arm64")],
 *   concurrency: 4,
 * };
 * ```
 */
export interface VerifyImagesOptions extends StoreOptions {
  /** Blobs read at once (default 4). */
  concurrency?: number;
  /** Platforms each image must have. */
  platforms?: Platform[];
  /** Keys a signature must verify with: with keys, every image must be signed (on its index or each manifest). */
  keys?: PublicKey[];
  /** Every image must carry a signature, even without keys to check it with. */
  requireSignature?: boolean;
  /** Also verify the referrers (signatures, attestations, SBOMs) and their graphs (default true). */
  referrers?: boolean;
}

type Outcome =
  | { ok: true; bytes?: Uint8Array; read: number }
  | { ok: false; kind: VerifyProblemKind; reason: string; read: number };

interface ManifestOutcome {
  outcome: Outcome;
  parsed?: ParsedManifest;
  bytes?: Uint8Array;
}

interface BlobUse {
  desc: Descriptor;
  image: ImageState;
  label: string;
}

interface ImageState {
  report: VerifiedImage;
  problems: VerifyProblem[];
  seen: Set<string>;
}

/**
 * Several ends read as one: each digest from the first end that holds it; referrers from all of them.
 *
 * @example
 * ```ts
 * const set = storeSet([await OciLayoutStore.openArchive("image-amd64.tar"), await OciLayoutStore.openArchive("image-arm64.tar")]);
 * console.log(set.ref);
 * ```
 */
export function storeSet(ends: ReadableStore[]): ReadableStore {
  if (ends.length === 1) return ends[0];
  const where = new Map<string, ReadableStore | null>();
  const find = async (desc: Descriptor, options?: StoreOptions) => {
    if (!where.has(desc.digest)) {
      let found: ReadableStore | null = null;
      for (const end of ends) {
        if (await end.exists(desc, options)) {
          found = end;
          break;
        }
      }
      where.set(desc.digest, found);
    }
    return where.get(desc.digest) ?? undefined;
  };
  const ref = ends.map((e) => e.ref).join(" + ");
  return {
    ref,
    resolve: (reference) =>
      Promise.reject(new NotFoundError(`Cannot resolve ${reference} in a set of inputs`, { ref })),
    async fetch(desc, options) {
      const end = await find(desc, options);
      if (!end) throw new NotFoundError(`Cannot find ${desc.digest} in the inputs`, { ref });
      return await end.fetch(desc, options);
    },
    async exists(desc, options) {
      return (await find(desc, options)) !== undefined;
    },
    async referrers(subject: Descriptor, options?: ReferrersOptions): Promise<ReferrerDescriptor[]> {
      const found = new Map<string, ReferrerDescriptor>();
      for (const end of ends) {
        for (const r of (await end.referrers?.(subject, options)) ?? []) {
          if (!found.has(r.digest)) found.set(r.digest, r);
        }
      }
      return [...found.values()];
    },
  };
}

const COSIGN_ARTIFACT_LABELS: [RegExp, string][] = [
  [/cosign\.(simplesigning|artifact\.sig)|notary\.signature|sigstore\.bundle/, "signature"],
  [/dsse|in-toto|attestation/, "attestation"],
  [/spdx|cyclonedx|sbom|syft/, "sbom"],
];

function referrerLabel(r: Referrer): string {
  const type = r.artifactType ?? "";
  return COSIGN_ARTIFACT_LABELS.find(([re]) => re.test(type))?.[1] ?? "referrer";
}

function isAbort(err: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (err instanceof Error && err.name === "AbortError");
}

/**
 * Verifies the images `roots` names in `ends` (one store, or the files of one export as a list): every manifest
 * and blob against its descriptor, the expected platforms, and with `keys` each image's signatures. Never throws for
 * what it finds (see {@link VerifyReport.problems}); throws only when aborted.
 *
 * @example
 * ```ts
 * const layout = await OciLayoutStore.open("out");
 * const roots = (await layout.imageEntries()).map((desc) => ({ desc, name: `oci:out@${desc.digest}` }));
 * declare const pem: string; // cosign.pub's text
 * const report = await verifyImages(layout, roots, { keys: [parsePublicKey(pem, "cosign.pub")] });
 * for (const p of report.problems) console.log(`${p.ref}: ${p.message}`);
 * ```
 */
export async function verifyImages(
  ends: ReadableStore | ReadableStore[],
  roots: VerifyRoot[],
  options: VerifyImagesOptions = {},
): Promise<VerifyReport> {
  const store = Array.isArray(ends) ? storeSet(ends) : ends;
  const verifier = new Verifier(store, options);
  return await verifier.run(roots);
}

class Verifier {
  readonly #store: ReadableStore;
  readonly #options: VerifyImagesOptions;
  readonly #signal: AbortSignal | undefined;
  readonly #limit: Limiter;
  readonly #manifests = new Map<string, Promise<ManifestOutcome>>();
  readonly #blobs: BlobUse[] = [];
  #bytes = 0;

  constructor(store: ReadableStore, options: VerifyImagesOptions) {
    this.#store = store;
    this.#options = options;
    this.#signal = options.signal;
    this.#limit = new Limiter(Math.max(1, options.concurrency ?? 4));
  }

  async run(roots: VerifyRoot[]): Promise<VerifyReport> {
    const images = await Promise.all(roots.map((root) => this.#image(root)));
    // Every blob once, `concurrency` at a time; each image that uses a bad one hears of it.
    const outcomes = new Map<string, Outcome>();
    const group = new TaskGroup(Math.max(1, this.#options.concurrency ?? 4), this.#signal);
    for (const use of this.#blobs) {
      const key = `${use.desc.digest}/${use.desc.size}`;
      if (outcomes.has(key)) continue;
      outcomes.set(key, { ok: true, read: 0 }); // placeholder, replaced below
      group.go(async (signal) => {
        const outcome = await this.#read(use.desc, false, signal);
        outcomes.set(key, outcome);
      });
    }
    await group.wait();
    for (const use of this.#blobs) {
      const outcome = outcomes.get(`${use.desc.digest}/${use.desc.size}`)!;
      if (!outcome.ok) this.#problem(use.image, use.desc, use.label, outcome);
    }
    if (this.#signal?.aborted) throw abortErrorOf(this.#signal);
    return {
      images: images.map((i) => i.report),
      problems: images.flatMap((i) => i.problems),
      manifests: this.#manifests.size,
      blobs: outcomes.size,
      bytes: this.#bytes,
    };
  }

  #problem(image: ImageState, desc: Descriptor, label: string, outcome: Outcome & { ok: false }): void {
    image.problems.push({
      ref: image.report.ref,
      kind: outcome.kind,
      message: `${label} ${desc.digest}: ${outcome.reason}`,
      digest: desc.digest,
    });
  }

  /** Reads `desc`, hashing and counting as it streams; keeps the bytes when `keep` (small content only). */
  async #read(desc: Descriptor, keep: boolean, signal = this.#signal): Promise<Outcome> {
    if (!isDigest(desc.digest)) return { ok: false, kind: "invalid", reason: "not a valid digest", read: 0 };
    const [algorithm] = desc.digest.split(":");
    if (keep && desc.size > MAX_MANIFEST_BYTES) {
      return {
        ok: false,
        kind: "invalid",
        reason: `${desc.size} bytes, more than ferry reads for a manifest`,
        read: 0,
      };
    }
    let body: ReadableStream<Uint8Array>;
    try {
      body = await this.#store.fetch(desc, { signal });
    } catch (err) {
      if (isAbort(err, signal)) throw err;
      if (err instanceof NotFoundError) return { ok: false, kind: "missing", reason: "not found", read: 0 };
      return { ok: false, kind: "unreadable", reason: messageOf(err), read: 0 };
    }
    const hash = createHash(algorithm);
    const chunks: Uint8Array[] = [];
    let seen = 0;
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        seen += value.byteLength;
        this.#bytes += value.byteLength;
        if (seen > desc.size) {
          await reader.cancel().catch(() => {});
          return {
            ok: false,
            kind: "size",
            reason: `more than the ${desc.size} bytes its descriptor says`,
            read: seen,
          };
        }
        hash.update(value);
        if (keep) chunks.push(value);
      }
    } catch (err) {
      if (isAbort(err, signal)) throw err;
      return { ok: false, kind: "unreadable", reason: messageOf(err), read: seen };
    } finally {
      reader.releaseLock();
    }
    if (seen !== desc.size) {
      return { ok: false, kind: "size", reason: `${seen} bytes, its descriptor says ${desc.size}`, read: seen };
    }
    const actual = `${algorithm}:${hash.digest("hex")}`;
    if (actual !== desc.digest) {
      return {
        ok: false,
        kind: "digest",
        reason: `content does not match its digest (it hashes to ${actual})`,
        read: seen,
      };
    }
    if (!keep) return { ok: true, read: seen };
    const bytes = new Uint8Array(seen);
    let offset = 0;
    for (const c of chunks) {
      bytes.set(c, offset);
      offset += c.byteLength;
    }
    return { ok: true, bytes, read: seen };
  }

  /** A manifest, read once per digest (size included) however many images name it. */
  #manifest(desc: Descriptor): Promise<ManifestOutcome> {
    const key = `${desc.digest}/${desc.size}`;
    let pending = this.#manifests.get(key);
    if (!pending) {
      pending = this.#limit.run(async () => {
        const outcome = await this.#read(desc, true);
        if (!outcome.ok) return { outcome };
        try {
          return { outcome, parsed: parseManifest(outcome.bytes!, desc.mediaType), bytes: outcome.bytes };
        } catch (err) {
          return { outcome: { ok: false, kind: "invalid", reason: messageOf(err), read: outcome.read } };
        }
      });
      this.#manifests.set(key, pending);
    }
    return pending;
  }

  /** Walks `desc` for `image`: a manifest is read and its children followed; a blob is queued. */
  async #walk(
    image: ImageState,
    desc: Descriptor,
    label: string,
    partial = false,
    childrenPartial = false,
  ): Promise<ParsedManifest | undefined> {
    const key = `${desc.digest}/${desc.size}`;
    if (image.seen.has(key)) return undefined;
    image.seen.add(key);
    if (!isManifest(desc.mediaType)) {
      if (isNondistributable(desc.mediaType) && !(await this.#exists(desc))) return undefined; // foreign: not carried
      this.#blobs.push({ desc, image, label });
      return undefined;
    }
    if (partial && !(await this.#exists(desc))) {
      const want = this.#options.platforms;
      const expected = !want?.length || (desc.platform && want.some((w) => matchPlatform(w, desc.platform)));
      if (!expected || isAttestation(desc)) return undefined; // left out of this subset of the export's files
      image.problems.push({
        ref: image.report.ref,
        kind: "missing",
        message: `${label} manifest ${desc.digest}: not among the inputs (pass every file of the export, ` +
          `or name the platforms expected with --platform)`,
        digest: desc.digest,
      });
      return undefined;
    }
    const { outcome, parsed } = await this.#manifest(desc);
    const what = parsed?.kind === "index" || (!parsed && /index|list/.test(desc.mediaType)) ? "index" : "manifest";
    if (!outcome.ok) {
      this.#problem(image, desc, `${label} ${what}`.trim(), outcome);
      return undefined;
    }
    if (parsed!.kind === "index") {
      // In index order, one after another: a layer several platforms share is reported under the first of them,
      // the same on every run (the blobs themselves are hashed in parallel afterwards).
      for (const child of parsed!.index.manifests) {
        await this.#walk(image, child, childLabel(label, child), childrenPartial);
      }
    } else {
      const m = parsed!.manifest;
      await Promise.all([
        this.#walk(image, m.config, `${label} config`.trim()),
        ...m.layers.map((layer) => this.#walk(image, layer, `${label} layer`.trim())),
      ]);
    }
    return parsed;
  }

  async #exists(desc: Descriptor): Promise<boolean> {
    try {
      return await this.#store.exists(desc, { signal: this.#signal });
    } catch (err) {
      if (isAbort(err, this.#signal)) throw err;
      return true; // let the read report what is wrong
    }
  }

  async #image(root: VerifyRoot): Promise<ImageState> {
    const image: ImageState = {
      report: {
        ref: root.name,
        digest: root.desc.digest,
        mediaType: root.desc.mediaType,
        platforms: [],
        referrers: 0,
        signatures: [],
      },
      problems: [],
      seen: new Set(),
    };
    const top = await this.#walk(image, root.desc, "", false, root.partial === true);
    if (!top) return image; // its problem is recorded
    // The platforms present: an index's entries that are here, or the one image's config.
    let subjects: { desc: Descriptor; platform?: Platform }[] = [];
    if (top.kind === "index") {
      for (const child of top.index.manifests) {
        if (!isManifest(child.mediaType) || isAttestation(child)) continue;
        if (root.partial && !(await this.#exists(child))) continue;
        subjects.push({ desc: child, ...(child.platform ? { platform: child.platform } : {}) });
      }
    } else {
      const platform = await this.#platformOfImage(top);
      subjects = [{ desc: root.desc, ...(platform ? { platform } : {}) }];
    }
    image.report.platforms = subjects.flatMap((s) => (s.platform ? [formatPlatform(s.platform)] : []));
    for (const want of this.#options.platforms ?? []) {
      if (subjects.some((s) => matchPlatform(want, s.platform))) continue;
      const have = image.report.platforms.join(", ") || "no platform";
      image.problems.push({
        ref: root.name,
        kind: "platform",
        message: `platform ${formatPlatform(want)}: not in the image (it has ${have})`,
      });
    }
    if (this.#options.referrers === false) return image;
    let referrers: Referrer[];
    try {
      referrers = await discoverReferrers(this.#store, root.desc, {
        signal: this.#signal,
        children: top.kind === "index" ? subjects.map((s) => s.desc) : false,
      });
    } catch (err) {
      if (isAbort(err, this.#signal)) throw err;
      image.problems.push({ ref: root.name, kind: "unreadable", message: `referrers: ${messageOf(err)}` });
      referrers = [];
    }
    image.report.referrers = referrers.length;
    await Promise.all(referrers.map((r) => this.#walk(image, r.desc, referrerLabel(r))));
    await this.#signatures(image, root, subjects, referrers);
    return image;
  }

  async #platformOfImage(parsed: ParsedManifest): Promise<Platform | undefined> {
    if (parsed.kind !== "manifest") return undefined;
    const outcome = await this.#limit.run(() => this.#read(parsed.manifest.config, true));
    if (!outcome.ok) return undefined; // reported when the blob is checked
    try {
      return platformOfConfig(JSON.parse(new TextDecoder().decode(outcome.bytes)));
    } catch {
      return undefined;
    }
  }

  /**
   * With keys: the index (or the one image) is signed, else each platform manifest must be, by a signature that
   * verifies (cosign accepts any one valid signature). With `requireSignature` alone: some signature is there.
   */
  async #signatures(
    image: ImageState,
    root: VerifyRoot,
    subjects: { desc: Descriptor; platform?: Platform }[],
    referrers: Referrer[],
  ): Promise<void> {
    const keys = this.#options.keys ?? [];
    if (keys.length === 0 && !this.#options.requireSignature) return;
    const signed = new Map<string, { any: boolean; valid: boolean; failures: VerifiedSignature[] }>();
    const state = (digest: string) => {
      let s = signed.get(digest);
      if (!s) signed.set(digest, s = { any: false, valid: false, failures: [] });
      return s;
    };
    for (const r of referrers) {
      if (r.subject !== root.desc.digest && !subjects.some((s) => s.desc.digest === r.subject)) continue;
      const checks = await this.#checkSignature(r, keys);
      for (const check of checks) {
        const s = state(r.subject);
        s.any = true;
        if (keys.length === 0) continue;
        image.report.signatures.push(check);
        if (check.verified) s.valid = true;
        else s.failures.push(check);
      }
    }
    const ok = (digest: string) => (keys.length ? signed.get(digest)?.valid : signed.get(digest)?.any) === true;
    const children = subjects.filter((s) => s.desc.digest !== root.desc.digest);
    const good = ok(root.desc.digest) || (children.length > 0 && children.every((c) => ok(c.desc.digest)));
    if (keys.length) image.report.signed = good;
    if (good) return;
    const keyList = keys.map((k) => k.name).join(", ");
    const name = (d: string) => {
      const child = children.find((c) => c.desc.digest === d);
      return child ? `${child.platform ? formatPlatform(child.platform) : "manifest"} ${d}` : `${what(root)} ${d}`;
    };
    const unsignedChildren = children.filter((c) => !ok(c.desc.digest));
    const failures = [root.desc.digest, ...unsignedChildren.map((c) => c.desc.digest)].flatMap((d) =>
      signed.get(d)?.failures ?? []
    );
    if (failures.length > 0) {
      for (const f of failures) {
        image.problems.push({
          ref: root.name,
          kind: "signature",
          message: `signature ${f.signature} of the ${name(f.subject)}: ${f.reason}`,
          digest: f.signature,
        });
      }
      return;
    }
    const unsigned = [root.desc.digest, ...unsignedChildren.map((c) => c.desc.digest)].map(name);
    image.problems.push({
      ref: root.name,
      kind: "unsigned",
      message: `no ${keys.length ? `signature that verifies with ${keyList}` : "signature"}: none on the ${
        unsigned.join(" or on ")
      }`,
    });
  }

  /** Every signature a referrer holds: cosign's simple-signing layers, or a sigstore bundle. */
  async #checkSignature(r: Referrer, keys: PublicKey[]): Promise<VerifiedSignature[]> {
    const { outcome, parsed } = await this.#manifest(r.desc);
    if (!outcome.ok || parsed?.kind !== "manifest") return []; // reported by the walk
    const out: VerifiedSignature[] = [];
    const base = { subject: r.subject, signature: r.desc.digest };
    for (const layer of parsed.manifest.layers) {
      const format = layer.mediaType === COSIGN_SIMPLESIGNING_TYPE
        ? "cosign"
        : layer.mediaType === SIGSTORE_BUNDLE_TYPE || /sigstore\.bundle/.test(layer.mediaType)
        ? "sigstore-bundle"
        : undefined;
      if (!format) continue;
      if (keys.length === 0) {
        out.push({ ...base, format, verified: false, reason: "not checked (no key)" });
        continue;
      }
      const read = await this.#limit.run(() => this.#read(layer, true));
      if (!read.ok) {
        out.push({ ...base, format, verified: false, reason: `its payload ${layer.digest}: ${read.reason}` });
        continue;
      }
      const verdict = format === "cosign"
        ? await verifySimpleSigning({
          payload: read.bytes!,
          signature: layer.annotations?.[COSIGN_SIGNATURE_ANNOTATION],
          digest: r.subject,
          keys,
        })
        : await verifySigstoreBundle(read.bytes!, { digest: r.subject, keys });
      out.push(
        verdict.verified ? { ...base, format, verified: true, key: verdict.key } : {
          ...base,
          format,
          verified: false,
          reason: verdict.reason,
        },
      );
    }
    return out;
  }
}

function what(root: VerifyRoot): string {
  return /index|list/.test(root.desc.mediaType) ? "index" : "image";
}

function childLabel(parent: string, child: Descriptor): string {
  if (isAttestation(child)) return `${parent} attestation`.trim();
  return child.platform ? formatPlatform(child.platform) : parent;
}

function messageOf(err: unknown): string {
  if (err instanceof FerryError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
