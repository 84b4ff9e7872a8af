/**
 * HTTP basic authentication against an htpasswd file with bcrypt hashes (`htpasswd -B`), as the CNCF
 * registry's htpasswd auth does.
 *
 * @module
 */
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
// deno-lint-ignore no-sloppy-imports -- a .js with its .d.ts beside it, which deno lint takes for sloppy
import bcrypt from "../vendor/bcryptjs.js";
import { FormatError } from "../errors.ts";
import { fileErrorOf } from "../stream/files.ts";

/** How many verified credentials are remembered (bcrypt costs ~100 ms per check by design). */
const CACHE_SIZE = 256;

/**
 * Parses htpasswd text (`user:$2y$…` per line; `#` comments and blank lines ignored). Only bcrypt
 * hashes are accepted: the others htpasswd can write (MD5-crypt, SHA-1, crypt) are weak.
 *
 * @example
 * ```ts
 * parseHtpasswd("ferry:$2y$05$…\n"); // Map { "ferry" => "$2y$05$…" }
 * ```
 */
export function parseHtpasswd(text: string, ref = "htpasswd"): Map<string, string> {
  const users = new Map<string, string>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (colon <= 0 || !/^\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
      throw new FormatError(`Cannot read ${ref} line ${i + 1}: expected user:bcrypt-hash (htpasswd -B)`, { ref });
    }
    users.set(user, hash);
  }
  return users;
}

/**
 * A checker for `Authorization` headers against the users of the htpasswd file at `path`: resolves to the
 * user name when the header carries valid Basic credentials, else undefined. Verified headers are
 * remembered (by their SHA-256, never in clear) so each request does not pay bcrypt's cost.
 *
 * @example
 * ```ts
 * const authenticate = await htpasswdAuthenticator("/etc/ferry/htpasswd");
 * registryHandler(backend, { authenticate });
 * ```
 */
export async function htpasswdAuthenticator(
  path: string,
): Promise<(authorization: string | null) => Promise<string | undefined>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw fileErrorOf(err, "read", path);
  }
  return basicAuthenticator(parseHtpasswd(text, path));
}

/**
 * {@link htpasswdAuthenticator} over parsed users (user → bcrypt hash). bcrypt runs on the main thread in
 * slices (bcryptjs), so checks run one at a time: a flood of wrong passwords queues behind itself while
 * requests with remembered credentials, and those needing no check, are answered between two slices. An
 * unknown user is checked against a dummy hash of the same cost, so it takes as long as a known one.
 */
export function basicAuthenticator(
  users: Map<string, string>,
): (authorization: string | null) => Promise<string | undefined> {
  const verified = new Map<string, string>();
  const costs = [...users.values()].map((h) => Number(h.slice(4, 6)));
  const cost = costs.length ? Math.max(...costs) : 10;
  let dummy: Promise<string> | undefined;
  const dummyHash = () => (dummy ??= bcrypt.hash(randomBytes(16).toString("hex"), cost));
  dummyHash().catch(() => {}); // made now, so the first unknown user takes no longer than the next
  let queue: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(work);
    queue = run.catch(() => {});
    return run;
  };
  return async (authorization) => {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? "");
    if (!m) return undefined;
    const key = createHash("sha256").update(m[1]).digest("hex");
    const known = verified.get(key);
    if (known !== undefined) return known;
    const decoded = new TextDecoder().decode(Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)));
    const colon = decoded.indexOf(":");
    if (colon <= 0) return undefined;
    const user = decoded.slice(0, colon);
    const hash = users.get(user);
    const ok = await oneAtATime(async () =>
      // bcryptjs knows $2a$/$2b$; Apache's $2y$ is the same algorithm under another name.
      await bcrypt.compare(decoded.slice(colon + 1), (hash ?? await dummyHash()).replace(/^\$2[xy]\$/, "$2b$"))
    );
    if (!ok || hash === undefined) return undefined;
    if (verified.size >= CACHE_SIZE) verified.delete(verified.keys().next().value!);
    verified.set(key, user);
    return user;
  };
}
