/**
 * Referrers built in code, in the formats the tools that make them write: a cosign signature (the simple-signing
 * payload, ECDSA P-256 over it, under the tag `sha256-<hex>.sig`), a cosign in-toto attestation (a DSSE envelope
 * under `sha256-<hex>.att`), an SPDX SBOM as an OCI artifact with a `subject`, and a notation-style signature
 * artifact with a `subject` (which may be another referrer: a signature of an SBOM). Keys are made by the caller
 * ({@link generateSigningKey}); nothing is checked in.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from "node:crypto";
import type { Descriptor } from "../oci/descriptor.ts";
import { MediaType } from "../oci/media_types.ts";
import { schemaTag } from "../oci/referrers.ts";
import type { MemoryStore } from "../ends/memory.ts";

/** cosign's simple-signing payload layer. */
export const COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json";
/** A DSSE envelope layer (cosign attestations). */
export const DSSE_ENVELOPE = "application/vnd.dsse.envelope.v1+json";
/** cosign's signature annotation on a payload layer: base64 of the DER ECDSA signature. */
export const COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
/** SPDX JSON. */
export const SPDX_JSON = "application/spdx+json";
/** notation's signature artifact type. */
export const NOTATION_SIGNATURE = "application/vnd.cncf.notary.signature";

const FIXED_TIME = "2026-01-01T00:00:00Z";
const enc = new TextEncoder();

/**
 * An ECDSA P-256 key pair, as `cosign generate-key-pair` makes (unencrypted, in memory).
 *
 * @example
 * ```ts
 * const key: SigningKey = generateSigningKey();
 * ```
 */
export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public key as PEM (what `cosign verify --key cosign.pub` reads). */
  publicPem: string;
}

/**
 * A fresh key pair: ECDSA P-256 (cosign's default), Ed25519 or RSA 2048 (cosign signs RSA with PKCS#1 v1.5).
 *
 * @example
 * ```ts
 * const key = generateSigningKey();
 * const ed = generateSigningKey("ed25519");
 * console.log(key.publicPem);
 * ```
 */
export function generateSigningKey(kind: "ecdsa-p256" | "ed25519" | "rsa" = "ecdsa-p256"): SigningKey {
  const { privateKey, publicKey } = kind === "ed25519"
    ? generateKeyPairSync("ed25519")
    : kind === "rsa"
    ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { privateKey, publicKey, publicPem: publicKey.export({ type: "spki", format: "pem" }).toString() };
}

/** The hash `sign`/`verify` take for `key`: none for Ed25519 (it hashes itself), SHA-256 otherwise. */
function hashFor(key: KeyObject): string | null {
  return key.asymmetricKeyType === "ed25519" ? null : "sha256";
}

/**
 * A referrer made by one of the builders here, held in the store passed to it.
 *
 * @example
 * ```ts
 * const made: MadeReferrer = addSpdxSbom(sample.store, sample.root, { name: "app" });
 * console.log(made.desc.digest, made.subject);
 * ```
 */
export interface MadeReferrer {
  /** The referrer manifest. */
  desc: Descriptor;
  /** The digest it refers to. */
  subject: string;
  /** Its artifact type as ferry reports it. */
  artifactType: string;
  /** The cosign tag it is under (`sha256-<hex>.sig`), for cosign's. */
  tag?: string;
  /** The payload signed (simple-signing JSON, the in-toto statement, the SBOM document). */
  payload: Uint8Array;
}

function json(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value));
}

function blob(store: MemoryStore, bytes: Uint8Array, mediaType: string, annotations?: Record<string, string>) {
  const desc = store.put(bytes, mediaType);
  return annotations ? { ...desc, annotations } : desc;
}

/** The empty config of artifacts (`{}`), as the image spec defines it. */
function emptyConfig(store: MemoryStore): Descriptor {
  return store.put(enc.encode("{}"), MediaType.OciEmpty);
}

