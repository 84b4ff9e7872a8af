/**
 * cosign's signatures as plain data, checked offline with WebCrypto (`crypto.subtle`): public keys as PEM
 * `PUBLIC KEY` (SPKI: ECDSA P-256/P-384/P-521, Ed25519, RSA), the simple-signing payload a `cosign sign --key`
 * signature layer holds (`critical.image.docker-manifest-digest` must be the image's digest), DSSE envelopes, and
 * the DSSE form of a sigstore bundle (v0.3, what `cosign sign --new-bundle-format` attaches as a referrer).
 * Certificates and transparency-log entries are not checked: a key is the trust root here.
 *
 * @module
 */
import { FormatError, UnsupportedError } from "../errors.ts";

/** cosign's simple-signing payload layer media type. */
export const COSIGN_SIMPLESIGNING_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
/** The annotation of a payload layer holding the base64 signature over the layer's bytes. */
export const COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
/** cosign's artifact type of a signature pushed as an OCI 1.1 referrer (`--registry-referrers-mode=oci-1-1`). */
export const COSIGN_SIGNATURE_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json";
/** A sigstore bundle v0.3 (artifact type and layer media type). */
export const SIGSTORE_BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json";
/** The `type` of a simple-signing payload made by cosign (atomic container signatures say `atomic container signature`). */
export const COSIGN_PAYLOAD_TYPE = "cosign container image signature";

/**
 * The key kinds ferry verifies, as cosign makes and reads them.
 *
 * @example
 * ```ts
 * const algorithm: KeyAlgorithm = "ed25519";
 * ```
 */
export type KeyAlgorithm = "ecdsa-p256" | "ecdsa-p384" | "ecdsa-p521" | "ed25519" | "rsa" | "rsa-pss";

/**
 * A public key to verify signatures with (`cosign.pub`).
 *
 * @example
 * ```ts
 * declare const pem: string; // the text of cosign.pub
 * const key: PublicKey = parsePublicKey(pem, "cosign.pub");
 * console.log(key.algorithm); // "ecdsa-p256"
 * ```
 */
export interface PublicKey {
  /** How messages name it (the file it came from). */
  name: string;
  /** The key's algorithm (ECDSA curve, Ed25519 or RSA). */
  algorithm: KeyAlgorithm;
  /** The DER SubjectPublicKeyInfo. */
  spki: Uint8Array;
}

// Object identifiers, as the hex of their DER contents.
const OID = {
  ecPublicKey: "2a8648ce3d0201",
  p256: "2a8648ce3d030107",
  p384: "2b81040022",
  p521: "2b81040023",
  ed25519: "2b6570",
  rsa: "2a864886f70d010101",
  rsaPss: "2a864886f70d01010a",
};

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

