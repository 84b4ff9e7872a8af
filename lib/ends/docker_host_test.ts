import { expect, test } from "bun:test";
import { UsageError } from "../errors.ts";
import { defaultDockerHost, type DockerEndpoint, parseDockerHost } from "./docker_host.ts";

test("DOCKER_HOST forms, as the docker CLI reads them", () => {
  const cases: [string, DockerEndpoint][] = [
    ["unix:///var/run/docker.sock", { kind: "unix", path: "/var/run/docker.sock" }],
    ["unix:///tmp/dk1/docker.sock", { kind: "unix", path: "/tmp/dk1/docker.sock" }],
    ["npipe:////./pipe/docker_engine", { kind: "npipe", path: "\\\\.\\pipe\\docker_engine" }],
    ["npipe:////./pipe/dockerDesktopLinuxEngine", { kind: "npipe", path: "\\\\.\\pipe\\dockerDesktopLinuxEngine" }],
    ["npipe://\\\\.\\pipe\\docker_engine", { kind: "npipe", path: "\\\\.\\pipe\\docker_engine" }],
    ["tcp://127.0.0.1:2375", { kind: "tcp", url: "http://127.0.0.1:2375" }],
    ["http://localhost:2375/", { kind: "tcp", url: "http://localhost:2375" }],
  ];
  for (const [host, want] of cases) expect(parseDockerHost(host), host).toEqual(want);
});

test("the default is the named pipe on Windows and the unix socket elsewhere", () => {
  expect(defaultDockerHost("win32")).toBe("npipe:////./pipe/docker_engine");
  expect(parseDockerHost(defaultDockerHost("win32"))).toEqual({ kind: "npipe", path: "\\\\.\\pipe\\docker_engine" });
  expect(defaultDockerHost("linux")).toBe("unix:///var/run/docker.sock");
  expect(defaultDockerHost("darwin")).toBe("unix:///var/run/docker.sock");
});

test("other forms are usage errors naming the host", () => {
  for (
    const [host, why] of [
      ["ssh://me@host", "DOCKER_HOST must be unix://, npipe:// or tcp://"],
      ["unix://", "no socket path"],
      ["npipe:////./docker_engine", "a named pipe is npipe:////./pipe/NAME"],
      ["tcp://", "no host"],
    ]
  ) {
    expect(() => parseDockerHost(host), host).toThrow(UsageError);
    expect(() => parseDockerHost(host), host).toThrow(`Cannot reach the Docker engine at "${host}": ${why}`);
  }
});
