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
export { copy, type CopyImageResult, type CopyOptions } from "./lib/verbs/copy.ts";
export type { ImageCopyOptions, ImageCopyReport } from "./lib/engine/image_copy.ts";
export {
  type ExportFormat,
  exportImage,
  type ExportImageOptions,
  type ExportImageResult,
} from "./lib/verbs/export/export.ts";
export { type ImportedImage, importImage, type ImportOptions, type ImportResult } from "./lib/verbs/import/import.ts";
export { exportBundle, type ExportBundleOptions, type ExportBundleResult } from "./lib/verbs/export/bundle.ts";
export {
  importBundle,
  type ImportBundleOptions,
  type ImportBundleResult,
  isBundleInput,
} from "./lib/verbs/import/bundle.ts";
export { type BundleListing, isBundlePath, listBundle } from "./lib/verbs/list_bundle.ts";
export type { BundleFile, DeltaSummary } from "./lib/engine/bundle_write.ts";
export type { PushedBundleImage } from "./lib/engine/bundle_push.ts";
export type { BundleSetImage } from "./lib/ends/bundle_set.ts";
export type { BundleImage, BundleReferrer, VolumeRecord, VolumesMeta } from "./lib/oci/bundle_meta.ts";
export { parseVolumeSize } from "./lib/engine/volumes.ts";
export { type ImageList, type ImageSource, parseImageList } from "./lib/ref/image_list.ts";
export {
  inspect,
  type InspectedBlob,
  type InspectedConfig,
  type InspectedEntry,
  type InspectOptions,
  type InspectResult,
} from "./lib/verbs/inspect.ts";
export { listTags, type ListTagsOptions } from "./lib/verbs/list_tags.ts";
export { deleteImage, type DeleteOptions, type DeleteResult } from "./lib/verbs/delete.ts";
export {
  annotateManifestList,
  type AnnotateManifestListOptions,
  createManifestList,
  type CreateManifestListOptions,
  type ManifestDraftResult,
  type ManifestListEntry,
  type ManifestListOptions,
  pushManifestList,
  type PushManifestListOptions,
  type PushManifestListResult,
  pushManifestSpec,
  type PushManifestSpecOptions,
  removeManifestList,
} from "./lib/verbs/manifest/list.ts";
export type { DraftOptions } from "./lib/verbs/manifest/draft.ts";
export {
  type InspectedImage,
  inspectManifestList,
  type InspectManifestListOptions,
  type InspectManifestListResult,
} from "./lib/verbs/manifest/inspect.ts";
export {
  type ManifestArgs,
  type ManifestSpec,
  type ManifestSpecEntry,
  manifestSpecFromArgs,
  parseManifestSpec,
} from "./lib/verbs/manifest/spec.ts";
export {
  type LintEntry,
  type LintOptions,
  lintPlatforms,
  type PlatformIssue,
  type PlatformIssueKind,
} from "./lib/verbs/manifest/platform_lint.ts";
export { split, type SplitOptions, type SplitResult, type SplitTag } from "./lib/verbs/split.ts";
export { VerificationError, verify, type VerifyOptions, type VerifyResult } from "./lib/verbs/verify.ts";
export {
  build,
  type BuildOptions,
  type BuildOutputFormat,
  type BuildResult,
  type BuiltImage,
} from "./lib/verbs/build/build.ts";
export {
  mirror,
  type MirrorEvent,
  type MirrorImageResult,
  type MirrorOptions,
  type MirrorResult,
} from "./lib/verbs/mirror/mirror.ts";
export { type MirrorRateLimit, type MirrorSource, type MirrorSpec, parseMirrorSpec } from "./lib/verbs/mirror/spec.ts";
export { login, type LoginOptions, type LoginResult, logout } from "./lib/verbs/login.ts";
export { type RunningRegistry, serve, type ServeEvent, type ServeImagesOptions } from "./lib/verbs/serve.ts";

