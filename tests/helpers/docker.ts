/**
 * Starts and stops a private Docker engine for a test file: `dockerd` (Debian package `docker.io`)
 * with the vfs storage driver, no networking set-up, and every path under a SHORT temp directory
 * (`/tmp/dkXXXXXX`: unix socket paths are limited to ~108 bytes).
 *
 * @module
 */
import { spawn } from "node:child_process";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { run, type RunResult } from "./tools.ts";

/** A running private Docker engine. */
export interface TestDocker {
  /** `unix:///tmp/dkXXXXXX/docker.sock`, for `docker -H` or `DOCKER_HOST`. */
  host: string;
  /** Its directory: docker.log, root/, exec/, docker.sock. */
  dir: string;
  /** The socket of the containerd this dockerd started (for `ctr --address`). */
  containerdSocket: string;
  /** Runs `docker -H <host> args…` (throws on a non-zero exit unless `allowFailure`). */
  docker(args: string[], options?: { allowFailure?: boolean; timeoutMs?: number }): Promise<RunResult>;
  /** Stops the engine (SIGTERM to the dockerd this helper started, by PID), waits, removes `dir`. */
  stop(): Promise<void>;
}

/**
 * Starts `dockerd` (with `extraArgs` too) and waits until `docker version` answers (up to 45 s).
 *
 * @example
 * ```ts
 * let engine: TestDocker;
 * beforeAll(async () => { engine = await startDocker(); }, 60_000);
 * afterAll(() => engine.stop(), 60_000);
 * ```
 */
export async function startDocker(options: { extraArgs?: string[] } = {}): Promise<TestDocker> {
  const dir = await mkdtemp("/tmp/dk");
  const host = `unix://${join(dir, "docker.sock")}`;
  const log = await open(join(dir, "docker.log"), "w");
  const child = spawn("dockerd", [
    "--storage-driver", "vfs",
    "--iptables=false",
    "--ip6tables=false",
    "--bridge=none",
    "--data-root", join(dir, "root"),
    "--exec-root", join(dir, "exec"),
    "--pidfile", join(dir, "docker.pid"),
    "-H", host,
    // e.g. `--registry-mirror http://127.0.0.1:PORT --insecure-registry 127.0.0.1:PORT`
    ...(options.extraArgs ?? []),
  ], { stdio: ["ignore", log.fd, log.fd], detached: false });
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", (code) => {
      exited = code;
      resolve();
    });
    child.once("error", (err) => {
      exited = -1;
      log.write(`spawn failed: ${err.message} (install the Debian package docker.io)\n`).catch(() => {});
      resolve();
    });
  });
  const docker = (args: string[], options: { allowFailure?: boolean; timeoutMs?: number } = {}) =>
    run("docker", ["-H", host, ...args], { ...options, env: { DOCKER_CONFIG: join(dir, "client") } });
  const stop = async () => {
    if (exited === undefined && child.pid) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exit;
      clearTimeout(timer);
    }
    await log.close().catch(() => {});
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  };
  const deadline = Date.now() + 45_000;
  for (;;) {
    if (exited !== undefined) {
      const text = await readFile(join(dir, "docker.log"), "utf8").catch(() => "");
      await stop();
      throw new Error(`dockerd exited (${exited}) before answering:\n${text.slice(-3000)}`);
    }
    const probe = await docker(["version", "--format", "{{.Server.Version}}"], { allowFailure: true, timeoutMs: 10_000 });
    if (probe.code === 0) break;
    if (Date.now() > deadline) {
      const text = await readFile(join(dir, "docker.log"), "utf8").catch(() => "");
      await stop();
      throw new Error(`dockerd did not answer within 45 s:\n${text.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { host, dir, containerdSocket: join(dir, "exec", "containerd", "containerd.sock"), docker, stop };
}
