/**
 * Registry credentials, found the way docker finds them: explicit options first, then the
 * docker config file (`auths`, `credHelpers`, `credsStore`, with `docker-credential-<name>` helpers).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { access, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { AuthError, FileError, FormatError } from "../errors.ts";
import { builtin, env } from "../runtime.ts";

/** A username and password, or an identity (refresh) token from `docker login`. */
export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token; exchanged at the token realm with a POST. */
  identityToken?: string;
}

/** Where credentials come from; the explicit pair wins. */
export interface CredentialOptions {
  username?: string;
  password?: string;
  /** A docker-style config/auth file to read instead of the default one. */
  authFile?: string;
  /** How long a credential helper may take to answer (default 60 000 ms; 0 for no limit). */
  helperTimeoutMs?: number;
}

/** The key Docker Hub's credentials are stored under in config.json. */
export const DOCKER_HUB_KEY = "https://index.docker.io/v1/";

const DOCKER_HUB_NAMES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);

interface DockerConfig {
  auths?: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/**
 * The credentials for `registry` (as the user knows it, e.g. `docker.io`, `ghcr.io`, `localhost:5000`),
 * or undefined for anonymous access. Order: the explicit options; then the config file
 * (`options.authFile`, `$REGISTRY_AUTH_FILE`, `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`):
 * `credHelpers[registry]`, `auths[registry]`, then `credsStore`.
 *
 * @example
 * ```ts
 * await resolveCredentials("ghcr.io", { username: "me", password: "secret" }); // { username: "me", password: "secret" }
 * ```
 */
export async function resolveCredentials(
  registry: string,
  options: CredentialOptions = {},
): Promise<Credentials | undefined> {
  if (options.username !== undefined || options.password !== undefined) {
    return { username: options.username ?? "", password: options.password ?? "" };
  }
  const path = configPath(options);
  let config: DockerConfig;
  try {
    config = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") {
      if (options.authFile) throw missingAuthFile(options.authFile, err);
      return undefined;
    }
    throw new FormatError(`Cannot read credentials from ${path}: ${(err as Error).message}`, { cause: err });
  }
  const key = configKey(registry);
  const helper = findEntry(config.credHelpers ?? {}, key);
  const timeoutMs = options.helperTimeoutMs ?? 60_000;
  if (helper) return await runHelper(helper, key, timeoutMs);
  const auth = findEntry(config.auths ?? {}, key);
  if (auth?.identitytoken) return { identityToken: auth.identitytoken };
  if (auth?.auth) return decodeAuth(auth.auth, path);
  if (auth?.username !== undefined) return { username: auth.username, password: auth.password ?? "" };
  if (config.credsStore) return await runHelper(config.credsStore, key, timeoutMs);
  return undefined;
}

/**
 * Fails with a FileError naming `--authfile` when it was given and does not exist (as skopeo does:
 * a mistyped path must not silently mean anonymous access).
 */
export async function checkAuthFile(options: CredentialOptions): Promise<void> {
  if (!options.authFile) return;
  try {
    await access(options.authFile);
  } catch (err) {
    throw missingAuthFile(options.authFile, err);
  }
}

function missingAuthFile(path: string, cause: unknown): FileError {
  const code = (cause as { code?: string }).code;
  return new FileError(
    `Cannot read credentials from ${path} (--authfile): ${
      code === "ENOENT" ? "no such file" : (cause as Error).message
    }`,
    { cause },
  );
}

/** The config file consulted: options.authFile, $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json or ~/.docker/config.json. */
export function configPath(options: CredentialOptions = {}): string {
  if (options.authFile) return options.authFile;
  const authFile = env("REGISTRY_AUTH_FILE");
  if (authFile) return authFile;
  const dockerConfig = env("DOCKER_CONFIG");
  return join(dockerConfig || join(env("HOME") || homedir(), ".docker"), "config.json");
}

/** The config.json key of a registry: Docker Hub's legacy URL for docker.io, else the host itself. */
export function configKey(registry: string): string {
  return DOCKER_HUB_NAMES.has(registry) ? DOCKER_HUB_KEY : registry;
}

/** Finds `key` among entries keyed by `host`, `https://host`, `http://host/v2/` and the like. */
function findEntry<T>(entries: Record<string, T>, key: string): T | undefined {
  if (key in entries) return entries[key];
  const host = stripUrl(key);
  for (const [k, v] of Object.entries(entries)) {
    if (stripUrl(k) === host) return v;
  }
  return undefined;
}

function stripUrl(key: string): string {
  const host = key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
  return DOCKER_HUB_NAMES.has(host) ? "docker.io" : host;
}

function decodeAuth(auth: string, path: string): Credentials {
  const text = Buffer.from(auth, "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon < 0) throw new FormatError(`Cannot read credentials from ${path}: an "auth" value is not base64 USER:PASS`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/**
 * Runs `docker-credential-<name> get` with the server URL on stdin (the docker credential-helper
 * protocol). A helper that does not answer within `timeoutMs` is killed. What it prints on stderr is
 * never repeated (it may carry a secret): a failure says only which helper failed and how.
 */
async function runHelper(name: string, serverUrl: string, timeoutMs: number): Promise<Credentials | undefined> {
  const program = `docker-credential-${name}`;
  const { code, stdout, stderr, spawnError, timedOut } = await new Promise<
    { code: number | null; stdout: string; stderr: string; spawnError?: Error; timedOut?: boolean }
  >((settle) => {
    let settled = false;
    const resolve = (
      result: { code: number | null; stdout: string; stderr: string; spawnError?: Error; timedOut?: boolean },
    ) => {
      if (!settled) settle(result);
      settled = true;
    };
    const child = builtin("node:child_process").spawn(program, ["get"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let killed = false;
    const timer = timeoutMs > 0
      ? setTimeout(() => {
        killed = true;
        child.kill("SIGKILL");
        // Do not wait for its pipes: a grandchild may hold them open.
        resolve({ code: null, stdout: "", stderr: "", timedOut: true });
      }, timeoutMs)
      : undefined;
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: null, stdout: out, stderr: err, spawnError: e });
    });
    child.on("close", (c) => {
      clearTimeout(timer);
      resolve({ code: c, stdout: out, stderr: err, timedOut: killed });
    });
    child.stdin.on("error", () => {}); // a helper that exits without reading stdin
    child.stdin.end(serverUrl);
  });
  if (spawnError) {
    const missing = (spawnError as { code?: string }).code === "ENOENT";
    throw new AuthError(
      `Cannot get credentials for ${serverUrl}: ${
        missing ? `credential helper ${program} not found on PATH` : `credential helper ${program} could not start`
      }`,
    );
  }
  if (timedOut) {
    throw new AuthError(
      `Cannot get credentials for ${serverUrl}: credential helper ${program} did not answer within ${
        timeoutMs / 1000
      } s (killed)`,
    );
  }
  if (code !== 0) {
    // The protocol's one well-known answer; anything else the helper said stays unrepeated.
    if (/credentials not found/i.test(`${stdout} ${stderr}`)) return undefined;
    throw new AuthError(`Cannot get credentials for ${serverUrl}: credential helper ${program} failed (exit ${code})`);
  }
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new AuthError(`Cannot get credentials for ${serverUrl}: credential helper ${program} printed no JSON`);
  }
  if (parsed.Username === "<token>") return { identityToken: parsed.Secret ?? "" };
  return { username: parsed.Username ?? "", password: parsed.Secret ?? "" };
}
