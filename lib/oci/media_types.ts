/**
 * Media types of the OCI image spec and Docker's image manifest v2 schema 2.
 *
 * @module
 */

/**
 * Media type constants ferry knows by name.
 *
 * @example
 * ```ts
 * const { root } = buildSampleImage();
 * if (root.mediaType === MediaType.OciIndex) console.log("an OCI index");
 * ```
 */
export const MediaType = {
  OciIndex: "application/vnd.oci.image.index.v1+json",
  OciManifest: "application/vnd.oci.image.manifest.v1+json",
  OciConfig: "application/vnd.oci.image.config.v1+json",
  OciLayer: "application/vnd.oci.image.layer.v1.tar",
  OciLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  OciLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  OciLayerNondistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  OciLayerNondistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  OciLayerNondistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  OciEmpty: "application/vnd.oci.empty.v1+json",
  DockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  DockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  DockerConfig: "application/vnd.docker.container.image.v1+json",
  DockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DockerForeignLayerGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  DockerManifestV1: "application/vnd.docker.distribution.manifest.v1+json",
  DockerManifestV1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
} as const;

/** The Accept header a registry client sends for manifests: indexes and manifests of both families. */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.DockerManifest,
].join(", ");

/** Whether `mediaType` is an OCI index or a Docker manifest list. */
export function isIndex(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OciIndex || mediaType === MediaType.DockerManifestList;
}

/** Whether `mediaType` is a single-image manifest (OCI or Docker v2s2). */
export function isImageManifest(mediaType: string | undefined): boolean {
  return mediaType === MediaType.OciManifest || mediaType === MediaType.DockerManifest;
}

/** Whether `mediaType` is a manifest of any kind ferry walks (index or image manifest). */
export function isManifest(mediaType: string | undefined): boolean {
  return isIndex(mediaType) || isImageManifest(mediaType);
}

/** Whether `mediaType` is Docker's schema 1, which ferry does not support. */
export function isSchema1(mediaType: string | undefined): boolean {
  return mediaType === MediaType.DockerManifestV1 || mediaType === MediaType.DockerManifestV1Signed;
}

const NONDISTRIBUTABLE = new Set<string>([
  MediaType.DockerForeignLayerGzip,
  MediaType.OciLayerNondistributable,
  MediaType.OciLayerNondistributableGzip,
  MediaType.OciLayerNondistributableZstd,
]);

/**
 * Whether `mediaType` is a non-distributable ("foreign") layer: Docker's foreign layer or the OCI
 * `nondistributable` layer types, as Windows base layers are. Registries, skopeo and crane do not copy
 * such blobs by default: the manifest names them, and clients fetch them from the descriptor's `urls`.
 *
 * @example
 * ```ts
 * isNondistributable(MediaType.DockerForeignLayerGzip); // true
 * isNondistributable(MediaType.OciLayerGzip); // false
 * ```
 */
export function isNondistributable(mediaType: string | undefined): boolean {
  return mediaType !== undefined && NONDISTRIBUTABLE.has(mediaType);
}

/**
 * Whether a layer is zstd-compressed (OCI `…tar+zstd`, its non-distributable form, or a docker-style `….zstd`),
 * which `docker load` before 23.0 cannot read.
 *
 * @example
 * ```ts
 * isZstdLayer(MediaType.OciLayerZstd); // true
 * isZstdLayer(MediaType.OciLayerGzip); // false
 * ```
 */
export function isZstdLayer(mediaType: string | undefined): boolean {
  return mediaType !== undefined && /[+.]zstd$/.test(mediaType);
}
