import { describe, expect, test } from "bun:test";
import { UsageError } from "../../errors.ts";
import { parseDockerfile } from "./dockerfile.ts";

describe("parseDockerfile", () => {
  test("stages, names, flags, ARG before FROM, the dockerma comment", () => {
    const df = parseDockerfile([
      "# syntax=docker/dockerfile:1",
      "# dockerma archs:arm,amd64,arm64:",
      "ARG BASE=alpine:3.20",
      "",
      "FROM --platform=$BUILDPLATFORM scratch AS Files",
      "COPY --chmod=0755 --chown=1:2 bin/ /out/",
      "from ${BASE}",
      "copy --from=files /out/app-${TARGETARCH} /app",
    ].join("\n"));
    expect(df.archs).toEqual(["arm", "amd64", "arm64"]);
    expect(df.globalArgs.map((a) => [a.line, a.args])).toEqual([[3, "BASE=alpine:3.20"]]);
    expect(df.stages.map((s) => [s.index, s.name, s.from.args, s.from.flags])).toEqual([
      [0, "files", "scratch", { platform: "$BUILDPLATFORM" }],
      [1, undefined, "${BASE}", {}],
    ]);
    expect(df.stages[0].instructions[0]).toEqual({
      line: 6,
      keyword: "COPY",
      flags: { chmod: "0755", chown: "1:2" },
      args: "bin/ /out/",
      text: "COPY --chmod=0755 --chown=1:2 bin/ /out/",
    });
    expect(df.stages[1].instructions[0].keyword).toBe("COPY");
    expect(df.stages[1].instructions[0].flags).toEqual({ from: "files" });
  });

  test("continuations, comments inside them, empty continuation lines, CRLF", () => {
    const df = parseDockerfile("FROM scratch\r\nENV A=1 \\\r\n  # a comment\r\n\r\n    B=2\r\nLABEL x=y \\  \n");
    const [env, label] = df.stages[0].instructions;
    expect(env.args).toBe("A=1     B=2");
    expect(env.line).toBe(2);
    expect(label.args).toBe("x=y");
  });

  test("JSON and shell forms", () => {
    const df = parseDockerfile(
      'FROM scratch\nCMD ["/app", "--flag"]\nENTRYPOINT /app run\nCMD [not json\nVOLUME ["/data"]\n',
    );
    const [cmd, entry, broken, volume] = df.stages[0].instructions;
    expect(cmd.json).toEqual(["/app", "--flag"]);
    expect(entry.json).toBeUndefined();
    expect(entry.args).toBe("/app run");
    expect(broken.json).toBeUndefined();
    expect(volume.json).toEqual(["/data"]);
  });

  test("the escape directive", () => {
    const df = parseDockerfile("# escape=`\nFROM scratch\nCOPY a `\n  C:\\dir\\\n");
    expect(df.escape).toBe("`");
    expect(df.stages[0].instructions[0].args).toBe("a   C:\\dir\\");
  });

  test("a directive after the first instruction is a plain comment", () => {
    const df = parseDockerfile("FROM scratch\n# escape=`\n");
    expect(df.escape).toBe("\\");
  });

  const refusals: [string, RegExp][] = [
    ["FROM alpine\nRUN apk add curl\n", /^Cannot build Dockerfile line 2 \(RUN apk add curl\): RUN executes code/],
    ["FROM alpine\n\nrun \\\n make\n", /line 3 \(run {2}make\): RUN executes code/],
    ["FROM alpine\nONBUILD COPY . /\n", /line 2 .*ONBUILD registers/],
    ["FROM alpine\nFOO bar\n", /line 2 \(FOO bar\): unknown instruction FOO/],
    ["COPY a b\nFROM alpine\n", /line 1 .*only ARG may come before the first FROM/],
    ["# just a comment\n", /has no FROM instruction/],
    ["FROM a b c d\n", /line 1 .*expected FROM/],
    ["FROM a AS x\nFROM b AS X\n", /line 2 .*duplicate stage name/],
    ["FROM a AS 1x\n", /invalid stage name/],
    ["FROM a\nCOPY --from=x --from=y a b\n", /line 2 .*flag --from given twice/],
    ["# escape=x\nFROM a\n", /line 1 .*escape directive/],
  ];
  for (const [text, message] of refusals) {
    test(`refuses ${JSON.stringify(text)}`, () => {
      expect(() => parseDockerfile(text)).toThrow(UsageError);
      expect(() => parseDockerfile(text)).toThrow(message);
    });
  }

  test("long instructions are shortened in messages", () => {
    expect(() => parseDockerfile(`FROM a\nRUN ${"x".repeat(200)}\n`)).toThrow(/\(RUN x{53}\.\.\.\)/);
  });
});
