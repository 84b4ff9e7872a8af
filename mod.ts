/**
 * ferry: carry multi-architecture container images between registries, files and air-gapped hosts,
 * daemonless, without losing a platform. Runs under Bun and Deno.
 *
 * Two tiers: verbs that take strings (`copy`, `exportImage`, `inspect`), and the building blocks they are
 * made of — references, platforms, locations, stores and the one engine, {@link copyGraph}.
 *
 * @example
 * ```ts
 * import { copy, exportImage } from "./mod.ts";
 *
 * // Every platform, digests preserved, from one registry to another.
 * await copy("127.0.0.1:5000/app:1.0", "127.0.0.1:5001/mirror/app:1.0");
 *
 * // One docker-load tarball per platform: out/image-amd64.tar.gz, out/image-arm64.tar.gz, ...
 * const { files } = await exportImage("127.0.0.1:5000/app:1.0", "out");
 * ```
 *
 * @module
 */

// Verbs
export { copy, type CopyImageResult, type CopyOptions } from "./lib/ops/copy.ts";
export {
  type ExportFormat,
  exportImage,
  type ExportImageOptions,
  type ExportImageResult,
} from "./lib/ops/export_image.ts";
export { type ImportedImage, importImage, type ImportOptions, type ImportResult } from "./lib/ops/import.ts";
export { inspect, type InspectedEntry, type InspectOptions, type InspectResult } from "./lib/ops/inspect.ts";
export {
  annotateManifestList,
  type AnnotateManifestListOptions,
  createManifestList,
  type CreateManifestListOptions,
  type ManifestDraftResult,
  pushManifestList,
  type PushManifestListResult,
  pushManifestSpec,
  removeManifestList,
} from "./lib/ops/manifest_list.ts";
export { inspectManifestList, type InspectManifestListResult } from "./lib/ops/manifest_inspect.ts";
export { type ManifestSpec, manifestSpecFromArgs, parseManifestSpec } from "./lib/ops/manifest_spec.ts";
export { lintPlatforms, type PlatformIssue } from "./lib/ops/platform_lint.ts";
export { split, type SplitOptions, type SplitResult } from "./lib/ops/split.ts";
export { build, type BuildOptions, type BuildResult, type BuiltImage } from "./lib/ops/build.ts";
export {
  mirror,
  type MirrorEvent,
  type MirrorImageResult,
  type MirrorOptions,
  type MirrorResult,
} from "./lib/ops/mirror.ts";
export { type MirrorSource, type MirrorSpec, parseMirrorSpec } from "./lib/ops/mirror_spec.ts";
export { login, type LoginOptions, type LoginResult, logout } from "./lib/ops/login.ts";
export { type RunningRegistry, serve, type ServeEvent, type ServeImagesOptions } from "./lib/ops/serve.ts";

// The engine and its stores
export { type CopyEvent, copyGraph, type CopyGraphOptions, type CopyResult } from "./lib/graph/copy.ts";
export type { ContentStore, ReadableStore, StoreOptions, WritableStore } from "./lib/store/store.ts";
export { openDestination, openSource } from "./lib/store/open.ts";
export { openRegistryStore, RegistryStore } from "./lib/store/registry_store.ts";
export { OciLayoutStore } from "./lib/store/oci_layout.ts";
export { ArchiveWriter } from "./lib/store/docker_archive.ts";
export { MemoryStore } from "./lib/store/memory.ts";
export { type ExportedFile, exportImage as exportFromStore } from "./lib/ops/export.ts";
export type { RegistryOptions } from "./lib/registry/client.ts";

// References, platforms, locations, content
export { formatReference, parseReference, type Reference } from "./lib/ref/reference.ts";
export { formatPlatform, matchPlatform, parsePlatform, platformLabel } from "./lib/ref/platform.ts";
export { formatLocation, type Location, parseLocation } from "./lib/ref/location.ts";
export type { Descriptor, Platform } from "./lib/oci/descriptor.ts";
export { MediaType } from "./lib/oci/media_types.ts";
export { verifyStream } from "./lib/stream/verify.ts";
export { buildIndex } from "./lib/oci/index_edit.ts";

// Fixtures and the embedded registry
export { buildSampleImage } from "./lib/sample/sample_image.ts";
export { registryHandler } from "./lib/server/handler.ts";

// Errors
export {
  AbortError,
  AuthError,
  DigestMismatchError,
  ExitCode,
  exitCodeOf,
  FerryError,
  FileError,
  FormatError,
  formatError,
  IntegrityError,
  NetworkError,
  NotFoundError,
  PartialError,
  RateLimitError,
  RegistryError,
  SizeMismatchError,
  UnsupportedError,
  UsageError,
} from "./lib/errors.ts";
