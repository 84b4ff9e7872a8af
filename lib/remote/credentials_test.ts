import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { AuthError, FileError, FormatError } from "../errors.ts";
import { configKey, configPath, resolveCredentials } from "./credentials.ts";

let dir: string;
const savedPath = process.env.PATH;
const b64 = (s: string) => Buffer.from(s).toString("base64");

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ferry-creds-"));
  // A credential helper speaking docker's protocol: server URL on stdin, JSON on stdout.
  await writeFile(
    join(dir, "docker-credential-test"),
    `#!/bin/sh
[ "$1" = get ] || exit 2
read -r server
case "$server" in
  helped.example) echo '{"ServerURL":"helped.example","Username":"helper-user","Secret":"helper-secret"}' ;;
  https://index.docker.io/v1/) echo '{"ServerURL":"x","Username":"<token>","Secret":"identity-tok"}' ;;
  stored.example) echo '{"ServerURL":"stored.example","Username":"store-user","Secret":"store-secret"}' ;;
  broken.example) echo 'helper exploded, token=sup3r-secret' >&2; exit 3 ;;
  hang.example) exec sleep 30 ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
`,
  );
  await chmod(join(dir, "docker-credential-test"), 0o755);
  process.env.PATH = `${dir}:${savedPath}`;
  await writeFile(
    join(dir, "config.json"),
    JSON.stringify({
      auths: {
        "plain.example": { auth: b64("alice:pa:ss") },
        "https://legacy.example/v1/": { auth: b64("bob:pw") },
        "token.example": { identitytoken: "refresh-tok" },
        "stored.example": {},
      },
      credHelpers: {
        "helped.example": "test",
        "docker.io": "test",
        "broken.example": "test",
        "hang.example": "test",
        "missing.example": "nope",
      },
      credsStore: "test",
    }),
  );
  await writeFile(join(dir, "bad.json"), "{not json");
});
afterAll(async () => {
  process.env.PATH = savedPath;
  await rm(dir, { recursive: true, force: true });
});

describe("resolveCredentials", () => {
  const authFile = () => join(dir, "config.json");

  test("explicit options win", async () => {
    expect(await resolveCredentials("plain.example", { username: "u", password: "p", authFile: authFile() })).toEqual({
      username: "u",
      password: "p",
    });
  });

  test.each(
    [
      ["plain.example", { username: "alice", password: "pa:ss" }],
      ["legacy.example", { username: "bob", password: "pw" }],
      ["token.example", { identityToken: "refresh-tok" }],
      ["helped.example", { username: "helper-user", password: "helper-secret" }],
      ["docker.io", { identityToken: "identity-tok" }], // asked for under Docker Hub's legacy key
      ["stored.example", { username: "store-user", password: "store-secret" }], // empty auths entry → credsStore
      ["unknown.example", undefined], // credsStore says "credentials not found"
    ] as const,
  )("%s", async (registry, expected) => {
    expect(await resolveCredentials(registry, { authFile: authFile() })).toEqual(expected as never);
  });

  test("a missing helper is an AuthError naming it; a failing one is named with its exit code, its stderr never repeated", async () => {
    const missing = await resolveCredentials("missing.example", { authFile: authFile() }).catch((e) => e);
    expect(missing).toBeInstanceOf(AuthError);
    expect(missing.message).toBe(
      "Cannot get credentials for missing.example: credential helper docker-credential-nope not found on PATH",
    );
    // (The old message repeated the helper's stderr, which may carry a secret.)
    const broken = await resolveCredentials("broken.example", { authFile: authFile() }).catch((e) => e);
    expect(broken).toBeInstanceOf(AuthError);
    expect(broken.message).toBe(
      "Cannot get credentials for broken.example: credential helper docker-credential-test failed (exit 3)",
    );
  });

  test("a helper that hangs is killed after the timeout: an AuthError saying so", async () => {
    const started = Date.now();
    const hung = await resolveCredentials("hang.example", { authFile: authFile(), helperTimeoutMs: 500 }).catch((e) =>
      e
    );
    expect(hung).toBeInstanceOf(AuthError);
    expect(hung.message).toBe(
      "Cannot get credentials for hang.example: credential helper docker-credential-test did not answer within 0.5 s (killed)",
    );
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  test("no config file means anonymous; a missing --authfile is a FileError; a malformed one is a FormatError", async () => {
    const saved = process.env.REGISTRY_AUTH_FILE;
    process.env.REGISTRY_AUTH_FILE = join(dir, "absent.json");
    try {
      expect(await resolveCredentials("plain.example")).toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env.REGISTRY_AUTH_FILE;
      else process.env.REGISTRY_AUTH_FILE = saved;
    }
    await expect(resolveCredentials("plain.example", { authFile: join(dir, "absent.json") })).rejects.toBeInstanceOf(
      FileError,
    );
    await expect(resolveCredentials("plain.example", { authFile: join(dir, "absent.json") })).rejects.toThrow(
      `Cannot read credentials from ${join(dir, "absent.json")} (--authfile): no such file`,
    );
    await expect(resolveCredentials("plain.example", { authFile: join(dir, "bad.json") })).rejects.toBeInstanceOf(
      FormatError,
    );
  });
});

test("configPath: option, $REGISTRY_AUTH_FILE, $DOCKER_CONFIG, ~/.docker", () => {
  const saved = { a: process.env.REGISTRY_AUTH_FILE, d: process.env.DOCKER_CONFIG, h: process.env.HOME };
  try {
    delete process.env.REGISTRY_AUTH_FILE;
    delete process.env.DOCKER_CONFIG;
    process.env.HOME = "/home/x";
    expect(configPath()).toBe("/home/x/.docker/config.json");
    process.env.DOCKER_CONFIG = "/etc/dc";
    expect(configPath()).toBe("/etc/dc/config.json");
    process.env.REGISTRY_AUTH_FILE = "/run/auth.json";
    expect(configPath()).toBe("/run/auth.json");
    expect(configPath({ authFile: "/mine.json" })).toBe("/mine.json");
  } finally {
    for (const [k, v] of [["REGISTRY_AUTH_FILE", saved.a], ["DOCKER_CONFIG", saved.d], ["HOME", saved.h]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test("configKey", () => {
  expect(configKey("docker.io")).toBe("https://index.docker.io/v1/");
  expect(configKey("ghcr.io")).toBe("ghcr.io");
});
