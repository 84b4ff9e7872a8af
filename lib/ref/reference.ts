/**
 * Image references: `[registry/]repo[:tag][@digest]`.
 *
 * @module
 */

/** A parsed, normalised image reference. */
export interface Reference {
  /** Registry as the user knows it: `docker.io`, `ghcr.io`, `127.0.0.1:5000`, `localhost:5000`. */
  registry: string;
  /** Repository path, with `library/` added for official Docker Hub images: `library/alpine`. */
  repository: string;
  tag?: string;
  digest?: string;
}