/** The config cosign writes for its tag manifests: an image config listing the payload layers. */
function cosignConfig(store: MemoryStore, layers: Descriptor[]): Descriptor {
  return store.put(
    json({
      architecture: "",
      created: "0001-01-01T00:00:00Z",
      history: [{ created: "0001-01-01T00:00:00Z" }],
      os: "",
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
    MediaType.OciConfig,
  );
}

function cosignManifest(store: MemoryStore, layer: Descriptor): Descriptor {
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: cosignConfig(store, [layer]),
    layers: [layer],
  };
  return store.put(json(manifest), MediaType.OciManifest);
}

/**
 * cosign's simple-signing payload for `subject` named `reference` (`host/repo`), byte for byte as cosign marshals it.
 *
 * @example
 * ```ts
 * const payload = simpleSigningPayload("127.0.0.1:5000/app", root.digest);
 * ```
 */
export function simpleSigningPayload(reference: string, digest: string): Uint8Array {
  return json({
    critical: {
      identity: { "docker-reference": reference },
      image: { "docker-manifest-digest": digest },
      type: "cosign container image signature",
    },
    optional: null,
  });
}

/**
 * Adds a cosign signature of `subject` to `store`, as `cosign sign --key` pushes it: a manifest whose one layer is
 * the simple-signing payload, annotated with the base64 ECDSA signature over it, tagged `sha256-<hex>.sig`.
 *
 * @example
 * ```ts
 * const key = generateSigningKey();
 * const sig = addCosignSignature(sample.store, sample.root, { reference: "127.0.0.1:5000/app", key });
 * ```
 */
export function addCosignSignature(
  store: MemoryStore,
  subject: Descriptor,
  options: { reference: string; key: SigningKey },
): MadeReferrer {
  const payload = simpleSigningPayload(options.reference, subject.digest);
  const signature = sign(hashFor(options.key.privateKey), payload, options.key.privateKey).toString("base64");
  const layer = blob(store, payload, COSIGN_SIMPLESIGNING, { [COSIGN_SIGNATURE_ANNOTATION]: signature });
  const desc = cosignManifest(store, layer);
  const tag = schemaTag(subject.digest, "sig");
  store.tags.set(tag, desc);
  return { desc, subject: subject.digest, artifactType: COSIGN_SIMPLESIGNING, tag, payload };
}

/** DSSE's pre-authentication encoding of a payload. */
function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const head = enc.encode(`DSSEv1 ${enc.encode(payloadType).byteLength} ${payloadType} ${payload.byteLength} `);
  const out = new Uint8Array(head.byteLength + payload.byteLength);
  out.set(head);
  out.set(payload, head.byteLength);
  return out;
}

/**
 * Adds a cosign in-toto attestation of `subject`, as `cosign attest --key` pushes it: a DSSE envelope (an in-toto
 * statement naming the subject's digest, signed over DSSE's PAE) as the one layer, tagged `sha256-<hex>.att`.
 *
 * @example
 * ```ts
 * const att = addCosignAttestation(sample.store, sample.root, { reference: "127.0.0.1:5000/app", key });
 * ```
 */
export function addCosignAttestation(
  store: MemoryStore,
  subject: Descriptor,
  options: { reference: string; key: SigningKey; predicateType?: string },
): MadeReferrer {
  const predicateType = options.predicateType ?? "https://slsa.dev/provenance/v1";
  const statement = json({
    _type: "https://in-toto.io/Statement/v1",
    subject: [{ name: options.reference, digest: { sha256: subject.digest.slice("sha256:".length) } }],
    predicateType,
    predicate: { buildDefinition: { buildType: "https://ferry.test/build" }, runDetails: {} },
  });
  const payloadType = "application/vnd.in-toto+json";
  const sig = sign(hashFor(options.key.privateKey), pae(payloadType, statement), options.key.privateKey).toString(
    "base64",
  );
  const envelope = json({
    payloadType,
    payload: Buffer.from(statement).toString("base64"),
    signatures: [{ keyid: "", sig }],
  });
  const layer = blob(store, envelope, DSSE_ENVELOPE, { [COSIGN_SIGNATURE_ANNOTATION]: "", predicateType });
  const desc = cosignManifest(store, layer);
  const tag = schemaTag(subject.digest, "att");
  store.tags.set(tag, desc);
  return { desc, subject: subject.digest, artifactType: DSSE_ENVELOPE, tag, payload: statement };
}

