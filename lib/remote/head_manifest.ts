/**
 * The cheapest question a registry answers: does this tag or digest exist, and what is its digest?
 * One `HEAD` request, no fallback `GET` (a `GET` of a manifest counts as a pull on Docker Hub) unless
 * the registry does not allow `HEAD` (405, 501).
 *
 * @module
 */
import { FerryError, NetworkError } from "../errors.ts";
import { digestOf, isDigest, splitDigest } from "../oci/digest.ts";
import { MAX_MANIFEST_BYTES, readLimited, streamOf } from "../stream/read_limited.ts";
import { MANIFEST_ACCEPT } from "../oci/media_types.ts";
import type { RegistryClient } from "./client.ts";
import { drain, errorFromResponse } from "./errors.ts";
import { describeNetworkError } from "./retry.ts";

/** What a manifest `HEAD` told: present or not, and its descriptor fields when the registry sent them. */
export interface ManifestHead {
  /** False for a 404 (unknown tag, digest or repository). */
  exists: boolean;
  /** `Docker-Content-Digest`, or the reference itself when it is a digest; undefined when unknown. */
  digest?: string;
  mediaType?: string;
  size?: number;
}

/** Options of {@link headManifest}. */
export interface HeadManifestOptions {
  signal?: AbortSignal;
  /** The error's `ref` (the image as the user knows it). */
  ref?: string;
}

/**
 * `HEAD /v2/<repository>/manifests/<reference>`: exactly one request (plus the auth challenge and
 * retries of transient failures). A 404 is an answer (`exists: false`); any other failure throws the
 * registry's error (AuthError, RegistryError …).
 *
 * @example
 * ```ts
 * const head = await headManifest(clientFor("127.0.0.1:5000"), "mirror/app", "1.0");
 * if (head.exists && head.digest === sourceDigest) console.log("up to date");
 * ```
 */
export async function headManifest(
  client: RegistryClient,
  repository: string,
  reference: string,
  options: HeadManifestOptions = {},
): Promise<ManifestHead> {
  const path = `/v2/${repository}/manifests/${reference}`;
  const ask = (method: string) =>
    client.send(path, {
      method,
      headers: { Accept: MANIFEST_ACCEPT },
      scopes: [`repository:${repository}:pull`],
      signal: options.signal,
    });
  let res = await ask("HEAD");
  let method = "HEAD";
  let bytes: Uint8Array | undefined;
  if (res.status === 405 || res.status === 501) {
    await drain(res);
    method = "GET";
    res = await ask("GET");
    if (res.ok) {
      bytes = await readLimited(res.body ?? streamOf(new Uint8Array()), MAX_MANIFEST_BYTES).catch((err) => {
        if (err instanceof FerryError) throw err;
        throw new NetworkError(
          `Cannot reach ${client.host}: connection lost while reading manifest ${reference}: ${
            describeNetworkError(err)
          }`,
          { ref: options.ref, cause: err },
        );
      });
    }
  }
  if (res.status === 404) {
    await drain(res);
    return { exists: false };
  }
  if (!res.ok) {
    throw await errorFromResponse(res, {
      verb: "check",
      what: `manifest ${reference}`,
      host: client.host,
      method,
      url: client.url(path),
      ref: options.ref,
    });
  }
  await drain(res);
  const header = res.headers.get("docker-content-digest");
  const computed = bytes ? digestOf(bytes, isDigest(reference) ? splitDigest(reference)[0] : "sha256") : undefined;
  const digest = header && isDigest(header) ? header : isDigest(reference) ? reference : computed;
  const mediaType = res.headers.get("content-type")?.split(";")[0].trim();
  const size = bytes ? bytes.byteLength : Number(res.headers.get("content-length") ?? NaN);
  return {
    exists: true,
    ...(digest ? { digest } : {}),
    ...(mediaType && mediaType !== "application/json" && mediaType !== "text/plain" ? { mediaType } : {}),
    ...(Number.isSafeInteger(size) && size >= 0 ? { size } : {}),
  };
}
