import { expect, test } from "bun:test";
import bcrypt from "bcryptjs";
import { FormatError } from "../errors.ts";
import { basicAuthenticator, parseHtpasswd } from "./basic_auth.ts";

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
