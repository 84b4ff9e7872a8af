import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Buffer } from "node:buffer";
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { startRegistry, type TestRegistry } from "../../tests/helpers/registry.ts";
import { run } from "../../tests/helpers/tools.ts";
import { AuthError, FormatError, UsageError } from "../errors.ts";
import { copyGraph } from "../engine/copy_graph.ts";
import { resolveCredentials } from "../remote/credentials.ts";
import { buildSampleImage } from "../testing/sample_image.ts";
import { openRegistryStore } from "../ends/registry.ts";
import { login, logout, normalizeRegistry } from "./login.ts";

const USER = "ci";
const PASS = "pa55-w0rd:with:colons";
let registry: TestRegistry;
let tmp: string;
const savedPath = process.env.PATH;
beforeAll(async () => {
  registry = await startRegistry({ htpasswd: { username: USER, password: PASS } });
  tmp = await mkdtemp(join(tmpdir(), "ferry-login-"));
  // A credential helper speaking docker's protocol, keeping what it is given in a file.
  await mkdir(join(tmp, "bin"));
  const helper = join(tmp, "bin", "docker-credential-ferrytest");
  await writeFile(
    helper,
    `#!/bin/sh
d="${tmp}"
case "$1" in
  store) cat > "$d/helper-store.json" ;;
  get) cat > /dev/null; if [ -f "$d/helper-store.json" ]; then cat "$d/helper-store.json"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  erase) cat > "$d/helper-erased"; if [ -f "$d/helper-store.json" ]; then rm "$d/helper-store.json"; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
`,
  );
  await chmod(helper, 0o755);
  process.env.PATH = `${join(tmp, "bin")}:${savedPath}`;
}, 30_000);
afterAll(async () => {
  process.env.PATH = savedPath;
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

test.each([
  ["", "docker.io"],
  ["index.docker.io", "docker.io"],
  ["https://registry-1.docker.io/v2/", "docker.io"],
  ["https://GHCR.io/", "ghcr.io"],
  ["127.0.0.1:5000", "127.0.0.1:5000"],
])("normalizeRegistry(%p) = %p", (text, expected) => expect(normalizeRegistry(text)).toBe(expected));

describe("login to a registry with basic auth", () => {
  test("writes auths like docker (0600, other settings kept); ferry and skopeo then read it", async () => {
    const authFile = join(tmp, "plain", "config.json");
    await mkdir(join(tmp, "plain"));
    await writeFile(
      authFile,
      JSON.stringify({ proxies: { default: { httpProxy: "" } }, auths: { "other.io": { auth: "eDp5" } } }),
    );
    const result = await login(registry.host, { username: USER, password: PASS, authFile });
    expect(result).toEqual({
      registry: registry.host,
      serverAddress: registry.host,
      configPath: authFile,
      storedIn: "config",
    });
    const text = await readFile(authFile, "utf8");
    expect(text).toContain('\n\t"auths": {');
    const config = JSON.parse(text);
    expect(config.proxies).toEqual({ default: { httpProxy: "" } });
    expect(config.auths["other.io"]).toEqual({ auth: "eDp5" });
    expect(Buffer.from(config.auths[registry.host].auth, "base64").toString()).toBe(`${USER}:${PASS}`);
    expect((await stat(authFile)).mode & 0o777).toBe(0o600);

    const sample = buildSampleImage();
    const store = openRegistryStore({ registry: registry.host, repository: "logged/in" }, { authFile });
    await copyGraph(sample.store, store, sample.root);
    await store.tag(sample.root, "1.0");
    const raw = await run("skopeo", [
      "inspect",
      "--raw",
      "--tls-verify=false",
      "--authfile",
      authFile,
      `docker://${registry.host}/logged/in:1.0`,
    ]);
    expect(JSON.parse(raw.stdout).manifests.length).toBe(3);

    expect(await logout(registry.host, { authFile })).toMatchObject({ registry: registry.host, storedIn: "config" });
    const after = JSON.parse(await readFile(authFile, "utf8"));
    expect(after.auths).toEqual({ "other.io": { auth: "eDp5" } });
    expect(await logout(registry.host, { authFile })).toBeUndefined();
  }, 30_000);

  test("a wrong password is refused before anything is written, and never shown", async () => {
    const authFile = join(tmp, "wrong.json");
    const err = await login(registry.host, { username: USER, password: "not-the-password-xyz", authFile }).catch((e) =>
      e
    );
    expect(err).toBeInstanceOf(AuthError);
    expect(String(err.message)).not.toContain("not-the-password-xyz");
    await expect(stat(authFile)).rejects.toThrow();
  });

  test("with a credsStore, the helper stores and erases; the file keeps an empty entry", async () => {
    const authFile = join(tmp, "helper.json");
    await writeFile(authFile, JSON.stringify({ credsStore: "ferrytest" }));
    const result = await login(`http://${registry.host}/`, { username: USER, password: PASS, authFile });
    expect(result.storedIn).toBe("helper:ferrytest");
    expect(JSON.parse(await readFile(authFile, "utf8"))).toEqual({
      credsStore: "ferrytest",
      auths: { [registry.host]: {} },
    });
    expect(JSON.parse(await readFile(join(tmp, "helper-store.json"), "utf8"))).toEqual({
      ServerURL: registry.host,
      Username: USER,
      Secret: PASS,
    });
    expect(await resolveCredentials(registry.host, { authFile })).toEqual({ username: USER, password: PASS });
    expect(await logout(registry.host, { authFile })).toMatchObject({ storedIn: "helper:ferrytest" });
    expect(await readFile(join(tmp, "helper-erased"), "utf8")).toBe(registry.host);
    expect(JSON.parse(await readFile(authFile, "utf8")).auths).toEqual({});
  }, 30_000);

  test("credHelpers for the host win; Docker Hub is keyed by its legacy URL", async () => {
    const authFile = join(tmp, "hub.json");
    await writeFile(authFile, JSON.stringify({ credHelpers: { "docker.io": "ferrytest" } }));
    const result = await login("docker.io", { username: "u", password: "p", authFile, noVerify: true });
    expect(result).toMatchObject({ serverAddress: "https://index.docker.io/v1/", storedIn: "helper:ferrytest" });
    expect(JSON.parse(await readFile(authFile, "utf8")).auths).toEqual({ "https://index.docker.io/v1/": {} });
    await logout("index.docker.io", { authFile });
  });

  test("bad input and a broken config file", async () => {
    await expect(login(registry.host, { username: "", password: "x", noVerify: true })).rejects.toThrow(UsageError);
    await expect(login(registry.host, { username: "x", password: "", noVerify: true })).rejects.toThrow(
      "password is empty",
    );
    const authFile = join(tmp, "broken.json");
    await writeFile(authFile, "{ not json");
    await expect(login(registry.host, { username: USER, password: PASS, authFile })).rejects.toThrow(FormatError);
  });
});
