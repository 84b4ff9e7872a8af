/**
 * `ferry receipt LOCATION... -o receipt.json`: what an air-gapped registry, layout, bundle or volumes hold, as a
 * small checksummed file to carry back out for `ferry export --since` (lib/engine/receipt.ts does the work).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import { pathUnderPrefix } from "../engine/bundle_push.ts";
import { type Receipt, serializeReceipt, takeReceipt } from "../engine/receipt.ts";
import { parseImageList } from "../ref/image_list.ts";
import type { RegistryOptions } from "../remote/client.ts";
import { fileErrorOf, writeFileAtomic } from "../stream/files.ts";

/**
 * Options of {@link writeReceipt}.
 *
 * @example
 * ```ts
 * const options: WriteReceiptOptions = { output: "receipt.json", repositories: ["team/app"], check: true };
 * ```
 */
export interface WriteReceiptOptions {
  /** Where to write the receipt (written to a temp name, then renamed); none: not written. */
  output?: string;
  /** For a registry given without a repository: these repositories; default its catalog. */
  repositories?: string[];
  /** A YAML list of images (`ferry export -f`'s): the repositories it names (targets first) are taken. */
  imageList?: string;
  /** HEAD every blob and list only those present. */
  check?: boolean;
  /** Registry access. */
  registry?: RegistryOptions;
  signal?: AbortSignal;
}

/**
 * Takes a receipt of `locations` and writes it to `options.output`.
 *
 * @example
 * ```ts
 * const receipt = await writeReceipt(["registry.local:5000"], { output: "receipt.json", repositories: ["team/app"] });
 * console.log(receipt.sha256, receipt.blobs.length);
 * ```
 */
export async function writeReceipt(locations: string[], options: WriteReceiptOptions = {}): Promise<Receipt> {
  const repositories = [...(options.repositories ?? [])];
  if (options.imageList !== undefined) {
    const text = await readFile(options.imageList, "utf8").catch((err) => {
      throw fileErrorOf(err, "read", options.imageList!);
    });
    for (const source of parseImageList(text, options.imageList).sources) {
      // Where ferry import puts it under a prefix: the name it is carried under, without its registry.
      const name = source.target ?? source.image ?? source.repository!;
      repositories.push(pathUnderPrefix(name).repository);
    }
  }
  const receipt = await takeReceipt(locations, {
    registry: options.registry,
    ...(repositories.length > 0 ? { repositories: [...new Set(repositories)] } : {}),
    check: options.check,
    signal: options.signal,
  });
  if (options.output !== undefined) {
    await writeFileAtomic(options.output, serializeReceipt(receipt)).catch((err) => {
      throw fileErrorOf(err, "write", options.output!);
    });
  }
  return receipt;
}
