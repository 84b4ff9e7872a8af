/**
 * A file still being written that readers follow as it grows: export spools a blob that several files share and
 * each of them reads it from the spool while the spool is still being fetched, rather than after.
 *
 * @module
 */
import { type FileHandle, open } from "node:fs/promises";
import { fileErrorOf, readBuffers } from "./files.ts";

/**
 * The progress of one file's writer, and streams of its bytes that follow it. The writer reports {@link opened},
 * {@link advanced} after each write it completed, and then {@link finished} (once the bytes were verified and the
 * file renamed to its final path) or {@link failed}. A follower stream passes bytes on as they are written and
 * closes only once the writer finished: a consumer that commits on close never commits bytes that then failed
 * their check (the stream errors with the writer's error instead).
 *
 * @example
 * ```ts
 * const growing = new GrowingFile(desc.size);
 * const reader = growing.stream(); // may be read at once
 * growing.opened(tempPath, 0);
 * // … the writer: after each write growing.advanced(n); at the end growing.finished(finalPath)
 * ```
 */
export class GrowingFile {
  #path?: string;
  #written = 0;
  #final?: string;
  #failure?: { error: unknown };
  #wake: (() => void)[] = [];
  /** Bumped by every report: a follower that looked at version v waits only if nothing happened since. */
  #version = 0;

  /** A file that will hold `size` bytes. */
  constructor(readonly size: number) {}

  /** Whether the writer finished or failed. */
  get settled(): boolean {
    return this.#final !== undefined || this.#failure !== undefined;
  }

  /** The writer opened `path`, which already holds `written` bytes (a resumed partial). */
  opened(path: string, written: number): void {
    this.#path = path;
    this.#written = written;
    this.#notify();
  }

  /** The writer wrote `n` more bytes. */
  advanced(n: number): void {
    this.#written += n;
    this.#notify();
  }

  /** The whole file is at `finalPath`, verified. */
  finished(finalPath: string): void {
    this.#final = finalPath;
    this.#written = this.size;
    this.#notify();
  }

  /** The writer failed: followers error with `error`. */
  failed(error: unknown): void {
    this.#failure = { error };
    this.#notify();
  }

  /** A stream of the file's bytes, from the first, following the writer. */
  stream(): ReadableStream<Uint8Array> {
    let fh: FileHandle | undefined;
    let position = 0;
    const close = async () => {
      const h = fh;
      fh = undefined;
      await h?.close().catch(() => {});
    };
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          for (;;) {
            const seen = this.#version;
            if (this.#failure) throw this.#failure.error;
            if (!fh) fh = await this.#open();
            if (!fh) {
              await this.#changedSince(seen);
              continue;
            }
            const available = Math.min(this.#written, this.size) - position;
            if (available > 0) {
              const buffer = readBuffers.take();
              const wanted = Math.min(buffer.byteLength, available);
              const { bytesRead } = await fh.read(buffer, 0, wanted, position).catch((err) => {
                readBuffers.give(buffer);
                throw fileErrorOf(err, "read", this.#final ?? this.#path ?? "");
              });
              if (bytesRead === 0) {
                readBuffers.give(buffer);
                throw fileErrorOf(new Error("the file shrank while it was read"), "read", this.#path!);
              }
              position += bytesRead;
              controller.enqueue(readBuffers.lend(buffer, bytesRead));
              return;
            }
            if (this.#final !== undefined && position >= this.size) {
              await close();
              controller.close();
              return;
            }
            await this.#changedSince(seen);
          }
        } catch (err) {
          await close();
          throw err;
        }
      },
      cancel: close,
    }, { highWaterMark: 0 });
  }

  /** Opens the file where it is now: undefined while there is none yet (or it is being renamed). */
  async #open(): Promise<FileHandle | undefined> {
    const path = this.#final ?? this.#path;
    if (path === undefined) return undefined;
    try {
      return await open(path, "r");
    } catch (err) {
      // The file being written was renamed to its final path between our look and the open (finished() may have
      // come meanwhile, or comes next): look again.
      if ((err as NodeJS.ErrnoException).code === "ENOENT" && path !== this.#final) return undefined;
      throw fileErrorOf(err, "read", path);
    }
  }

  #changedSince(version: number): Promise<void> {
    if (version !== this.#version) return Promise.resolve();
    return new Promise((resolve) => this.#wake.push(resolve));
  }

  #notify(): void {
    this.#version++;
    const waiting = this.#wake;
    this.#wake = [];
    for (const wake of waiting) wake();
  }
}