/**
 * Adds an SPDX 2.3 SBOM of `subject` as an OCI artifact (`artifactType: application/spdx+json`, the empty config,
 * the SBOM as its layer, `subject` naming the image), as `oras attach` and `syft attest --oci` write it.
 *
 * @example
 * ```ts
 * const sbom = addSpdxSbom(sample.store, sample.manifests[0], { name: "app" });
 * ```
 */
export function addSpdxSbom(store: MemoryStore, subject: Descriptor, options: { name: string }): MadeReferrer {
  const document = json({
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: options.name,
    documentNamespace: `https://ferry.test/spdx/${subject.digest.slice(7, 19)}`,
    creationInfo: { created: FIXED_TIME, creators: ["Tool: ferry-tests"] },
    packages: [{ SPDXID: "SPDXRef-busybox", name: "busybox", versionInfo: "1.36.1", downloadLocation: "NOASSERTION" }],
  });
  const layer = blob(store, document, SPDX_JSON, { "org.opencontainers.image.title": "sbom.spdx.json" });
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: SPDX_JSON,
    config: emptyConfig(store),
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { "org.opencontainers.image.created": FIXED_TIME },
  };
  const desc = store.put(json(manifest), MediaType.OciManifest);
  return {
    desc: { ...desc, artifactType: SPDX_JSON },
    subject: subject.digest,
    artifactType: SPDX_JSON,
    payload: document,
  };
}

/**
 * Adds a notation-style signature artifact of `subject` (any manifest: an image, or an SBOM): `artifactType`
 * `application/vnd.cncf.notary.signature`, the ECDSA signature of the subject's descriptor as its layer, `subject`.
 *
 * @example
 * ```ts
 * const signed = addNotationSignature(sample.store, sbom.desc, { key });
 * ```
 */
export function addNotationSignature(
  store: MemoryStore,
  subject: Descriptor,
  options: { key: SigningKey },
): MadeReferrer {
  const payload = json({
    targetArtifact: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  });
  const signature = sign(hashFor(options.key.privateKey), payload, options.key.privateKey);
  const layer = blob(store, new Uint8Array(signature), "application/jose+json", {
    "io.cncf.notary.payload": Buffer.from(payload).toString("base64"),
  });
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    artifactType: NOTATION_SIGNATURE,
    config: emptyConfig(store),
    layers: [layer],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations: { "io.cncf.notary.x509chain.thumbprint#S256": "[]" },
  };
  const desc = store.put(json(manifest), MediaType.OciManifest);
  return {
    desc: { ...desc, artifactType: NOTATION_SIGNATURE },
    subject: subject.digest,
    artifactType: NOTATION_SIGNATURE,
    payload,
  };
}

/**
 * Whether a cosign signature manifest's bytes (with its payload layer's bytes) hold a valid signature by `publicPem`
 * of the image `digest`: what `cosign verify --key` checks first.
 *
 * @example
 * ```ts
 * verifyCosignSignature(manifestBytes, payloadBytes, key.publicPem, root.digest); // true
 * ```
 */
export function verifyCosignSignature(
  manifestBytes: Uint8Array,
  payload: Uint8Array,
  publicPem: string,
  digest: string,
): boolean {
  const manifest = JSON.parse(new TextDecoder().decode(manifestBytes)) as { layers: Descriptor[] };
  const signature = manifest.layers[0]?.annotations?.[COSIGN_SIGNATURE_ANNOTATION];
  if (!signature) return false;
  const claims = JSON.parse(new TextDecoder().decode(payload));
  if (claims?.critical?.image?.["docker-manifest-digest"] !== digest) return false;
  const key = createPublicKey(publicPem);
  return verify(hashFor(key), payload, key, Buffer.from(signature, "base64"));
}
