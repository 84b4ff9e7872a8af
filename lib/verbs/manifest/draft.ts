/**
 * Manifest-list drafts: what `ferry manifest create` and `annotate` leave for `push`, kept between CLI runs as one
 * small JSON file per list, like docker's local manifest store: a second `create` of a drafted list needs
 * `--amend`, which adds to it. A draft holds descriptors only (digests, platforms, annotations), never content;
 * every component is resolved in its registry when it is added, and `push` checks each still exists.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { FileError, FormatError } from "../../errors.ts";
import type { Descriptor, Platform } from "../../oci/descriptor.ts";
import { env } from "../../runtime.ts";

/** One entry of a draft list: the manifest descriptor and where it came from. */
export interface DraftEntry {
  /** The component as the user named it, canonical (`127.0.0.1:5000/app:1.0-amd64`); its repository is the copy source. */
  image: string;
  /** The image manifest: media type, digest, size, platform (and annotations) as the list will carry them. */
  descriptor: Descriptor;
  /** What the image's config says, for the platform check. */
  configPlatform?: Platform;
}

/** A manifest list being assembled: `create` writes it, `annotate` edits it, `push` consumes it. */
export interface ManifestDraft {
  /** The list's canonical reference, e.g. `127.0.0.1:5000/app:1.0`. */
  list: string;
  /** The media type to push; undefined picks Docker's manifest list when every entry is a Docker manifest, else OCI. */
  mediaType?: string;
  entries: DraftEntry[];
}

/**
 * Options naming where drafts live.
 *
 * @example
 * ```ts
 * const options: DraftOptions = { draftDir: "/tmp/ferry-drafts" };
 * await removeManifestList("127.0.0.1:5000/app:1.0", options);
 * ```
 */
export interface DraftOptions {
  /** Directory of draft files; default `$FERRY_CONFIG/manifests`, else `$XDG_CONFIG_HOME/ferry/manifests`, else `~/.config/ferry/manifests`. */
  draftDir?: string;
}

/** The directory drafts are kept in (see {@link DraftOptions.draftDir}). */
export function draftDirectory(options: DraftOptions = {}): string {
  if (options.draftDir) return options.draftDir;
  const config = env("FERRY_CONFIG");
  if (config) return join(config, "manifests");
  const xdg = env("XDG_CONFIG_HOME");
  return join(xdg || join(homedir(), ".config"), "ferry", "manifests");
}

/** The file of `list`'s draft: a readable name plus a short hash, so `a/b:c` and `a_b:c` never collide. */
export function draftPath(list: string, options: DraftOptions = {}): string {
  const hash = createHash("sha256").update(list).digest("hex").slice(0, 12);
  const name = list.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 150);
  return join(draftDirectory(options), `${name}-${hash}.json`);
}

/**
 * Reads the draft of `list`, or undefined when there is none.
 *
 * @example
 * ```ts
 * const draft = await loadDraft("127.0.0.1:5000/app:1.0");
 * ```
 */
export async function loadDraft(list: string, options: DraftOptions = {}): Promise<ManifestDraft | undefined> {
  const path = draftPath(list, options);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new FileError(`Cannot read manifest draft ${path}: ${(err as Error).message}`, { ref: list, cause: err });
  }
  let draft: ManifestDraft;
  try {
    draft = JSON.parse(text) as ManifestDraft;
  } catch (err) {
    throw new FormatError(`Cannot read manifest draft ${path}: not JSON (remove it with 'ferry manifest rm')`, {
      ref: list,
      cause: err,
    });
  }
  if (draft.list !== list || !Array.isArray(draft.entries)) {
    throw new FormatError(`Cannot read manifest draft ${path}: not a draft of ${list}`, { ref: list });
  }
  return draft;
}

/** Writes `draft` atomically (temp file, then rename). */
export async function saveDraft(draft: ManifestDraft, options: DraftOptions = {}): Promise<string> {
  const path = draftPath(draft.list, options);
  try {
    await mkdir(draftDirectory(options), { recursive: true });
    const temp = `${path}.${crypto.randomUUID()}.tmp`;
    await writeFile(temp, `${JSON.stringify(draft, null, 2)}\n`);
    await rename(temp, path);
  } catch (err) {
    throw new FileError(`Cannot write manifest draft ${path}: ${(err as Error).message}`, {
      ref: draft.list,
      cause: err,
    });
  }
  return path;
}

/** Removes the draft of `list`; returns whether there was one. */
export async function removeDraft(list: string, options: DraftOptions = {}): Promise<boolean> {
  const path = draftPath(list, options);
  try {
    await rm(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new FileError(`Cannot remove manifest draft ${path}: ${(err as Error).message}`, { ref: list, cause: err });
  }
}
