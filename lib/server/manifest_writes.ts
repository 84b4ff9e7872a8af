/**
 * Manifest PUT and DELETE (distribution spec "Pushing manifests", "Deleting tags/manifests"): the body is
 * bounded, parsed and checked (media type, digest, every referenced blob or child manifest present) before
 * anything is stored.
 *
 * @module
 */
import { FormatError, UnsupportedError } from "../errors.ts";
import type { Descriptor } from "../oci/descriptor.ts";
import { digestOf, isDigest, splitDigest } from "../oci/digest.ts";
import { parseManifest } from "../oci/manifest.ts";
import { isManifest } from "../oci/media_types.ts";
import { MAX_MANIFEST_BYTES, readLimited } from "../stream/read_limited.ts";
import type { RegistryBackend, RegistryWriter } from "./backend.ts";
import { API_VERSION, httpError } from "./responses.ts";

/**
 * Stores the manifest in the request body under `reference` (a tag, or the digest it must have) of
 * repository `name`: 201 with `Location` and `Docker-Content-Digest` (and `OCI-Subject` for a manifest with
 * a subject). Errors: 413 `SIZE_INVALID`, 400 `MANIFEST_INVALID`, `DIGEST_INVALID`, `MANIFEST_BLOB_UNKNOWN`.
 */
export async function putManifest(
  backend: RegistryBackend,
  name: string,
  reference: string,
  req: Request,
): Promise<Response> {
  const writer = backend.writer!;
  const declared = Number(req.headers.get("Content-Length") ?? 0);
  if (declared > MAX_MANIFEST_BYTES) {
    await req.body?.cancel().catch(() => {});
    throw httpError(
      413,
      "SIZE_INVALID",
      `Cannot accept a manifest of ${declared} bytes: the limit is ${MAX_MANIFEST_BYTES}`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = req.body ? await readLimited(req.body, MAX_MANIFEST_BYTES) : new Uint8Array();
  } catch (err) {
    if (err instanceof FormatError) {
      throw httpError(413, "SIZE_INVALID", `Cannot accept the manifest: larger than ${MAX_MANIFEST_BYTES} bytes`);
    }
    throw err;
  }
  const contentType = (req.headers.get("Content-Type") ?? "").split(";")[0].trim();
  const mediaType = checkManifest(bytes, contentType);
  const algorithm = isDigest(reference) ? splitDigest(reference)[0] : "sha256";
  const desc: Descriptor = { mediaType, digest: digestOf(bytes, algorithm), size: bytes.byteLength };
  if (isDigest(reference) && reference !== desc.digest) {
    throw httpError(400, "DIGEST_INVALID", `Cannot store manifest as ${reference}: its digest is ${desc.digest}`);
  }
  const parsed = parseManifest(bytes, mediaType);
  const referenced = parsed.kind === "index"
    ? parsed.index.manifests
    : [parsed.manifest.config, ...parsed.manifest.layers];
  const missing = await firstMissing(writer, referenced);
  if (missing) {
    throw httpError(
      400,
      "MANIFEST_BLOB_UNKNOWN",
      `Cannot store manifest: it references ${missing.digest}, which is not in the registry`,
    );
  }
  await writer.putManifest(name, desc, bytes, isDigest(reference) ? undefined : reference);
  const subject = parsed.kind === "index" ? parsed.index.subject : parsed.manifest.subject;
  return new Response(null, {
    status: 201,
    headers: {
      ...API_VERSION,
      Location: `/v2/${name}/manifests/${desc.digest}`,
      "Docker-Content-Digest": desc.digest,
      "Content-Length": "0",
      ...(subject?.digest ? { "OCI-Subject": subject.digest } : {}),
    },
  });
}

/** Deletes a tag, or a manifest by digest, from repository `name`: 202, or 404 `MANIFEST_UNKNOWN`. */
export async function deleteManifest(writer: RegistryWriter, name: string, reference: string): Promise<Response> {
  await writer.deleteManifest(name, reference);
  return new Response(null, { status: 202, headers: { ...API_VERSION, "Content-Length": "0" } });
}

/** The media type the manifest is stored with; 400 `MANIFEST_INVALID` for anything that is not a manifest. */
function checkManifest(bytes: Uint8Array, contentType: string): string {
  let doc: { mediaType?: unknown; schemaVersion?: unknown };
  try {
    doc = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw httpError(400, "MANIFEST_INVALID", `Cannot parse the manifest: ${(err as Error).message}`);
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    throw httpError(400, "MANIFEST_INVALID", "Cannot parse the manifest: not an object");
  }
  const own = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  if (own && contentType && contentType !== own && isManifest(contentType)) {
    throw httpError(
      400,
      "MANIFEST_INVALID",
      `Cannot store the manifest: Content-Type ${contentType} differs from its mediaType ${own}`,
    );
  }
  const mediaType = own ?? (isManifest(contentType) ? contentType : undefined);
  if (!mediaType || !isManifest(mediaType)) {
    throw httpError(
      400,
      "MANIFEST_INVALID",
      `Cannot store the manifest: unsupported media type "${mediaType ?? contentType}"`,
    );
  }
  if (doc.schemaVersion !== 2) {
    throw httpError(400, "MANIFEST_INVALID", "Cannot store the manifest: schemaVersion must be 2");
  }
  try {
    parseManifest(bytes, mediaType);
  } catch (err) {
    if (err instanceof FormatError || err instanceof UnsupportedError) {
      throw httpError(400, "MANIFEST_INVALID", err.message);
    }
    throw err;
  }
  return mediaType;
}

async function firstMissing(writer: RegistryWriter, descriptors: Descriptor[]): Promise<Descriptor | undefined> {
  for (const d of descriptors) {
    if (!isDigest(d.digest) || (await writer.blobSize(d.digest)) !== d.size) return d;
  }
  return undefined;
}
