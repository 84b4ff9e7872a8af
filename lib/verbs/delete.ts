/**
 * `ferry rm REF`: deletes an image from a registry (the manifest its tag or digest points at, so every tag of that
 * manifest goes too, as `skopeo delete` and `crane delete` do; the registry must allow deletes), or removes a tag
 * from an OCI layout's index.json (its blobs stay).
 *
 * @module
 */
import { NotFoundError, UsageError } from "../errors.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import { openRegistryStore } from "../ends/registry.ts";
import { formatLocation, parseLocation } from "../ref/location.ts";
import { referenceTarget } from "../ref/reference.ts";
import type { RegistryOptions } from "../remote/client.ts";

/**
 * Options of {@link deleteImage}.
 *
 * @example
 * ```ts
 * const options: DeleteOptions = { registry: { username: "ci", password: "secret" } };
 * await deleteImage("registry.example.com/team/app:old", options);
 * ```
 */
export interface DeleteOptions {
  /** Registry access (credentials, plain HTTP, TLS, retries). */
  registry?: RegistryOptions;
  /** Aborts the requests. */
  signal?: AbortSignal;
}

/**
 * What {@link deleteImage} removed.
 *
 * @example
 * ```ts
 * const deleted: DeleteResult = await deleteImage("127.0.0.1:5000/app:old");
 * console.log(deleted.reference, deleted.digest);
 * ```
 */
export interface DeleteResult {
  /** The reference as given, normalised. */
  reference: string;
  /** The manifest deleted (registry) or the one the removed tag pointed at (layout). */
  digest: string;
  /** `manifest`: deleted from a registry; `tag`: a tag removed from an OCI layout. */
  removed: "manifest" | "tag";
}

/**
 * Deletes `ref` (`HOST/REPO:TAG`, `HOST/REPO@DIGEST`, `oci:DIR:TAG`).
 *
 * @example
 * ```ts
 * const { digest } = await deleteImage("127.0.0.1:5000/app:old");
 * ```
 */
export async function deleteImage(ref: string, options: DeleteOptions = {}): Promise<DeleteResult> {
  const location = parseLocation(ref);
  const signal = options.signal;
  switch (location.kind) {
    case "registry": {
      const reference = location.reference;
      if (reference.tag === undefined && reference.digest === undefined) {
        throw new UsageError(`Cannot delete "${ref}": name a tag or digest (REPO:TAG or REPO@sha256:…)`);
      }
      const store = openRegistryStore(reference, options.registry);
      const root = await store.resolve(referenceTarget(reference), { signal });
      await store.deleteManifest(root.digest, { signal });
      return { reference: formatLocation(location), digest: root.digest, removed: "manifest" };
    }
    case "oci": {
      if (location.tag === undefined) throw new UsageError(`Cannot delete "${ref}": name the tag, oci:DIR:TAG`);
      const store = await OciLayoutStore.open(location.path);
      const root = await store.resolve(location.tag, { signal });
      if (!(await store.untag(location.tag))) {
        throw new NotFoundError(`Cannot find tag ${location.tag} in ${location.path}`, { ref });
      }
      return { reference: formatLocation(location), digest: root.digest, removed: "tag" };
    }
    default:
      throw new UsageError(`Cannot delete from ${location.kind}: ferry rm takes a registry reference or oci:DIR:TAG`);
  }
}
