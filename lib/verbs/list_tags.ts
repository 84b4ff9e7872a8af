/**
 * `ferry ls REPO`: the tags of a registry repository (tags/list, every page) or of an OCI layout (index.json's
 * ref.name annotations), like `crane ls` and `skopeo list-tags`.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { OciLayoutStore } from "../ends/oci_layout.ts";
import { openRegistryStore } from "../ends/registry.ts";
import { parseLocation } from "../ref/location.ts";
import type { RegistryOptions } from "../remote/client.ts";

/**
 * Options of {@link listTags}.
 *
 * @example
 * ```ts
 * const options: ListTagsOptions = { registry: { username: "ci", password: "secret" } };
 * await listTags("registry.example.com/team/app", options);
 * ```
 */
export interface ListTagsOptions {
  /** Registry access (credentials, plain HTTP, TLS, retries). */
  registry?: RegistryOptions;
  /** Aborts the requests. */
  signal?: AbortSignal;
}

/**
 * The tags of `repo` (`HOST/REPO`, `docker://HOST/REPO` or `oci:DIR`), in the order the registry or layout gives.
 *
 * @example
 * ```ts
 * const tags = await listTags("127.0.0.1:5000/app");
 * console.log(tags); // ["1.0", "1.1", "latest"]
 * ```
 */
export async function listTags(repo: string, options: ListTagsOptions = {}): Promise<string[]> {
  const location = parseLocation(repo);
  switch (location.kind) {
    case "registry": {
      const ref = location.reference;
      if (ref.tag !== undefined || ref.digest !== undefined) {
        throw new UsageError(`Cannot list tags of "${repo}": name a repository, without a tag or digest`);
      }
      return await openRegistryStore(ref, options.registry).listTags({ signal: options.signal });
    }
    case "oci": {
      if (location.tag !== undefined) {
        throw new UsageError(`Cannot list tags of "${repo}": name the layout directory, without a tag`);
      }
      return (await OciLayoutStore.open(location.path)).listTags();
    }
    default:
      throw new UsageError(`Cannot list tags of ${location.kind}: ferry ls takes a registry repository or oci:DIR`);
  }
}
