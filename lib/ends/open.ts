/**
 * Turns a parsed {@link Location} into the store for that end.
 *
 * @module
 */
import { DEFAULT_GZIP_LEVEL } from "../stream/gzip.ts";
import { UnsupportedError, UsageError } from "../errors.ts";
import type { Location } from "../ref/location.ts";
import { formatReference, referenceTarget } from "../ref/reference.ts";
import type { RegistryOptions } from "../remote/client.ts";

/** Registry access (credentials, plain HTTP, TLS, retries), as lib/remote/client.ts takes it: for the engine, which reaches the registry only through the ends. */
export type { RegistryOptions };
import { ArchiveStore } from "./archive_reader.ts";
import { ArchiveWriter } from "./archive_writer.ts";
import { DockerEngineStore } from "./docker_engine.ts";
import { refuseLocalName } from "./local_name.ts";
import { OciLayoutStore } from "./oci_layout.ts";
import { openRegistryStore } from "./registry.ts";
import type { ReadableStore, WritableStore } from "./store.ts";

/**
 * Options for opening either end.
 *
 * @example
 * ```ts
 * const options: OpenOptions = { registry: { username: "ci", password: "secret", retries: 5 } };
 * await openSource(parseLocation("registry.example.com/team/app:1.0"), options);
 * ```
 */
export interface OpenOptions {
  /** Registry access (credentials, plain HTTP, TLS, retries) for this end. */
  registry?: RegistryOptions;
}

/**
 * A source store and what to resolve in it.
 *
 * @example
 * ```ts
 * const source: OpenedSource = await openSource(parseLocation("oci-archive:app.oci.tar:1.0"));
 * const root = await source.store.resolve(source.target);
 * await source.dispose?.();
 * ```
 */
export interface OpenedSource {
  /** The store to read from. */
  store: ReadableStore;
  /** The tag or digest to resolve; "" lets a single-image layout pick its only entry. */
  target: string;
  /** The repository users know this image by (`127.0.0.1:5000/app`, `alpine`), for naming outputs. */
  repository: string;
  /** The source tag, when there is one. */
  tag?: string;
  /** Frees what opening took (an archive's spool directory); call when done reading. */
  dispose?(): Promise<void>;
}

/**
 * Opens a location to read from. A plain reference that names an existing file or directory here
 * (`out/image-amd64.tar.gz`) is a {@link UsageError} naming the location form to write.
 *
 * @example
 * ```ts
 * const { store, target } = await openSource(parseLocation("docker://127.0.0.1:5000/app:1.0"));
 * const root = await store.resolve(target);
 * ```
 */
export async function openSource(location: Location, options: OpenOptions = {}): Promise<OpenedSource> {
  switch (location.kind) {
    case "registry": {
      await refuseLocalName(location);
      const ref = location.reference;
      return {
        store: openRegistryStore(ref, options.registry),
        target: referenceTarget(ref),
        repository: formatReference({ registry: ref.registry, repository: ref.repository }, { short: true }),
        tag: ref.tag,
      };
    }
    case "oci": {
      const store = await OciLayoutStore.open(location.path);
      return { store, target: location.tag ?? "", repository: baseName(location.path), tag: location.tag };
    }
    case "oci-archive":
    case "docker-archive": {
      // Either transport reads both kinds of archive (OCI layout tar, docker save tarball), plain or gzipped.
      const store = await ArchiveStore.open(location.path);
      const target = location.kind === "oci-archive"
        ? location.tag ?? ""
        : location.reference
        ? formatReference(location.reference, { short: true })
        : "";
      const tag = location.kind === "oci-archive" ? location.tag : location.reference?.tag;
      return {
        store,
        target,
        repository: baseName(location.path).replace(/\.(tar|tar\.gz|tgz)$/, ""),
        tag,
        dispose: () => store.dispose(),
      };
    }
    default:
      throw new UnsupportedError(
        `Cannot read from ${location.kind}: use ferry import FILE... docker-daemon: the other way round`,
      );
  }
}

/**
 * A destination store and the tag to point at the copied root.
 *
 * @example
 * ```ts
 * const destination: OpenedDestination = await openDestination(parseLocation("oci:out:1.0"), undefined);
 * await destination.store.close();
 * ```
 */
export interface OpenedDestination {
  /** The store to write to. */
  store: WritableStore;
  /** Tag (registry, OCI layout) or full `repo:tag` name (archives); undefined means untagged. */
  tag?: string;
}

/**
 * Opens a location to write to; `sourceTag` names the result where the location names no tag.
 *
 * @example
 * ```ts
 * const source = await openSource(parseLocation("127.0.0.1:5000/app:1.0"));
 * const root = await source.store.resolve(source.target);
 * const { store, tag } = await openDestination(parseLocation("oci:out"), source.tag);
 * await copyGraph(source.store, store, root);
 * if (tag) await store.tag(root, tag);
 * await store.close();
 * ```
 */
export async function openDestination(
  location: Location,
  sourceTag: string | undefined,
  options: OpenOptions & { gzipLevel?: number; resume?: "continue" | "restart" } = {},
): Promise<OpenedDestination> {
  switch (location.kind) {
    case "registry": {
      await refuseLocalName(location);
      const ref = location.reference;
      return {
        store: openRegistryStore(ref, options.registry),
        tag: ref.tag ?? (ref.digest ? undefined : sourceTag ?? "latest"),
      };
    }
    case "oci":
      return {
        store: await OciLayoutStore.open(location.path, { create: true, resume: options.resume }),
        tag: location.tag ?? sourceTag ?? "latest",
      };
    case "oci-archive":
    case "docker-archive": {
      const gz = /\.(tgz|gz)$/.test(location.path);
      const store = new ArchiveWriter(location.path, {
        gzipLevel: gz ? options.gzipLevel ?? DEFAULT_GZIP_LEVEL : false,
      });
      const tag = location.kind === "oci-archive" ? location.tag ?? sourceTag ?? "latest" : undefined;
      return { store, tag };
    }
    case "docker-daemon": {
      // The engine names images repo:tag (RepoTags), so copy needs one; import names images itself.
      const ref = location.reference;
      if (!ref) {
        throw new UsageError("Cannot load into docker-daemon: without a name: write docker-daemon:REPOSITORY[:TAG]");
      }
      return {
        store: new DockerEngineStore(),
        tag: formatReference({ ...ref, digest: undefined, tag: ref.tag ?? "latest" }, { short: true }),
      };
    }
  }
}

function baseName(path: string): string {
  const parts = path.replace(/\/+$/, "").split("/");
  return parts[parts.length - 1] || "image";
}
