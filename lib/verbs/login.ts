/**
 * `ferry login` / `ferry logout`: credentials written to (or removed from) the docker config file the
 * way docker does it — `auths` entries with a base64 `auth`, or the configured credential helper
 * (`credHelpers[registry]`, else `credsStore`) through its `store`/`erase` protocol, leaving only an
 * empty `auths` entry in the file. The secret is never printed, logged or put in an error.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import process from "node:process";
import { AuthError, FileError, FormatError, UsageError } from "../errors.ts";
import { pingRegistry } from "../remote/client.ts";
import { configKey, configPath } from "../remote/credentials.ts";
import { builtin } from "../runtime.ts";

/**
 * Options of {@link login}.
 *
 * @example
 * ```ts
 * const options: LoginOptions = { username: "ci", password: "token", authFile: "/tmp/ferry-auth.json" };
 * await login("127.0.0.1:5000", options);
 * ```
 */
export interface LoginOptions {
  /** The user name. */
  username: string;
  /** The password or token; never printed or put in an error. */
  password: string;
  /** The docker config file to write (default `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`). */
  authFile?: string;
  /** Speak HTTP to the registry (loopback hosts always do). */
  plainHttp?: boolean;
  /** Skip TLS certificate verification. */
  insecure?: boolean;
  /** Skip checking the credentials against the registry first. */
  noVerify?: boolean;
  /** Aborts the credential check. */
  signal?: AbortSignal;
}

/**
 * Where {@link login} stored the credentials, or what {@link logout} removed.
 *
 * @example
 * ```ts
 * const result: LoginResult = await login("127.0.0.1:5000", { username: "ci", password: "token" });
 * console.log(`credentials for ${result.registry} stored in ${result.storedIn}`);
 * ```
 */
export interface LoginResult {
  /** The registry as normalised, e.g. `docker.io`, `127.0.0.1:5000`. */
  registry: string;
  /** The config key: the host, or `https://index.docker.io/v1/` for Docker Hub. */
  serverAddress: string;
  /** The Docker config file the credentials went to (or whose helper holds them). */
  configPath: string;
  /** `config` (base64 in the file) or the helper's name, e.g. `helper:pass`. */
  storedIn: string;
}

