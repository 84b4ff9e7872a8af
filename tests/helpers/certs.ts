/**
 * Test certificates made with `openssl` into a temp directory: a CA, a server certificate for
 * 127.0.0.1/localhost signed by it, a client certificate (for mutual TLS) signed by it, and a
 * second, unrelated CA (to prove a wrong CA is refused).
 *
 * @module
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** Paths of the PEM files made by {@link makeCerts}. */
export interface TestCerts {
  dir: string;
  caCrt: string;
  serverCrt: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCaCrt: string;
  remove(): Promise<void>;
}

async function ca(dir: string, name: string): Promise<void> {
  await exec("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=ferry test ${name}`,
    "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.crt`),
  ]);
}

async function signed(dir: string, name: string, ext: string): Promise<void> {
  await writeFile(join(dir, `${name}.ext`), ext);
  await exec("openssl", [
    "req", "-newkey", "rsa:2048", "-nodes", "-subj", `/CN=${name}`,
    "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.csr`),
  ]);
  await exec("openssl", [
    "x509", "-req", "-in", join(dir, `${name}.csr`), "-CA", join(dir, "ca.crt"), "-CAkey", join(dir, "ca.key"),
    "-CAcreateserial", "-days", "2", "-extfile", join(dir, `${name}.ext`), "-out", join(dir, `${name}.crt`),
  ]);
}

/** Makes the certificates in a new temp directory. */
export async function makeCerts(): Promise<TestCerts> {
  const dir = await mkdtemp(join(tmpdir(), "ferry-certs-"));
  await Promise.all([ca(dir, "ca"), ca(dir, "other-ca")]);
  await Promise.all([
    signed(dir, "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
    signed(dir, "client", "extendedKeyUsage=clientAuth\n"),
  ]);
  return {
    dir,
    caCrt: join(dir, "ca.crt"),
    serverCrt: join(dir, "server.crt"),
    serverKey: join(dir, "server.key"),
    clientCert: join(dir, "client.crt"),
    clientKey: join(dir, "client.key"),
    otherCaCrt: join(dir, "other-ca.crt"),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
