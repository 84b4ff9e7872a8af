import { describe, expect, test } from "bun:test";
import { UsageError } from "../../errors.ts";
import { expandWord, expandWords, splitRawWords } from "./shell_words.ts";

const vars = { A: "alpha", E: "", SP: "x y", ARCH: "arm64" };

describe("expandWords", () => {
  const table: [string, string[]][] = [
    ["$A", ["alpha"]],
    ["${A}", ["alpha"]],
    ["pre${A}post", ["prealphapost"]],
    ["bin/app-${ARCH} /app", ["bin/app-arm64", "/app"]],
    ["${MISSING:-def} ${E:-empty} ${A:-x}", ["def", "empty", "alpha"]],
    ["${E-unset} ${MISSING-unset}", ["unset"]], // E is set (to ""): the empty word vanishes
    ["${A:+alt} ${E:+alt} ${E+set}", ["alt", "set"]],
    ["'$A' \"$A\"", ["$A", "alpha"]],
    ['"a b" c', ["a b", "c"]],
    ['\\$A \\"', ["$A", '"']],
    ['"\\$A \\" \\n"', ['$A " \\n']],
    ["$SP", ["x", "y"]],
    ['"$SP"', ["x y"]],
    ["$E a", ["a"]],
    ['"" a', ["", "a"]],
    ["$ 5$ $1", ["$", "5$", "$1"]],
    ["${MISSING:-${A}-x}", ["alpha-x"]],
  ];
  for (const [input, want] of table) {
    test(JSON.stringify(input), () => expect(expandWords(input, vars)).toEqual(want));
  }

  test("a backtick escape", () => {
    expect(expandWords("`$A C:\\dir", vars, { escape: "`" })).toEqual(["$A", "C:\\dir"]);
  });

  const errors: [string, RegExp][] = [
    ["${MISSING:?needs a value}", /MISSING: needs a value/],
    ["${E:?}", /E: is not set/],
    ["${A", /missing \}/],
    ["${}", /expected a variable name/],
    ["${A/x/y}", /unsupported/],
    ["'open", /unterminated single quote/],
    ['"open', /unterminated double quote/],
  ];
  for (const [input, message] of errors) {
    test(`refuses ${input}`, () => {
      expect(() => expandWords(input, vars, { where: "Dockerfile line 3" })).toThrow(UsageError);
      expect(() => expandWords(input, vars)).toThrow(message);
    });
  }
});

describe("expandWord", () => {
  test("keeps whitespace and removes quotes", () => {
    expect(expandWord('hello  "big $A"  world', vars)).toBe("hello  big alpha  world");
    expect(expandWord("$SP", vars)).toBe("x y");
  });
});

describe("splitRawWords", () => {
  test("splits on unquoted whitespace and keeps quotes", () => {
    expect(splitRawWords("A=\"x y\" B=z\\ w C='q r'")).toEqual(['A="x y"', "B=z\\ w", "C='q r'"]);
    expect(splitRawWords("V=${X:-a b} W=1")).toEqual(["V=${X:-a b}", "W=1"]);
  });
});
