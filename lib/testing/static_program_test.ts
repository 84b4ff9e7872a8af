import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { UnsupportedError } from "../errors.ts";
import {
  STATIC_PROGRAM_MAX_MESSAGE_BYTES,
  staticProgram,
  staticProgramMessage,
  type StaticProgramPlatform,
  staticProgramPlatforms,
} from "./static_program.ts";

/** How to run each platform's binary here (qemu-user, Debian package qemu-user) and what `file` calls it. */
const PLATFORMS: Record<StaticProgramPlatform, { qemu: string[]; native?: string; file: RegExp }> = {
  "linux/amd64": { qemu: ["qemu-x86_64"], native: "x64", file: /^ELF 64-bit LSB executable, x86-64,/ },
  "linux/arm64": { qemu: ["qemu-aarch64"], native: "arm64", file: /^ELF 64-bit LSB executable, ARM aarch64,/ },
  // An ARMv7 core, so that an instruction newer than v7 would fault.
  "linux/arm/v7": { qemu: ["qemu-arm", "-cpu", "cortex-a7"], file: /^ELF 32-bit LSB executable, ARM, EABI5 / },
  "linux/386": { qemu: ["qemu-i386"], file: /^ELF 32-bit LSB executable, Intel 80386,/ },
  "linux/ppc64le": {
    qemu: ["qemu-ppc64le"],
    file: /^ELF 64-bit LSB executable, 64-bit PowerPC or cisco 7500, OpenPOWER ELF V2 ABI,/,
  },
  "linux/s390x": { qemu: ["qemu-s390x"], file: /^ELF 64-bit MSB executable, IBM S\/390,/ },
  "linux/riscv64": { qemu: ["qemu-riscv64"], file: /^ELF 64-bit LSB executable, UCB RISC-V,/ },
};

const dir = mkdtempSync(join(tmpdir(), "ferry-static-program-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function writeProgram(elf: Uint8Array): string {
  const path = join(dir, `prog-${files++}`);
  writeFileSync(path, elf);
  chmodSync(path, 0o755);
  return path;
}

/** Runs the binary natively or under qemu-user; a missing qemu fails the test with the package to install. */
function execute(
  platform: StaticProgramPlatform,
  path: string,
): { status: number | null; stdout: string; stderr: string } {
  const { qemu, native } = PLATFORMS[platform];
  const [cmd, ...args] = native === process.arch ? [path] : [...qemu, path];
  const result = spawnSync(cmd, args, { encoding: "utf8", timeout: 30_000 });
  if (result.error) {
    throw new Error(`Cannot run ${cmd} (Debian package qemu-user; scripts/install_deps.sh): ${result.error.message}`);
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function describeFile(path: string): string {
  const result = spawnSync("file", ["-b", path], { encoding: "utf8" });
  if (result.error) throw new Error(`Cannot run file (Debian package file): ${result.error.message}`);
  return result.stdout.trim();
}

describe("staticProgram", () => {
  for (const platform of staticProgramPlatforms) {
    test(`${platform}: a static ELF that prints its line and exits 0`, () => {
      const elf = staticProgram(platform, staticProgramMessage(platform));
      expect(elf.byteLength).toBeLessThan(300);
      const path = writeProgram(elf);
      const description = describeFile(path);
      expect(description).toMatch(PLATFORMS[platform].file);
      expect(description).toContain("statically linked");
      expect(execute(platform, path)).toEqual({ status: 0, stdout: `hello from ${platform}\n`, stderr: "" });
    });

    test(`${platform}: a long multi-byte message is written whole`, () => {
      const message = "ferry ✓ ".repeat(600) + "end\n"; // 6003 UTF-8 bytes: the length needs more than 12 bits
      const path = writeProgram(staticProgram(platform, message));
      expect(execute(platform, path)).toEqual({ status: 0, stdout: message, stderr: "" });
    });
  }

  test("the message defaults to staticProgramMessage", () => {
    expect(staticProgramMessage("linux/arm/v7")).toBe("hello from linux/arm/v7\n");
    expect(staticProgram("linux/arm64")).toEqual(staticProgram("linux/arm64", "hello from linux/arm64\n"));
  });

  test("any spelling of a supported platform finds its program", () => {
    expect(staticProgram("linux/arm64/v8", "x\n")).toEqual(staticProgram("linux/arm64", "x\n"));
    expect(staticProgram("aarch64", "x\n")).toEqual(staticProgram("linux/arm64", "x\n"));
    expect(staticProgram("linux/armhf", "x\n")).toEqual(staticProgram("linux/arm/v7", "x\n"));
  });

  test("an unsupported platform is an UnsupportedError naming the supported ones", () => {
    for (const platform of ["linux/arm/v6", "linux/arm64/v9", "windows/amd64", "linux/mips64le", ""]) {
      expect(() => staticProgram(platform, "x\n")).toThrow(UnsupportedError);
    }
    expect(() => staticProgram("linux/arm/v6")).toThrow(/linux\/arm\/v6: supported platforms are linux\/amd64, /);
  });

  test("a message too long for the length immediates is a RangeError", () => {
    expect(() => staticProgram("linux/amd64", "x".repeat(STATIC_PROGRAM_MAX_MESSAGE_BYTES + 1))).toThrow(RangeError);
    const longest = "y".repeat(STATIC_PROGRAM_MAX_MESSAGE_BYTES);
    for (const platform of staticProgramPlatforms) {
      expect(execute(platform, writeProgram(staticProgram(platform, longest)))).toEqual({
        status: 0,
        stdout: longest,
        stderr: "",
      });
    }
  });
});