interface DockerConfigFile {
  auths?: Record<string, Record<string, unknown>>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

/**
 * The warning for a secret given on the command line (where `ps` and the shell history see it), as
 * docker prints it for `login -p`: `login -p` and every `--creds`/`--src-creds`/`--dest-creds`.
 */
export function cliSecretWarning(flag: string, instead: string): string {
  return `WARNING! Using --${flag} via the CLI is insecure. Use ${instead}.`;
}

/**
 * Checks `username`/`password` against `registry` (`GET /v2/` with them), then stores them as docker
 * would, keeping every other setting of the config file.
 *
 * @example
 * ```ts
 * await login("127.0.0.1:5000", { username: "me", password: "secret" });
 * ```
 */
export async function login(registry: string, options: LoginOptions): Promise<LoginResult> {
  const host = normalizeRegistry(registry);
  if (!options.username) throw new UsageError("Cannot log in: a username is required");
  if (!options.password) throw new UsageError("Cannot log in: the password is empty");
  if (!options.noVerify) {
    await pingRegistry(host, {
      username: options.username,
      password: options.password,
      plainHttp: options.plainHttp,
      insecure: options.insecure,
      signal: options.signal,
    });
  }
  const path = configPath({ authFile: options.authFile });
  const config = await readConfig(path);
  const key = configKey(host);
  const helper = helperFor(config, key);
  config.auths ??= {};
  for (const k of matchingKeys(config.auths, key)) delete config.auths[k];
  if (helper) {
    await runHelper(
      helper,
      "store",
      JSON.stringify({ ServerURL: key, Username: options.username, Secret: options.password }),
      key,
      options.password,
    );
    config.auths[key] = {};
  } else {
    config.auths[key] = { auth: Buffer.from(`${options.username}:${options.password}`).toString("base64") };
  }
  await writeConfig(path, config);
  return { registry: host, serverAddress: key, configPath: path, storedIn: helper ? `helper:${helper}` : "config" };
}

/**
 * Removes the credentials of `registry` from the config file and from its credential helper; undefined
 * when there were none.
 *
 * @example
 * ```ts
 * await logout("127.0.0.1:5000");
 * ```
 */
export async function logout(registry: string, options: { authFile?: string } = {}): Promise<LoginResult | undefined> {
  const host = normalizeRegistry(registry);
  const path = configPath({ authFile: options.authFile });
  const config = await readConfig(path);
  const key = configKey(host);
  const helper = helperFor(config, key);
  const keys = matchingKeys(config.auths ?? {}, key);
  let removed = false;
  if (helper) removed = await runHelper(helper, "erase", key, key);
  for (const k of keys) delete config.auths![k];
  if (keys.length > 0) {
    removed = true;
    await writeConfig(path, config);
  }
  return removed
    ? { registry: host, serverAddress: key, configPath: path, storedIn: helper ? `helper:${helper}` : "config" }
    : undefined;
}

/** `https://ghcr.io/`, `ghcr.io/v2/`, `index.docker.io` → `ghcr.io`, `docker.io`; empty → `docker.io`. */
export function normalizeRegistry(registry: string | undefined): string {
  const host = (registry ?? "").trim().replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  if (host === "") return "docker.io";
  if (/\s|@/.test(host)) throw new UsageError(`Cannot use "${registry}" as a registry: expected a host[:port]`);
  const lower = host.toLowerCase();
  return ["index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"].includes(lower) ? "docker.io" : lower;
}

function helperFor(config: DockerConfigFile, key: string): string | undefined {
  const helpers = config.credHelpers ?? {};
  const host = stripKey(key);
  const own = Object.entries(helpers).find(([k]) => stripKey(k) === host)?.[1];
  return own || config.credsStore || undefined;
}

function matchingKeys(auths: Record<string, unknown>, key: string): string[] {
  const host = stripKey(key);
  return Object.keys(auths).filter((k) => stripKey(k) === host);
}

function stripKey(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  return ["index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"].includes(host) ? "docker.io" : host;
}

async function readConfig(path: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return {};
    throw new FileError(`Cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (text.trim() === "") return {};
  try {
    const parsed = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("not a JSON object");
    return parsed as DockerConfigFile;
  } catch (err) {
    throw new FormatError(`Cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Written like docker: tab-indented JSON, mode 0600, through a temp file renamed into place. */
async function writeConfig(path: string, config: DockerConfigFile): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const temp = `${path}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify(config, null, "\t")}\n`, { mode: 0o600 });
    await chmod(temp, 0o600);
    await rename(temp, path);
  } catch (err) {
    throw new FileError(`Cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Runs `docker-credential-<name> <action>` with `input` on stdin. For `erase`, false when the helper
 * had nothing stored. Helper output is never echoed beyond a short one-line reason.
 */
function runHelper(
  name: string,
  action: "store" | "erase",
  input: string,
  serverUrl: string,
  secret?: string,
): Promise<boolean> {
  const program = `docker-credential-${name}`;
  return new Promise((resolve, reject) => {
    const child = builtin("node:child_process").spawn(program, [action], { stdio: ["pipe", "pipe", "pipe"] });
    let said = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (said += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (said += d));
    child.on("error", (e) => {
      const missing = (e as { code?: string }).code === "ENOENT";
      reject(
        new AuthError(
          `Cannot ${action} credentials for ${serverUrl}: ${
            missing ? `credential helper ${program} not found on PATH` : e.message
          }`,
        ),
      );
    });
    child.on("close", (code) => {
      if (code === 0) return resolve(true);
      if (action === "erase" && /credentials not found/i.test(said)) return resolve(false);
      let reason = said.replace(/\s+/g, " ").trim();
      if (secret) reason = reason.split(secret).join("<redacted>");
      reason = reason.slice(0, 200);
      reject(
        new AuthError(
          `Cannot ${action} credentials for ${serverUrl}: ${program} exited with ${code}${reason ? `: ${reason}` : ""}`,
        ),
      );
    });
    child.stdin.on("error", () => {});
    child.stdin.end(input);
  });
}
