// mod.ts module example
import { copy, exportImage } from "../mod.ts";

// Every platform, digests preserved, from one registry to another.
await copy("127.0.0.1:5000/app:1.0", "127.0.0.1:5001/mirror/app:1.0");

// One docker-load tarball per platform: out/image-amd64.tar.gz, out/image-arm64.tar.gz, ...
const { files } = await exportImage("127.0.0.1:5000/app:1.0", "out");

export {};
