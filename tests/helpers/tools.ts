/**
 * Wrappers around the independent readers the integration tests check ferry's output with:
 * skopeo, umoci and tar. A missing binary is an error naming the Debian package, never a skip.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import process from "node:process";

/** What a finished command printed and how it exited. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link run}. */
export interface RunOptions {
  /** Working directory. */
  cwd?: string;
  /** Extra environment variables (merged over the current ones). */
  env?: Record<string, string>;
  /** Resolve with a non-zero code instead of throwing. Default false. */
  allowFailure?: boolean;
  /** Bytes written to stdin. */
  input?: string | Uint8Array;
  /** Kill the command after this many ms (default 120 000). */
  timeoutMs?: number;
}

/** The Debian package that provides each tool, for the "install it" message. */
const PACKAGES: Record<string, string> = {
  skopeo: "skopeo",
  umoci: "umoci",
  tar: "tar",
  docker: "docker.io",
  dockerd: "docker.io",
  "docker-registry": "docker-registry",
  busybox: "busybox-static",
  pigz: "pigz",
};

/**
 * Runs `cmd args…` without a shell and collects its output. Throws, with stderr in the message,
 * when it exits non-zero (unless `allowFailure`) or when the binary is missing.
 *
 * @example
 * ```ts
 * const { stdout } = await run("skopeo", ["--version"]);
 * ```
 */
export function run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ? { ...process.env, ...options.env } : process.env,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (c: Buffer) => out.push(c));
    child.stderr!.on("data", (c: Buffer) => err.push(c));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === "ENOENT") {
        const pkg = PACKAGES[cmd] ?? cmd;
        reject(new Error(`${cmd} is not installed: install the Debian package "${pkg}" (apt-get install ${pkg})`));
      } else reject(e);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const result = {
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      };
      if (result.code !== 0 && !options.allowFailure) {
        const why = signal ? `killed by ${signal}` : `exit ${result.code}`;
        reject(new Error(`${cmd} ${args.join(" ")} failed (${why}): ${result.stderr.trim() || result.stdout.trim()}`));
      } else resolve(result);
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
  });
}

/** skopeo's TLS flags for a location: plain HTTP for `docker://127.0.0.1…` and `docker://localhost…`. */
function tlsFlags(location: string, flag: string): string[] {
  return /^docker:\/\/(127\.0\.0\.1|localhost|\[::1\])[:/]/.test(location) ? [`${flag}=false`] : [];
}

/**
 * `skopeo inspect --raw LOCATION`: the exact manifest or index bytes, as a string.
 *
 * @example
 * ```ts
 * const index = JSON.parse(await skopeoInspectRaw("oci:out:1.0"));
 * ```
 */
export async function skopeoInspectRaw(location: string): Promise<string> {
  return (await run("skopeo", ["inspect", "--raw", ...tlsFlags(location, "--tls-verify"), location])).stdout;
}

/** `skopeo inspect LOCATION` parsed: Digest, Architecture, Os, Layers, … of one image. */
// deno-lint-ignore no-explicit-any
export async function skopeoInspect(location: string, args: string[] = []): Promise<any> {
  return JSON.parse((await run("skopeo", ["inspect", ...tlsFlags(location, "--tls-verify"), ...args, location])).stdout);
}

/**
 * `skopeo copy [args…] SRC DST`, with TLS verification off for loopback registries.
 *
 * @example
 * ```ts
 * await skopeoCopy("oci:out:1.0", "docker://127.0.0.1:5000/app:1.0", ["--all"]);
 * ```
 */
export async function skopeoCopy(src: string, dst: string, args: string[] = []): Promise<RunResult> {
  return await run("skopeo", [
    "copy",
    "--quiet",
    ...tlsFlags(src, "--src-tls-verify"),
    ...tlsFlags(dst, "--dest-tls-verify"),
    ...args,
    src,
    dst,
  ]);
}

/**
 * `umoci unpack --image LAYOUT[:TAG] BUNDLE`: applies the image's layers into `BUNDLE/rootfs`.
 * We run as root in CI; elsewhere `--rootless` is added so it works unprivileged.
 */
export async function umociUnpack(layoutWithTag: string, bundleDir: string): Promise<RunResult> {
  const rootless = process.getuid?.() === 0 ? [] : ["--rootless"];
  return await run("umoci", ["unpack", ...rootless, "--image", layoutWithTag, bundleDir]);
}

/** The entry names of a tar file (`tar -tf`; compressed files are detected by tar). */
export async function tarList(file: string): Promise<string[]> {
  const { stdout } = await run("tar", ["-tf", file]);
  return stdout.split("\n").filter((line) => line !== "");
}