// The engine and its stores
export { type CopyEvent, copyGraph, type CopyGraphOptions, type CopyResult } from "./lib/engine/copy_graph.ts";
export {
  copyReferrers,
  type CopyReferrersOptions,
  discoverReferrers,
  type DiscoverReferrersOptions,
  type Referrer,
  type ReferrersChoice,
  type ReferrersCopyResult,
  referrersOfRoots,
  referrerSummaries,
  type ReferrerSummary,
  type TransferRoot,
  transferRoots,
  type TransferRootsOptions,
  type TransferRootsResult,
  transferWithReferrers,
  type TransferWithReferrersOptions,
  type TransferWithReferrersResult,
} from "./lib/engine/referrers.ts";
export {
  storeSet,
  type VerifiedImage,
  type VerifiedSignature,
  verifyImages,
  type VerifyImagesOptions,
  type VerifyProblem,
  type VerifyProblemKind,
  type VerifyReport,
  type VerifyRoot,
} from "./lib/engine/verify.ts";
export {
  type KeyAlgorithm,
  parsePublicKey,
  type PublicKey,
  type SignatureVerdict,
  verifySimpleSigning,
} from "./lib/oci/cosign.ts";
export {
  type CopyPlan,
  type CopyPlanJson,
  type DryRunPlan,
  planCopy,
  type PlanCopyOptions,
  type PlanDestination,
  type PlannedItem,
  type PlanRoot,
  planRoots,
  planWithReferrers,
  type PlanWithReferrersOptions,
  type PlatformPlan,
  type ProbedDestination,
  probeDestination,
} from "./lib/engine/plan_copy.ts";
export type {
  ContentStore,
  PartialContent,
  PushOptions,
  PutReferrerOptions,
  ReadableStore,
  ReferrerDescriptor,
  ReferrersOptions,
  RegistryOrigin,
  StoreOptions,
  WritableStore,
} from "./lib/ends/store.ts";
export {
  openDestination,
  type OpenedDestination,
  type OpenedSource,
  type OpenOptions,
  openSource,
} from "./lib/ends/open.ts";
export { openRegistryStore, RegistryStore } from "./lib/ends/registry.ts";
export { type LayoutNaming, type NamedEntry, OciLayoutStore } from "./lib/ends/oci_layout.ts";
export type { FileRange } from "./lib/ends/layout_files.ts";
export type { EntryName } from "./lib/oci/annotations.ts";
export { type ArchiveFile, type ArchiveMeasure, ArchiveWriter } from "./lib/ends/archive_writer.ts";
export { MemoryStore } from "./lib/ends/memory.ts";
export {
  type ExportedFile,
  type ExportEvent,
  exportFromStore,
  type ExportOptions,
  type ExportResult,
  type PlannedFile,
} from "./lib/engine/platform_files.ts";
export { RegistryClient, type RegistryOptions, type SendOptions } from "./lib/remote/client.ts";
export type { RetryPolicy } from "./lib/remote/retry.ts";
export type { RateLimitInfo, RegistryEvent } from "./lib/remote/rate_limit.ts";

// References, platforms, locations, content
export { formatReference, type FormatReferenceOptions, parseReference, type Reference } from "./lib/ref/reference.ts";
export {
  formatPlatform,
  matchPlatform,
  parsePlatform,
  type ParsePlatformOptions,
  platformLabel,
} from "./lib/oci/platform.ts";
export { formatLocation, type Location, parseLocation } from "./lib/ref/location.ts";
export type { Descriptor, Platform } from "./lib/oci/descriptor.ts";
export { MediaType } from "./lib/oci/media_types.ts";
export { verifyStream } from "./lib/stream/verify.ts";
export { buildIndex, type BuildIndexOptions, type SerializedIndex } from "./lib/oci/index_edit.ts";

// Fixtures and the embedded registry
export { buildSampleImage, type SampleImage, type SampleOptions } from "./lib/testing/sample_image.ts";
export { registryHandler, type RegistryHandlerOptions, type RequestLogEntry } from "./lib/server/handler.ts";
export type { BlobSource, ManifestContent, RegistryBackend, RegistryWriter } from "./lib/server/backend.ts";
export type { ServedRepository, TaggedStore } from "./lib/server/store_backend.ts";

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
  type RegistryErrorEntry,
  SizeMismatchError,
  UnsupportedError,
  UsageError,
} from "./lib/errors.ts";
