/**
 * TLS for registries the way docker, skopeo and crane do it: extra CAs and client certificates from a
 * certificate directory (`--cert-dir`, or the per-registry `certs.d/HOST:PORT/` directories of docker
 * and containers), and failed handshakes told apart: a server that speaks plain HTTP (the only case
 * that may fall back to `http://`) versus a certificate that is not trusted, names another host or
 * has expired (never a fallback: a one-line error saying how to trust the CA).
 *
 * @module
 */
import { readdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { FileError, UsageError } from "../errors.ts";
import { builtin, env, type TlsFetchOptions } from "../runtime.ts";

/** What a directory of certificates holds, as PEM text. */
export interface CertDirContents {
  /** The directory read. */
  dir: string;
  /** Every `*.crt` file: CAs trusted in addition to the system's. */
  ca: string[];
  /** A `NAME.cert` client certificate (`client.cert` by docker's convention), for mutual TLS. */
  cert?: string;
  /** Its `NAME.key`. */
  key?: string;
}

/**
 * Reads a certificate directory as containers' certs.d does: `*.crt` are CAs, `NAME.cert` with
 * `NAME.key` a client certificate and key. Undefined when the directory does not exist and
 * `required` is false; a FileError when it is required and missing or unreadable.
 */
export async function readCertDir(dir: string, required = false): Promise<CertDirContents | undefined> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (!required && (code === "ENOENT" || code === "ENOTDIR")) return undefined;
    throw new FileError(`Cannot read certificate directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const read = (name: string) =>
    readFile(join(dir, name), "utf8").catch((err) => {
      throw new FileError(`Cannot read ${join(dir, name)}: ${(err as Error).message}`, { cause: err });
    });
  const out: CertDirContents = { dir, ca: [] };
  for (const name of names) {
    if (name.endsWith(".crt")) out.ca.push(await read(name));
    else if (name.endsWith(".cert")) {
      const keyName = `${name.slice(0, -".cert".length)}.key`;
      if (!names.includes(keyName)) {
        throw new UsageError(
          `Cannot use client certificate ${
            join(dir, name)
          }: its key ${keyName} is missing (CA certificates end in .crt)`,
        );
      }
      if (out.cert === undefined) {
        out.cert = await read(name);
        out.key = await read(keyName);
      }
    } else if (name.endsWith(".key")) {
      const certName = `${name.slice(0, -".key".length)}.cert`;
      if (!names.includes(certName)) {
        throw new UsageError(`Cannot use client key ${join(dir, name)}: its certificate ${certName} is missing`);
      }
    }
  }
  return out;
}

/**
 * The per-registry certificate directories looked at for `host` (`HOST:PORT` first, then `HOST`):
 * `$DOCKER_CONFIG/certs.d` (default `~/.docker/certs.d`), `/etc/docker/certs.d`,
 * `$XDG_CONFIG_HOME/containers/certs.d` (default `~/.config/containers/certs.d`), `/etc/containers/certs.d`.
 *
 * @example
 * ```ts
 * certsDirsFor("registry.lan:5000")[0]; // "/home/me/.docker/certs.d/registry.lan:5000"
 * ```
 */
export function certsDirsFor(host: string): string[] {
  const home = env("HOME") || homedir();
  const roots = [
    join(env("DOCKER_CONFIG") || join(home, ".docker"), "certs.d"),
    "/etc/docker/certs.d",
    join(env("XDG_CONFIG_HOME") || join(home, ".config"), "containers", "certs.d"),
    "/etc/containers/certs.d",
  ];
  const bare = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d+$/, "");
  const names = bare === host ? [host] : [host, bare];
  return names.flatMap((name) => roots.map((root) => join(root, name)));
}

/**
 * The TLS settings for `host`: the explicit `certDir` (which must exist), else the first per-registry
 * certs.d directory that exists; PEM given directly is added to what the directory holds.
 */
export async function tlsSettingsFor(
  host: string,
  options: { certDir?: string; tlsVerify?: boolean; ca?: string[]; cert?: string; key?: string },
): Promise<TlsFetchOptions & { certDir?: string }> {
  let found: CertDirContents | undefined;
  if (options.certDir) found = await readCertDir(options.certDir, true);
  else {
    for (const dir of certsDirsFor(host)) {
      found = await readCertDir(dir);
      if (found) break;
    }
  }
  const ca = [...(found?.ca ?? []), ...(options.ca ?? [])];
  const cert = options.cert ?? found?.cert;
  const key = options.key ?? found?.key;
  return {
    ...(ca.length > 0 ? { ca } : {}),
    ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
    verify: options.tlsVerify !== false,
    ...(found ? { certDir: found.dir } : {}),
  };
}

/** How a TLS handshake failed, as far as the runtime's error says. */
export type TlsFailure =
  | "plain-http"
  /** Bun's fetch says only "The TLS handshake failed. Does the server speak TLS": see {@link probeTls}. */
  | "handshake"
  | "unknown-authority"
  | "hostname"
  | "expired"
  | "not-yet-valid"
  | "client-certificate"
  | "other";

function errorText(err: unknown): { codes: string[]; text: string } {
  const codes: string[] = [];
  const texts: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
    texts.push(e instanceof Error ? e.message : String(e));
  }
  return { codes, text: texts.join(" | ") };
}

/**
 * Classifies a failed `fetch` of an `https://` URL: undefined when it is no TLS failure (refused,
 * reset, DNS…). Bun reports OpenSSL-style codes, Deno rustls' words, Node undici OpenSSL's.
 */
export function tlsFailureOf(err: unknown): TlsFailure | undefined {
  const { codes, text } = errorText(err);
  const has = (...c: string[]) => codes.some((x) => c.includes(x));
  // A plain HTTP server answering a ClientHello: OpenSSL "wrong version number", rustls "corrupt message
  // of type InvalidContentType". Bun says "EPROTO: The TLS handshake failed. Does the server speak TLS"
  // for that and for a refused client certificate alike.
  if (has("ERR_SSL_WRONG_VERSION_NUMBER") || /wrong version number|InvalidContentType/i.test(text)) return "plain-http";
  if (has("EPROTO") || /does the server speak TLS/i.test(text)) return "handshake";
  if (
    has(
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "UNABLE_TO_GET_ISSUER_CERT",
      "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
      "SELF_SIGNED_CERT_IN_CHAIN",
      "DEPTH_ZERO_SELF_SIGNED_CERT",
      "CERT_UNTRUSTED",
      "CERT_SIGNATURE_FAILURE",
    ) || /UnknownIssuer|BadSignature|unknown (certificate )?authority|self[- ]signed/i.test(text)
  ) return "unknown-authority";
  if (has("ERR_TLS_CERT_ALTNAME_INVALID", "HOSTNAME_MISMATCH") || /NotValidForName|not valid for name/i.test(text)) {
    return "hostname";
  }
  if (has("CERT_HAS_EXPIRED") || /\bExpired\b|certificate has expired/i.test(text)) return "expired";
  if (has("CERT_NOT_YET_VALID") || /NotValidYet|not yet valid/i.test(text)) return "not-yet-valid";
  if (/certificate required|CertificateRequired|handshake failure|alert number 4[02]|bad certificate/i.test(text)) {
    return "client-certificate";
  }
  if (/\b(tls|ssl)\b|certificate/i.test(text)) return "other";
  return undefined;
}

/**
 * Tells apart what Bun's fetch reports as one "handshake failed": a TLS handshake of our own over
 * `node:tls` (no certificate check, nothing sent after it). `plain-http` when the server answered the
 * ClientHello with something that is not TLS; `client-certificate` when the handshake went through
 * (so the fetch's failure came later: a TLS 1.3 server refusing our lack of a client certificate).
 */
export function probeTls(host: string, port: number, timeoutMs = 10_000): Promise<TlsFailure> {
  return new Promise((resolve) => {
    const ip = /^[\d.]+$|:/.test(host);
    const socket = builtin("node:tls").connect({
      host: host.replace(/^\[|\]$/g, ""),
      port,
      rejectUnauthorized: false,
      ...(ip ? {} : { servername: host }),
    });
    const done = (failure: TlsFailure) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(failure);
    };
    const timer = setTimeout(() => done("other"), timeoutMs);
    socket.once("secureConnect", () => done("client-certificate"));
    socket.once("error", (err) => done(tlsFailureOf(err) === "plain-http" ? "plain-http" : "other"));
  });
}

