import { expect, test } from "bun:test";
import bcrypt from "bcryptjs";
import { FormatError } from "../errors.ts";
import { serve } from "../runtime.ts";
import { buildSampleImage } from "../testing/sample_image.ts";
import { basicAuthenticator, parseHtpasswd } from "./basic_auth.ts";
import { registryHandler } from "./handler.ts";

const header = (user: string, pass: string) => `Basic ${btoa(`${user}:${pass}`)}`;

test("parses bcrypt htpasswd lines (Apache's $2y$ too), skipping comments and blank lines", () => {
  const hash = bcrypt.hashSync("pw", 4).replace(/^\$2b\$/, "$2y$");
  expect(parseHtpasswd(`# users\n\nferry:${hash}\n`)).toEqual(new Map([["ferry", hash]]));
  expect(() => parseHtpasswd("ferry:{SHA}abc=")).toThrow(FormatError);
  expect(() => parseHtpasswd("ferry:$apr1$x$y")).toThrow("line 1: expected user:bcrypt-hash");
  expect(() => parseHtpasswd(":$2y$05$" + "a".repeat(53))).toThrow(FormatError);
});

test("accepts the right password only, for known users, from well-formed headers", async () => {
  const check = basicAuthenticator(new Map([["ferry", bcrypt.hashSync("s3cret", 4).replace(/^\$2b\$/, "$2y$")]]));
  expect(await check(header("ferry", "s3cret"))).toBe("ferry");
  expect(await check(header("ferry", "s3cret"))).toBe("ferry"); // from the cache
  expect(await check(header("ferry", "wrong"))).toBeUndefined();
  expect(await check(header("other", "s3cret"))).toBeUndefined();
  expect(await check("Bearer abc")).toBeUndefined();
  expect(await check(null)).toBeUndefined();
  expect(await check(`Basic ${btoa("no-colon")}`)).toBeUndefined();
});

test("an unknown user costs a bcrypt check like a known one with a wrong password (no user enumeration by timing)", async () => {
  const check = basicAuthenticator(new Map([["ferry", bcrypt.hashSync("s3cret", 9)]]));
  const time = async (user: string) => {
    const started = performance.now();
    for (let i = 0; i < 3; i++) expect(await check(header(user, `wrong-${i}`))).toBeUndefined();
    return performance.now() - started;
  };
  await time("nobody"); // warm-up
  const known = await time("ferry");
  const unknown = await time("nobody");
  expect(unknown).toBeGreaterThan(known * 0.4);
  expect(unknown).toBeLessThan(known * 2.5);
});

test("a flood of wrong passwords does not stall requests with (cached) valid credentials", async () => {
  const check = basicAuthenticator(new Map([["ferry", bcrypt.hashSync("s3cret", 9)]]));
  const handler = registryHandler(new Map([["sample/app", buildSampleImage().store]]), { authenticate: check });
  const server = await serve(handler);
  try {
    const url = `http://${server.host}/v2/`;
    const valid = { Authorization: header("ferry", "s3cret") };
    expect((await fetch(url, { headers: valid })).status).toBe(200); // verified once, then cached
    const latency = async () => {
      const started = performance.now();
      const res = await fetch(url, { headers: valid });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      return performance.now() - started;
    };
    let baseline = 0;
    for (let i = 0; i < 5; i++) baseline = Math.max(baseline, await latency());
    const floodStarted = performance.now();
    const flood = Promise.all(
      Array.from(
        { length: 50 },
        (_, i) =>
          fetch(url, { headers: { Authorization: header(i % 2 ? "ferry" : "nobody", `wrong-${i}`) } })
            .then(async (r) => {
              await r.arrayBuffer();
              return r.status;
            }),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 50)); // the flood is under way
    const during: number[] = [];
    for (let i = 0; i < 10; i++) during.push(await latency());
    expect(await flood).toEqual(Array(50).fill(401));
    const floodMs = performance.now() - floodStarted;
    // The flood takes seconds of bcrypt work; a cached client is answered between two checks.
    expect(floodMs).toBeGreaterThan(1000);
    expect(Math.max(...during)).toBeLessThan(Math.max(300, baseline * 10));
  } finally {
    await server.stop();
  }
});