/** One DER tag-length-value at `offset` (short and long lengths; no indefinite lengths). */
function readTlv(bytes: Uint8Array, offset: number): Tlv {
  if (offset + 2 > bytes.length) throw new Error("truncated DER");
  const tag = bytes[offset];
  let len = bytes[offset + 1];
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > bytes.length) throw new Error("bad DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[start + i];
    start += n;
  }
  const end = start + len;
  if (end > bytes.length) throw new Error("truncated DER");
  return { tag, start, end };
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Decodes standard (or URL-safe) base64; undefined when it is not base64. */
export function decodeBase64(text: string): Uint8Array | undefined {
  try {
    const bin = atob(text.trim().replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/**
 * Parses a PEM public key (`-----BEGIN PUBLIC KEY-----`, SPKI, as `cosign generate-key-pair` and
 * `openssl pkey -pubout` write it) and tells its algorithm. `name` is how messages call it.
 *
 * @example
 * ```ts
 * import { readFile } from "node:fs/promises";
 * const key = parsePublicKey(await readFile("cosign.pub", "utf8"), "cosign.pub");
 * console.log(key.algorithm, key.name);
 * ```
 */
export function parsePublicKey(pem: string, name = "key"): PublicKey {
  const m = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/.exec(pem);
  if (!m) throw new FormatError(`Cannot read key ${name}: not a PEM public key (no -----BEGIN PUBLIC KEY----- block)`);
  if (m[1] !== "PUBLIC KEY") {
    const hint = m[1].includes("PRIVATE") ? "it is a private key; pass the public one (cosign.pub)" : `a ${m[1]} block`;
    throw new UnsupportedError(`Cannot use key ${name}: ${hint}; expected -----BEGIN PUBLIC KEY----- (SPKI)`);
  }
  const spki = decodeBase64(m[2].replace(/\s+/g, ""));
  if (!spki) throw new FormatError(`Cannot read key ${name}: the PEM body is not base64`);
  let algorithm: KeyAlgorithm;
  try {
    const outer = readTlv(spki, 0);
    const algo = readTlv(spki, outer.start);
    const oid = readTlv(spki, algo.start);
    if (outer.tag !== 0x30 || algo.tag !== 0x30 || oid.tag !== 0x06) throw new Error("not SPKI");
    const id = hex(spki.subarray(oid.start, oid.end));
    if (id === OID.ecPublicKey) {
      const param = readTlv(spki, oid.end);
      const curve = hex(spki.subarray(param.start, param.end));
      const curves: Record<string, KeyAlgorithm> = {
        [OID.p256]: "ecdsa-p256",
        [OID.p384]: "ecdsa-p384",
        [OID.p521]: "ecdsa-p521",
      };
      if (!curves[curve]) throw new UnsupportedError(`Cannot use key ${name}: an ECDSA curve other than P-256/384/521`);
      algorithm = curves[curve];
    } else if (id === OID.ed25519) algorithm = "ed25519";
    else if (id === OID.rsa) algorithm = "rsa";
    else if (id === OID.rsaPss) algorithm = "rsa-pss";
    else throw new UnsupportedError(`Cannot use key ${name}: unknown key algorithm (OID ${id})`);
  } catch (err) {
    if (err instanceof UnsupportedError) throw err;
    throw new FormatError(`Cannot read key ${name}: not a DER SubjectPublicKeyInfo (${(err as Error).message})`);
  }
  return { name, algorithm, spki };
}

const CURVES: Record<string, { namedCurve: string; size: number; hashes: string[] }> = {
  "ecdsa-p256": { namedCurve: "P-256", size: 32, hashes: ["SHA-256"] },
  "ecdsa-p384": { namedCurve: "P-384", size: 48, hashes: ["SHA-384", "SHA-256"] },
  "ecdsa-p521": { namedCurve: "P-521", size: 66, hashes: ["SHA-512", "SHA-256"] },
};

/**
 * An ASN.1 DER ECDSA signature (`SEQUENCE { INTEGER r, INTEGER s }`, what cosign and Go write) as the raw `r || s`
 * WebCrypto verifies, each `size` bytes; a signature already raw (`2 × size` bytes, not DER) is returned as is.
 *
 * @example
 * ```ts
 * const raw = ecdsaDerToRaw(der, 32); // 64 bytes for P-256
 * ```
 */
export function ecdsaDerToRaw(signature: Uint8Array, size: number): Uint8Array | undefined {
  try {
    const seq = readTlv(signature, 0);
    if (seq.tag !== 0x30 || seq.end !== signature.length) throw new Error("not DER");
    const r = readTlv(signature, seq.start);
    const s = readTlv(signature, r.end);
    if (r.tag !== 0x02 || s.tag !== 0x02 || s.end !== seq.end) throw new Error("not DER");
    const out = new Uint8Array(2 * size);
    for (const [i, int] of [r, s].entries()) {
      let value = signature.subarray(int.start, int.end);
      while (value.length > 1 && value[0] === 0) value = value.subarray(1);
      if (value.length > size) return undefined;
      out.set(value, (i + 1) * size - value.length);
    }
    return out;
  } catch {
    return signature.length === 2 * size ? signature : undefined;
  }
}

function bufferOf(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

/**
 * Whether `signature` is `key`'s signature over `message`: ECDSA (DER or raw; SHA-256 for P-256, the curve's own
 * hash first for P-384/P-521), Ed25519 (pure), RSA (PKCS#1 v1.5 with SHA-256, as cosign signs; then PSS with
 * SHA-256 and a 32-byte or the largest salt).
 *
 * @example
 * ```ts
 * const ok = await verifySignature(key, payload, decodeBase64(annotation)!);
 * ```
 */
export async function verifySignature(key: PublicKey, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const subtle = globalThis.crypto.subtle;
  const spki = bufferOf(key.spki);
  const data = bufferOf(message);
  const curve = CURVES[key.algorithm];
  if (curve) {
    const raw = ecdsaDerToRaw(signature, curve.size);
    if (!raw) return false;
    const imported = await subtle.importKey("spki", spki, { name: "ECDSA", namedCurve: curve.namedCurve }, false, [
      "verify",
    ]);
    for (const hash of curve.hashes) {
      if (await subtle.verify({ name: "ECDSA", hash }, imported, bufferOf(raw), data)) return true;
    }
    return false;
  }
  if (key.algorithm === "ed25519") {
    const imported = await subtle.importKey("spki", spki, { name: "Ed25519" }, false, ["verify"]);
    return await subtle.verify({ name: "Ed25519" }, imported, bufferOf(signature), data);
  }
  if (key.algorithm === "rsa") {
    const pkcs1 = await subtle.importKey("spki", spki, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, [
      "verify",
    ]);
    if (await subtle.verify({ name: "RSASSA-PKCS1-v1_5" }, pkcs1, bufferOf(signature), data)) return true;
  }
  // RSA-PSS: a PSS key, or an rsaEncryption key used with PSS (sigstore allows both).
  let pss: CryptoKey;
  try {
    pss = await subtle.importKey("spki", spki, { name: "RSA-PSS", hash: "SHA-256" }, false, ["verify"]);
  } catch {
    return false; // a PSS key with parameters WebCrypto does not take
  }
  const bits = (pss.algorithm as RsaHashedKeyAlgorithm).modulusLength;
  const maxSalt = Math.ceil((bits - 1) / 8) - 32 - 2;
  for (const saltLength of new Set([32, maxSalt])) {
    if (saltLength < 0) continue;
    if (await subtle.verify({ name: "RSA-PSS", saltLength }, pss, bufferOf(signature), data)) return true;
  }
  return false;
}

/**
 * A simple-signing payload's claims (containers/image's signature format, which cosign signs).
 *
 * @example
 * ```ts
 * const claims: SimpleSigning = parseSimpleSigning(payload);
 * console.log(claims.dockerManifestDigest, claims.dockerReference);
 * ```
 */
export interface SimpleSigning {
  /** `critical.image.docker-manifest-digest`: the digest signed. */
  dockerManifestDigest: string;
  /** `critical.identity.docker-reference`: the repository it was signed as (not checked: images move). */
  dockerReference?: string;
  /** `critical.type`. */
  type: string;
  /** `optional`: the annotations `cosign sign -a` adds. */
  optional?: Record<string, unknown> | null;
}

/**
 * Parses a simple-signing payload, refusing one without `critical.image.docker-manifest-digest` and `critical.type`.
 *
 * @example
 * ```ts
 * parseSimpleSigning(new TextEncoder().encode(JSON.stringify({
 *   critical: { identity: { "docker-reference": "r/app" }, image: { "docker-manifest-digest": "sha256:…" }, type: "cosign container image signature" },
 *   optional: null,
 * })).dockerManifestDigest; // "sha256:…"
 * ```
 */
export function parseSimpleSigning(bytes: Uint8Array): SimpleSigning {
  let doc: { critical?: { identity?: Record<string, unknown>; image?: Record<string, unknown>; type?: unknown } };
  let optional: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
    optional = (doc as { optional?: unknown }).optional;
  } catch (err) {
    throw new FormatError(`Cannot parse the simple-signing payload: ${(err as Error).message}`);
  }
  const digest = doc?.critical?.image?.["docker-manifest-digest"];
  const type = doc?.critical?.type;
  if (typeof digest !== "string" || typeof type !== "string") {
    throw new FormatError(
      "Cannot parse the simple-signing payload: no critical.image.docker-manifest-digest or critical.type",
    );
  }
  const reference = doc.critical?.identity?.["docker-reference"];
  return {
    dockerManifestDigest: digest,
    type,
    ...(typeof reference === "string" ? { dockerReference: reference } : {}),
    ...(optional && typeof optional === "object" ? { optional: optional as Record<string, unknown> } : {}),
  };
}

/**
 * What checking one signature found: verified by a key, or not, with the reason in a few words.
 *
 * @example
 * ```ts
 * declare const payload: Uint8Array, signature: string, digest: string, keys: PublicKey[];
 * const verdict: SignatureVerdict = await verifySimpleSigning({ payload, signature, digest, keys });
 * if (!verdict.verified) console.log(verdict.reason);
 * ```
 */
export type SignatureVerdict =
  | { verified: true; key: string; reference?: string }
  | { verified: false; reason: string };

async function anyKey(keys: PublicKey[], message: Uint8Array, signature: Uint8Array): Promise<string | undefined> {
  for (const key of keys) if (await verifySignature(key, message, signature)) return key.name;
  return undefined;
}

function keyNames(keys: PublicKey[]): string {
  return keys.map((k) => k.name).join(", ");
}

/**
 * Checks a cosign signature layer as `cosign verify --key` does (its transparency-log entry aside): the payload is
 * simple-signing naming `digest`, and the base64 `signature` (the layer's `dev.cosignproject.cosign/signature`
 * annotation) verifies over the payload's exact bytes with one of `keys`.
 *
 * @example
 * ```ts
 * declare const payload: Uint8Array, layer: Descriptor, root: Descriptor, key: PublicKey;
 * const verdict = await verifySimpleSigning({
 *   payload, // the layer's bytes, exactly
 *   signature: layer.annotations?.["dev.cosignproject.cosign/signature"],
 *   digest: root.digest,
 *   keys: [key],
 * });
 * console.log(verdict.verified);
 * ```
 */
export async function verifySimpleSigning(
  input: { payload: Uint8Array; signature: string | undefined; digest: string; keys: PublicKey[] },
): Promise<SignatureVerdict> {
  if (!input.signature) return { verified: false, reason: `no ${COSIGN_SIGNATURE_ANNOTATION} annotation` };
  let claims: SimpleSigning;
  try {
    claims = parseSimpleSigning(input.payload);
  } catch (err) {
    return { verified: false, reason: (err as Error).message.replace(/^Cannot parse the /, "not a valid ") };
  }
  if (claims.dockerManifestDigest !== input.digest) {
    return { verified: false, reason: `the payload signs ${claims.dockerManifestDigest}, not this image` };
  }
  const signature = decodeBase64(input.signature);
  if (!signature) return { verified: false, reason: "the signature annotation is not base64" };
  const key = await anyKey(input.keys, input.payload, signature);
  if (!key) return { verified: false, reason: `does not verify with ${keyNames(input.keys)}` };
  return { verified: true, key, ...(claims.dockerReference ? { reference: claims.dockerReference } : {}) };
}

/**
 * DSSE's pre-authentication encoding: what a DSSE signature is over.
 *
 * @example
 * ```ts
 * dssePae("application/vnd.in-toto+json", statement); // "DSSEv1 28 application/vnd.in-toto+json 123 {…}"
 * ```
 */
export function dssePae(payloadType: string, payload: Uint8Array): Uint8Array {
  const enc = new TextEncoder();
  const head = enc.encode(`DSSEv1 ${enc.encode(payloadType).byteLength} ${payloadType} ${payload.byteLength} `);
  const out = new Uint8Array(head.byteLength + payload.byteLength);
  out.set(head);
  out.set(payload, head.byteLength);
  return out;
}

interface DsseEnvelope {
  payloadType?: unknown;
  payload?: unknown;
  signatures?: { sig?: unknown }[];
}

/**
 * Checks a DSSE envelope (an in-toto statement): one of its signatures verifies over the PAE with one of `keys`,
 * and, given `digest`, the statement's subjects include it (`digest.sha256`).
 *
 * @example
 * ```ts
 * const verdict = await verifyDsse(JSON.parse(text), { digest: root.digest, keys: [key] });
 * ```
 */
export async function verifyDsse(
  envelope: unknown,
  input: { digest?: string; keys: PublicKey[] },
): Promise<SignatureVerdict> {
  const env = envelope as DsseEnvelope | undefined;
  const payload = typeof env?.payload === "string" ? decodeBase64(env.payload) : undefined;
  if (!payload || typeof env?.payloadType !== "string" || !Array.isArray(env.signatures)) {
    return { verified: false, reason: "not a DSSE envelope (payloadType, payload, signatures)" };
  }
  if (input.digest !== undefined) {
    let subjects: { digest?: Record<string, unknown> }[] = [];
    try {
      const statement = JSON.parse(new TextDecoder().decode(payload));
      subjects = Array.isArray(statement?.subject) ? statement.subject : [];
    } catch {
      return { verified: false, reason: "the DSSE payload is not JSON" };
    }
    const [algorithm, value] = input.digest.split(":");
    if (!subjects.some((s) => s?.digest?.[algorithm] === value)) {
      return { verified: false, reason: "the statement's subjects do not include this image" };
    }
  }
  const pae = dssePae(env.payloadType, payload);
  for (const s of env.signatures) {
    const signature = typeof s?.sig === "string" ? decodeBase64(s.sig) : undefined;
    if (!signature) continue;
    const key = await anyKey(input.keys, pae, signature);
    if (key) return { verified: true, key };
  }
  return { verified: false, reason: `does not verify with ${keyNames(input.keys)}` };
}

/**
 * Checks a sigstore bundle (v0.1–v0.3 JSON) with `keys`: a `dsseEnvelope` bundle (cosign's new bundle format for
 * images: an in-toto statement naming the image) through {@link verifyDsse}. A `messageSignature` bundle is not
 * verified (its reason says so), and neither are certificates against a trusted root (Fulcio chains, Rekor or TSA
 * timestamps): the key is the trust root.
 *
 * @example
 * ```ts
 * const verdict = await verifySigstoreBundle(bundleBytes, { digest: root.digest, keys: [key] });
 * ```
 */
export async function verifySigstoreBundle(
  bytes: Uint8Array,
  input: { digest: string; keys: PublicKey[] },
): Promise<SignatureVerdict> {
  let bundle: { mediaType?: unknown; dsseEnvelope?: unknown; messageSignature?: unknown };
  try {
    bundle = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return { verified: false, reason: "the sigstore bundle is not JSON" };
  }
  if (typeof bundle?.mediaType !== "string" || !bundle.mediaType.startsWith("application/vnd.dev.sigstore.bundle")) {
    return { verified: false, reason: "not a sigstore bundle (no bundle mediaType)" };
  }
  if (bundle.dsseEnvelope) return await verifyDsse(bundle.dsseEnvelope, input);
  if (bundle.messageSignature) {
    return {
      verified: false,
      reason: "a messageSignature sigstore bundle is not supported (only DSSE bundles are verified with --key)",
    };
  }
  return { verified: false, reason: "the sigstore bundle holds neither a dsseEnvelope nor a messageSignature" };
}