/**
 * The one-line reason for a TLS failure of `host`, with how to fix it: trust the CA with `--cert-dir`
 * or a certs.d directory, or (not on Deno, which needs its own flag) `--tls-verify=false`.
 */
export function describeTlsFailure(failure: TlsFailure, host: string, detail: string, runtime: string): string {
  const where = `--cert-dir DIR (DIR/ca.crt) or ${certsDirsFor(host)[0]}/ca.crt`;
  const skip = runtime === "deno"
    ? "run deno with --unsafely-ignore-certificate-errors=" + host.replace(/:\d+$/, "")
    : "skip verification with --tls-verify=false";
  switch (failure) {
    case "plain-http":
      return `the server does not speak TLS (${detail}); use --plain-http if it serves plain HTTP`;
    case "unknown-authority":
      return `TLS certificate signed by an unknown authority (${detail}); trust its CA with ${where}, or ${skip}`;
    case "hostname":
      return `TLS certificate is not valid for ${
        host.replace(/:\d+$/, "")
      } (${detail}); use a name the certificate is issued for, or ${skip}`;
    case "expired":
      return `TLS certificate has expired (${detail}); renew it, or ${skip}`;
    case "not-yet-valid":
      return `TLS certificate is not valid yet (${detail}); check the clock, or ${skip}`;
    case "client-certificate":
      return `TLS handshake refused, the registry may want a client certificate (${detail}); put client.cert and client.key in --cert-dir DIR or ${
        certsDirsFor(host)[0]
      }/`;
    default:
      return `TLS handshake failed (${detail})`;
  }
}
