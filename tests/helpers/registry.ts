/**
 * Starts and stops the real CNCF distribution registry (`docker-registry serve`, Debian package
 * `docker-registry`) on a free loopback port, optionally behind htpasswd basic auth.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { access, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import bcrypt from "bcryptjs";

/** A running test registry. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** Its temp directory: config.yml, registry.log, data/. */
  dir: string;
  /** Stops the registry (only the process this helper started) and removes its directory. */
  stop(): Promise<void>;
}

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  /** Require these basic-auth credentials (written to an htpasswd file with a bcrypt hash). */
  htpasswd?: { username: string; password: string };
  /** Send relative `Location` headers (`http.relativeurls`), as registries behind proxies do. */
  relativeUrls?: boolean;
  /**
   * Accept manifests whose layers name `urls` matching these regular expressions
   * (`validation.manifests.urls.allow`), as Docker Hub does for Windows' foreign layers;
   * the registry refuses such manifests otherwise.
   */
  allowUrls?: string[];
  /**
   * Serve HTTPS (`http.tls`) with this certificate and key (PEM file paths); with `clientCas`, demand
   * a client certificate signed by one of them (mutual TLS).
   */
  tls?: { certificate: string; key: string; clientCas?: string[]; clientCert?: string; clientKey?: string };
  /** Refuse deletes (`storage.delete.enabled: false`), as many registries do; default: allowed. */
  noDelete?: boolean;
}

/** A free TCP port on 127.0.0.1 (bound to port 0, read, closed). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const BINARY = "/usr/bin/docker-registry";

/**
 * Starts `docker-registry serve` on a free 127.0.0.1 port and waits until `/v2/` answers.
 *
 * @example
 * ```ts
 * const registry = await startRegistry({ htpasswd: { username: "u", password: "p" } });
 * try { ... } finally { await registry.stop(); }
 * ```
 */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  await access(BINARY).catch(() => {
    throw new Error(`${BINARY} not found: install the Debian package docker-registry (apt-get install docker-registry)`);
  });
  // The free port can be taken between freePort() closing it and the registry binding it (test files
  // run side by side, and every outgoing loopback connection takes an ephemeral port): try another.
  for (let attempt = 1;; attempt++) {
    try {
      return await launch(options);
    } catch (e) {
      if (!(e instanceof PortTaken) || attempt === 5) throw e;
    }
  }
}

/** The registry could not bind the port {@link freePort} gave. */
class PortTaken extends Error {}

async function launch(options: StartRegistryOptions): Promise<TestRegistry> {
  const dir = await mkdtemp(join(tmpdir(), "ferry-registry-"));
  const host = `127.0.0.1:${await freePort()}`;
  const config = join(dir, "config.yml");
  let auth = "";
  if (options.htpasswd) {
    const { username, password } = options.htpasswd;
    await writeFile(join(dir, "htpasswd"), `${username}:${bcrypt.hashSync(password, 4)}\n`);
    auth = `auth:\n  htpasswd:\n    realm: ferry-test\n    path: ${dir}/htpasswd\n`;
  }
  let tls = "";
  if (options.tls) {
    tls = `  tls:\n    certificate: ${options.tls.certificate}\n    key: ${options.tls.key}\n`;
    if (options.tls.clientCas) tls += `    clientcas:\n${options.tls.clientCas.map((c) => `      - ${c}\n`).join("")}`;
  }
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: ${!options.noDelete}\n` +
      `http:\n  addr: ${host}\n${options.relativeUrls ? "  relativeurls: true\n" : ""}${tls}${auth}` +
      (options.allowUrls
        ? `validation:\n  manifests:\n    urls:\n      allow:\n${
          options.allowUrls.map((re) => `        - ${JSON.stringify(re)}\n`).join("")
        }`
        : ""),
  );
  const log = await open(join(dir, "registry.log"), "w"); // a pipe nobody reads would block the registry
  const child = spawn(BINARY, ["serve", config], { stdio: ["ignore", log.fd, log.fd] });
  let exitCode: number | null = null;
  const exited = new Promise<void>((resolve) => child.once("exit", (code) => {
    exitCode = code ?? -1;
    resolve();
  }));
  const stop = async () => {
    if (exitCode === null) {
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (exitCode === null) child.kill("SIGKILL");
    }
    await log.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
  // The readiness check's own TLS settings (Bun's fetch options; this helper runs under bun test).
  const readyInit = (options.tls
    ? {
      tls: {
        rejectUnauthorized: false,
        ...(options.tls.clientCert
          ? { cert: readFileSync(options.tls.clientCert, "utf8"), key: readFileSync(options.tls.clientKey!, "utf8") }
          : {}),
      },
    }
    : {}) as RequestInit;
  for (let i = 0;; i++) {
    // Any answer (200, or 401 with auth on) means it is serving.
    const up = await fetch(`${options.tls ? "https" : "http"}://${host}/v2/`, readyInit).then((r) => r.status === 200 || r.status === 401, () => false);
    if (up) break;
    if (exitCode !== null || i === 100) {
      const text = await readFile(join(dir, "registry.log"), "utf8").catch(() => "");
      await stop();
      if (exitCode !== null && text.includes("address already in use")) throw new PortTaken(host);
      throw new Error(`docker-registry did not start on ${host} (exit ${exitCode}): ${text.slice(-500)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host, dir, stop };
}
