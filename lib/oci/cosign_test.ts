import { describe, expect, test } from "bun:test";
import { constants, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import {
  decodeBase64,
  dssePae,
  ecdsaDerToRaw,
  parsePublicKey,
  parseSimpleSigning,
  verifyDsse,
  verifySignature,
  verifySigstoreBundle,
  verifySimpleSigning,
} from "./cosign.ts";

const enc = new TextEncoder();
const digest = "sha256:" + "ab".repeat(32);
const payload = enc.encode(JSON.stringify({
  critical: {
    identity: { "docker-reference": "127.0.0.1:5000/app" },
    image: { "docker-manifest-digest": digest },
    type: "cosign container image signature",
  },
  optional: null,
}));

function pemOf(key: KeyObject): string {
  return key.export({ type: "spki", format: "pem" }).toString();
}

const kinds = [
  { name: "ECDSA P-256", algorithm: "ecdsa-p256", pair: () => generateKeyPairSync("ec", { namedCurve: "P-256" }) },
  { name: "ECDSA P-384", algorithm: "ecdsa-p384", pair: () => generateKeyPairSync("ec", { namedCurve: "P-384" }) },
  { name: "Ed25519", algorithm: "ed25519", pair: () => generateKeyPairSync("ed25519") },
  { name: "RSA", algorithm: "rsa", pair: () => generateKeyPairSync("rsa", { modulusLength: 2048 }) },
] as const;

function signWith(kind: typeof kinds[number]["algorithm"], key: KeyObject, message: Uint8Array): Buffer {
  if (kind === "ed25519") return sign(null, message, key);
  if (kind === "ecdsa-p384") return sign("sha384", message, key);
  return sign("sha256", message, key); // ECDSA: DER, as cosign writes; RSA: PKCS#1 v1.5, as cosign signs
}

describe("verifySimpleSigning (cosign sign --key)", () => {
  for (const kind of kinds) {
    test(`${kind.name}: a signature verifies; a wrong key, a tampered payload or signature does not`, async () => {
      const { privateKey, publicKey } = kind.pair();
      const key = parsePublicKey(pemOf(publicKey), "cosign.pub");
      expect(key.algorithm).toBe(kind.algorithm);
      const signature = signWith(kind.algorithm, privateKey, payload).toString("base64");
      expect(await verifySimpleSigning({ payload, signature, digest, keys: [key] })).toEqual({
        verified: true,
        key: "cosign.pub",
        reference: "127.0.0.1:5000/app",
      });
      const other = parsePublicKey(pemOf(kind.pair().publicKey), "other.pub");
      expect(await verifySimpleSigning({ payload, signature, digest, keys: [other] })).toEqual({
        verified: false,
        reason: "does not verify with other.pub",
      });
      expect((await verifySimpleSigning({ payload, signature, digest, keys: [other, key] })).verified).toBe(true);
      const tampered = payload.slice();
      tampered[tampered.length - 2] ^= 1; // "null" → "nulm": still the same digest claim, not the signed bytes
      expect((await verifySimpleSigning({ payload: tampered, signature, digest, keys: [key] })).verified).toBe(false);
      const bad = Buffer.from(signature, "base64");
      bad[bad.length - 1] ^= 1;
      expect((await verifySimpleSigning({ payload, signature: bad.toString("base64"), digest, keys: [key] })).verified)
        .toBe(false);
    });
  }

  test("RSA-PSS signatures (32-byte and largest salt) verify", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const key = parsePublicKey(pemOf(publicKey));
    for (const saltLength of [32, constants.RSA_PSS_SALTLEN_MAX_SIGN]) {
      const sig = sign("sha256", payload, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
      expect(await verifySignature(key, payload, sig)).toBe(true);
    }
  });

  test("the payload must name the image's digest; the annotation must be there and base64", async () => {
    const { privateKey, publicKey } = kinds[0].pair();
    const key = parsePublicKey(pemOf(publicKey));
    const signature = sign("sha256", payload, privateKey).toString("base64");
    const other = "sha256:" + "cd".repeat(32);
    expect(await verifySimpleSigning({ payload, signature, digest: other, keys: [key] })).toEqual({
      verified: false,
      reason: `the payload signs ${digest}, not this image`,
    });
    expect((await verifySimpleSigning({ payload, signature: undefined, digest, keys: [key] })).verified).toBe(false);
    expect(await verifySimpleSigning({ payload, signature: "%%%", digest, keys: [key] })).toEqual({
      verified: false,
      reason: "the signature annotation is not base64",
    });
    expect(
      (await verifySimpleSigning({ payload: enc.encode("{}"), signature, digest, keys: [key] })).verified,
    ).toBe(false);
  });
});

describe("parsePublicKey", () => {
  test("refuses a private key, a PKCS#1 RSA key and garbage, naming the file", () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    expect(() => parsePublicKey(privateKey.export({ type: "pkcs8", format: "pem" }).toString(), "cosign.key"))
      .toThrow("Cannot use key cosign.key: it is a private key; pass the public one (cosign.pub)");
    expect(() => parsePublicKey(publicKey.export({ type: "pkcs1", format: "pem" }).toString(), "rsa.pem"))
      .toThrow("Cannot use key rsa.pem: a RSA PUBLIC KEY block");
    expect(() => parsePublicKey("hello", "x.pub")).toThrow("Cannot read key x.pub: not a PEM public key");
    expect(() => parsePublicKey("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "x.pub"))
      .toThrow("Cannot read key x.pub: not a DER SubjectPublicKeyInfo");
  });
});

describe("ecdsaDerToRaw", () => {
  test("strips DER's sign bytes and left-pads short integers", () => {
    const r = new Uint8Array(32).fill(0x80), s = new Uint8Array(31).fill(1);
    const der = new Uint8Array([0x30, 4 + 33 + 31, 0x02, 33, 0, ...r, 0x02, 31, ...s]);
    const raw = ecdsaDerToRaw(der, 32)!;
    expect(raw.slice(0, 32)).toEqual(r);
    expect(raw.slice(32)).toEqual(new Uint8Array([0, ...s]));
    expect(ecdsaDerToRaw(new Uint8Array(64).fill(7), 32)).toEqual(new Uint8Array(64).fill(7));
    expect(ecdsaDerToRaw(new Uint8Array(10), 32)).toBeUndefined();
  });
});

describe("DSSE and sigstore bundles", () => {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const key = parsePublicKey(pemOf(publicKey), "cosign.pub");
  const statement = enc.encode(JSON.stringify({
    _type: "https://in-toto.io/Statement/v1",
    subject: [{ name: "app", digest: { sha256: digest.slice(7) } }],
    predicateType: "https://sigstore.dev/cosign/sign/v1",
    predicate: {},
  }));
  const type = "application/vnd.in-toto+json";
  const envelope = {
    payloadType: type,
    payload: Buffer.from(statement).toString("base64"),
    signatures: [{ keyid: "", sig: sign("sha256", dssePae(type, statement), privateKey).toString("base64") }],
  };

  test("a DSSE envelope verifies over the PAE and must name the image", async () => {
    expect(await verifyDsse(envelope, { digest, keys: [key] })).toEqual({ verified: true, key: "cosign.pub" });
    expect(await verifyDsse(envelope, { digest: "sha256:" + "00".repeat(32), keys: [key] })).toEqual({
      verified: false,
      reason: "the statement's subjects do not include this image",
    });
    const forged = { ...envelope, payloadType: "text/plain" };
    expect((await verifyDsse(forged, { digest, keys: [key] })).verified).toBe(false);
  });

  test("a v0.3 bundle's dsseEnvelope verifies; a messageSignature bundle says it is not supported", async () => {
    const bundle = (body: Record<string, unknown>) =>
      enc.encode(JSON.stringify({ mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json", ...body }));
    expect(await verifySigstoreBundle(bundle({ dsseEnvelope: envelope }), { digest, keys: [key] })).toEqual({
      verified: true,
      key: "cosign.pub",
    });
    const verdict = await verifySigstoreBundle(bundle({ messageSignature: {} }), { digest, keys: [key] });
    expect(verdict).toEqual({
      verified: false,
      reason: "a messageSignature sigstore bundle is not supported (only DSSE bundles are verified with --key)",
    });
  });
});

test("parseSimpleSigning and decodeBase64", () => {
  expect(parseSimpleSigning(payload)).toEqual({
    dockerManifestDigest: digest,
    dockerReference: "127.0.0.1:5000/app",
    type: "cosign container image signature",
  });
  expect(() => parseSimpleSigning(enc.encode("[]"))).toThrow("no critical.image.docker-manifest-digest");
  expect(decodeBase64("aGk=")).toEqual(enc.encode("hi"));
  expect(decodeBase64("!")).toBeUndefined();
});
