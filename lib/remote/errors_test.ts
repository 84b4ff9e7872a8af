import { describe, expect, test } from "bun:test";
import { AuthError, NotFoundError, RateLimitError, RegistryError } from "../errors.ts";
import { errorFromResponse, formatEntries, parseErrorBody } from "./errors.ts";

describe("parseErrorBody", () => {
  test("the distribution spec's error JSON", () => {
    const body =
      '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}},{"code":"DENIED"}]}';
    expect(parseErrorBody(body)).toEqual([
      { code: "MANIFEST_UNKNOWN", message: "manifest unknown", detail: { Tag: "x" } },
      { code: "DENIED" },
    ]);
  });
  test.each(["", "<html>502</html>", "{}", '{"errors":"x"}', '{"errors":[{"message":"no code"}]}', "null"])(
    "not error JSON: %p",
    (body) => expect(parseErrorBody(body)).toEqual([]),
  );
  test("formatEntries", () => {
    expect(formatEntries([{ code: "A", message: "one" }, { code: "B" }])).toBe("A: one; B");
  });
});

describe("errorFromResponse", () => {
  const ctx = { verb: "push", what: "blob sha256:abc", host: "reg.example", method: "PUT", ref: "reg.example/app:1" };
  const answer = (status: number, body = "") => new Response(body || null, { status });

  test("404 → NotFoundError with the registry's words", async () => {
    const err = await errorFromResponse(answer(404, '{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}'), {
      ...ctx,
      url: "https://reg.example/v2/app/blobs/x",
    });
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe("Cannot find blob sha256:abc: BLOB_UNKNOWN: blob unknown");
    expect(err.ref).toBe("reg.example/app:1");
  });
  test("401/403 → AuthError naming the host", async () => {
    const err = await errorFromResponse(answer(403, '{"errors":[{"code":"DENIED","message":"denied"}]}'), {
      ...ctx,
      url: "https://reg.example/",
    });
    expect(err).toBeInstanceOf(AuthError);
    expect(err.message).toBe("Cannot authenticate to reg.example: DENIED: denied");
  });
  test("429 → RateLimitError; others → RegistryError with status, entries and a redacted URL", async () => {
    const url = "https://user:hunter2@reg.example/v2/app/blobs/uploads/abc?_state=SECRET&digest=sha256:abc";
    const limited = await errorFromResponse(answer(429), { ...ctx, url });
    expect(limited).toBeInstanceOf(RateLimitError);
    const err = await errorFromResponse(answer(500, '{"errors":[{"code":"UNKNOWN","message":"boom"}]}'), {
      ...ctx,
      url,
    });
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(500);
    expect((err as RegistryError).errors).toEqual([{ code: "UNKNOWN", message: "boom" }]);
    expect(err.message).toBe(
      "Cannot push blob sha256:abc: PUT https://reg.example/v2/app/blobs/uploads/abc answered 500: UNKNOWN: boom",
    );
    for (const e of [limited, err]) {
      expect(e.message).not.toContain("hunter2");
      expect(e.message).not.toContain("SECRET");
    }
  });
});
