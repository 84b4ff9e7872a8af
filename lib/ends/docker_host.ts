/**
 * Where the Docker engine listens, from a `DOCKER_HOST` value as the docker CLI reads it: `unix:///path.sock`,
 * `npipe:////./pipe/NAME` (Windows named pipes), `tcp://HOST:PORT` (or `http://`).
 *
 * @module
 */
import { UsageError } from "../errors.ts";

/** The engine's endpoint: a local socket path (unix socket or Windows named pipe) or an HTTP base URL. */
export type DockerEndpoint =
  | { kind: "unix"; path: string }
  | { kind: "npipe"; path: string }
  | { kind: "tcp"; url: string };

/** The docker CLI's default endpoint on `platform` (`process.platform`'s values). */
export function defaultDockerHost(platform: string): string {
  return platform === "win32" ? "npipe:////./pipe/docker_engine" : "unix:///var/run/docker.sock";
}

/**
 * Parses a `DOCKER_HOST` value. `npipe:////./pipe/docker_engine` names the pipe `\\.\pipe\docker_engine`
 * (slashes become backslashes, as the docker CLI reads it). Throws a {@link UsageError} for other schemes.
 *
 * @example
 * ```ts
 * parseDockerHost("npipe:////./pipe/docker_engine"); // { kind: "npipe", path: "\\\\.\\pipe\\docker_engine" }
 * ```
 */
export function parseDockerHost(host: string): DockerEndpoint {
  const fail = (why: string) => new UsageError(`Cannot reach the Docker engine at "${host}": ${why}`);
  if (host.startsWith("unix://")) {
    const path = host.slice("unix://".length);
    if (path === "") throw fail("no socket path after unix://");
    return { kind: "unix", path };
  }
  if (host.startsWith("npipe://")) {
    const path = host.slice("npipe://".length).replaceAll("/", "\\");
    if (!/^\\\\[^\\]+\\pipe\\[^\\]+$/.test(path)) throw fail("a named pipe is npipe:////./pipe/NAME");
    return { kind: "npipe", path };
  }
  if (host.startsWith("tcp://") || host.startsWith("http://")) {
    const authority = host.replace(/^[a-z]+:\/\//, "").replace(/\/+$/, "");
    if (authority === "") throw fail("no host after tcp://");
    return { kind: "tcp", url: `http://${authority}` };
  }
  throw fail("DOCKER_HOST must be unix://, npipe:// or tcp://");
}
