import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { FileError, UsageError } from "../errors.ts";
import { certsDirsFor, describeTlsFailure, readCertDir, tlsFailureOf, tlsSettingsFor } from "./tls.ts";

let dir: string;
const saved = process.env.DOCKER_CONFIG;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ferry-tls-unit-"));
  process.env.DOCKER_CONFIG = join(dir, "docker");
});
afterAll(async () => {
  if (saved === undefined) delete process.env.DOCKER_CONFIG;
  else process.env.DOCKER_CONFIG = saved;
  await rm(dir, { recursive: true, force: true });
});

test("certs.d directories: HOST:PORT before HOST, docker's before containers'", () => {
  const dirs = certsDirsFor("reg.lan:5000");
  expect(dirs[0]).toBe(join(dir, "docker", "certs.d", "reg.lan:5000"));
  expect(dirs).toContain("/etc/docker/certs.d/reg.lan:5000");
  expect(dirs).toContain("/etc/containers/certs.d/reg.lan:5000");
  expect(dirs.indexOf("/etc/containers/certs.d/reg.lan:5000")).toBeLessThan(
    dirs.indexOf("/etc/docker/certs.d/reg.lan"),
  );
  expect(certsDirsFor("reg.lan").every((d) => d.endsWith("/reg.lan"))).toBe(true);
});

test("a cert dir: every *.crt is a CA, NAME.cert pairs with NAME.key; a lone key or cert is refused", async () => {
  const d = join(dir, "certs");
  await mkdir(d);
  await writeFile(join(d, "ca.crt"), "CA1");
  await writeFile(join(d, "extra.crt"), "CA2");
  await writeFile(join(d, "client.cert"), "CERT");
  await writeFile(join(d, "client.key"), "KEY");
  expect(await readCertDir(d)).toEqual({ dir: d, ca: ["CA1", "CA2"], cert: "CERT", key: "KEY" });
  await rm(join(d, "client.key"));
  await expect(readCertDir(d)).rejects.toBeInstanceOf(UsageError);
  expect(await readCertDir(join(dir, "nope"))).toBeUndefined();
  await expect(readCertDir(join(dir, "nope"), true)).rejects.toBeInstanceOf(FileError);
  // An explicit --cert-dir must exist; a host's certs.d directory is used when it does.
  await expect(tlsSettingsFor("x:1", { certDir: join(dir, "nope") })).rejects.toBeInstanceOf(FileError);
  await mkdir(join(dir, "docker", "certs.d", "reg.lan"), { recursive: true });
  await writeFile(join(dir, "docker", "certs.d", "reg.lan", "ca.crt"), "HOSTCA");
  expect(await tlsSettingsFor("reg.lan:5000", {})).toMatchObject({ ca: ["HOSTCA"], verify: true });
  expect(await tlsSettingsFor("other.lan:5000", { tlsVerify: false })).toEqual({ verify: false });
});

test("TLS failures are told apart from the runtimes' errors, and each message says what to do", () => {
  const bun = (code: string, message = code) => Object.assign(new TypeError(message), { code });
  expect(tlsFailureOf(bun("UNABLE_TO_VERIFY_LEAF_SIGNATURE"))).toBe("unknown-authority");
  expect(tlsFailureOf(bun("ERR_TLS_CERT_ALTNAME_INVALID"))).toBe("hostname");
  expect(tlsFailureOf(bun("CERT_HAS_EXPIRED"))).toBe("expired");
  expect(tlsFailureOf(bun("EPROTO", "The TLS handshake failed. Does the server speak TLS on this port?"))).toBe(
    "handshake",
  );
  expect(tlsFailureOf(bun("ECONNREFUSED"))).toBeUndefined();
  const deno = (m: string) => new TypeError("fetch failed", { cause: new Error(`client error (Connect): ${m}`) });
  expect(tlsFailureOf(deno("invalid peer certificate: UnknownIssuer"))).toBe("unknown-authority");
  expect(tlsFailureOf(deno("invalid peer certificate: Expired"))).toBe("expired");
  expect(tlsFailureOf(deno('certificate not valid for name "127.0.0.1"'))).toBe("hostname");
  expect(tlsFailureOf(deno("received corrupt message of type InvalidContentType"))).toBe("plain-http");
  expect(describeTlsFailure("expired", "reg.lan:5000", "CERT_HAS_EXPIRED", "bun")).toBe(
    "TLS certificate has expired (CERT_HAS_EXPIRED); renew it, or skip verification with --tls-verify=false",
  );
  expect(describeTlsFailure("unknown-authority", "reg.lan:5000", "x", "deno")).toContain(
    "--unsafely-ignore-certificate-errors=reg.lan",
  );
  expect(describeTlsFailure("hostname", "reg.lan:5000", "x", "bun")).toContain("not valid for reg.lan");
});
