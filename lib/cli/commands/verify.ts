/**
 * `ferry verify LOCATION...`: argument handling and output only; the work is `verify()` in lib/verbs/verify.ts.
 *
 * @module
 */
import { formatBytes } from "../output.ts";
import { VerificationError, verify } from "../../verbs/verify.ts";
import type { VerifiedImage } from "../../engine/verify.ts";
import { UsageError } from "../../errors.ts";
import type { Command } from "../command.ts";
import { intFlag, listFlag, readFlags, registryOptionsOf } from "../flags.ts";

/** `ferry verify`. */
export const verifyCommand: Command = {
  name: "verify",
  usage: "ferry verify [--key FILE]... [--platform P]... [--require-signature] [--json] LOCATION...",
  summary:
    "Check, offline, every blob's digest and size, every manifest, the expected platforms and cosign signatures " +
    "of a registry image, a layout, an archive or export files",
  locations: true,
  examples: [
    "ferry verify --key cosign.pub out/image-*.tar.gz",
    "ferry verify --key cosign.pub --platform linux/amd64,linux/arm64 oci:./layout:1.0",
    "ferry verify --json registry.example.com/team/app:1.0",
  ],
  flags: {
    key: {
      type: "string",
      multiple: true,
      value: "FILE",
      description:
        "A public key (PEM PUBLIC KEY: ECDSA P-256, Ed25519, RSA; cosign.pub): every image must carry a cosign " +
        "signature, on its index or on each platform manifest, that verifies with one of the keys",
    },
    platform: {
      type: "string",
      multiple: true,
      value: "OS/ARCH[/VARIANT]",
      description: "A platform every image must have (comma lists too)",
    },
    "require-signature": {
      type: "boolean",
      description: "Every image must carry a signature (implied by --key; without it, presence only)",
    },
    "trusted-root": {
      type: "string",
      value: "FILE",
      description: "A sigstore trusted_root.json for keyless signatures: not supported yet (use --key)",
    },
    referrers: {
      type: "boolean",
      description: "Also verify the images' signatures, attestations and SBOMs (default true)",
    },
    jobs: { type: "string", short: "j", value: "N", description: "Blobs read at once (default 4)" },
    json: { type: "boolean", description: "Print the report as one JSON document on stdout" },
    ...readFlags,
  },
  async run(args, io) {
    if (args.positionals.length === 0) {
      throw new UsageError(`Cannot verify: expected LOCATION...\nusage: ${this.usage}`);
    }
    const keys = listFlag(args, "key");
    const result = await verify(args.positionals, {
      ...(keys ? { keys } : {}),
      platforms: listFlag(args, "platform"),
      requireSignature: args.values["require-signature"] === true,
      ...(typeof args.values["trusted-root"] === "string" ? { trustedRoot: args.values["trusted-root"] } : {}),
      referrers: args.values.referrers !== false,
      concurrency: intFlag(args, "jobs", 1, 64),
      registry: registryOptionsOf(args),
      signal: io.signal,
    });
    if (args.values.json) io.print(JSON.stringify(result, null, 2));
    for (const p of result.problems) io.warn(`ferry verify: ${p.ref}: ${p.message}`);
    if (!args.values.json) {
      for (const image of result.images) io.print(imageLine(image, keys !== undefined));
      const n = result.images.length;
      io.print(
        `${n} image${n === 1 ? "" : "s"}, ${result.manifests} manifests, ${result.blobs} blobs (${
          formatBytes(result.bytes)
        }) checked: ${
          result.ok ? "all good" : `${result.problems.length} problem${result.problems.length === 1 ? "" : "s"}`
        }`,
      );
    }
    if (!result.ok) throw new VerificationError(result);
  },
};

function imageLine(image: VerifiedImage, keyed: boolean): string {
  const platforms = image.platforms.length ? image.platforms.join(", ") : "no platform";
  const by = [...new Set(image.signatures.filter((s) => s.verified).map((s) => s.key!))];
  const signed = !keyed ? "" : image.signed ? `, signed (${by.join(", ")})` : ", not signed by the keys";
  const referrers = image.referrers ? `, ${image.referrers} referrer${image.referrers === 1 ? "" : "s"}` : "";
  return `${image.ref}  ${image.digest}  ${platforms}${referrers}${signed}`;
}
