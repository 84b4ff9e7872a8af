/**
 * Tiny static Linux executables, assembled byte by byte: each writes one message to stdout and exits 0.
 * They give the sample image something `docker run` can execute on every platform it carries,
 * without a toolchain or a checked-in binary.
 *
 * Each file is an ELF header, one PT_LOAD program header mapping the whole file read+execute at
 * {@link LOAD_ADDRESS}, the machine code (a `write(1, msg, len)` and an `exit(0)` system call) and the message.
 *
 * @module
 */
import { UnsupportedError } from "../errors.ts";
import { matchPlatform, parsePlatform } from "../oci/platform.ts";

/**
 * The platforms {@link staticProgram} can build for.
 *
 * @example
 * ```ts
 * for (const platform of staticProgramPlatforms) console.log(platform, staticProgram(platform).byteLength);
 * ```
 */
export const staticProgramPlatforms = [
  "linux/amd64",
  "linux/arm64",
  "linux/arm/v7",
  "linux/386",
  "linux/ppc64le",
  "linux/s390x",
  "linux/riscv64",
] as const;

/** One of {@link staticProgramPlatforms}. */
export type StaticProgramPlatform = typeof staticProgramPlatforms[number];

/** The longest message, in UTF-8 bytes, that fits every target's length immediate (ppc64 `li`, s390x `lghi`). */
export const STATIC_PROGRAM_MAX_MESSAGE_BYTES = 0x7fff;

/**
 * The line a program prints by default: `hello from <platform>\n`.
 *
 * @example
 * ```ts
 * staticProgramMessage("linux/arm/v7"); // "hello from linux/arm/v7\n"
 * ```
 */
export function staticProgramMessage(platform: string): string {
  return `hello from ${platform}\n`;
}

/**
 * A static ELF executable for `platform` (one of {@link staticProgramPlatforms}) that writes `message`
 * to stdout and exits 0. Throws an {@link UnsupportedError} for any other platform and a RangeError
 * for a message longer than {@link STATIC_PROGRAM_MAX_MESSAGE_BYTES}.
 *
 * @example
 * ```ts
 * const elf = staticProgram("linux/arm64", staticProgramMessage("linux/arm64"));
 * await writeFile("hello", elf, { mode: 0o755 }); // qemu-aarch64 ./hello → "hello from linux/arm64"
 * ```
 */
export function staticProgram(platform: string, message: string = staticProgramMessage(platform)): Uint8Array {
  // Any spelling of a supported platform (`linux/arm64/v8`, `aarch64`, `linux/armhf`) finds its program.
  const key = staticProgramPlatforms.find((k) => k === platform) ??
    staticProgramPlatforms.find((k) => samePlatform(k, platform));
  const target = key ? TARGETS[key] : undefined;
  if (!target) {
    throw new UnsupportedError(
      `Cannot build a static program for ${platform}: supported platforms are ${staticProgramPlatforms.join(", ")}`,
    );
  }
  const text = new TextEncoder().encode(message);
  if (text.byteLength > STATIC_PROGRAM_MAX_MESSAGE_BYTES) {
    throw new RangeError(
      `static program message is ${text.byteLength} bytes, at most ${STATIC_PROGRAM_MAX_MESSAGE_BYTES} fit`,
    );
  }
  const headers = target.bits === 64 ? 64 + 56 : 52 + 32;
  // Every target's code has the same length whatever the addresses, so a dry run measures it.
  const codeLength = target.code(LOAD_ADDRESS, LOAD_ADDRESS + 64, 0).byteLength;
  const messageOffset = alignUp(headers + codeLength, 4);
  const size = messageOffset + text.byteLength;
  const code = target.code(LOAD_ADDRESS + headers, LOAD_ADDRESS + messageOffset, text.byteLength);

  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  const le = target.littleEndian;
  out.set([0x7f, 0x45, 0x4c, 0x46, target.bits === 64 ? 2 : 1, le ? 1 : 2, 1]); // e_ident: class, data, version
  view.setUint16(16, 2, le); // e_type ET_EXEC
  view.setUint16(18, target.machine, le);
  view.setUint32(20, 1, le); // e_version
  if (target.bits === 64) {
    view.setBigUint64(24, BigInt(LOAD_ADDRESS + headers), le); // e_entry
    view.setBigUint64(32, 64n, le); // e_phoff
    view.setUint32(48, target.flags, le);
    view.setUint16(52, 64, le); // e_ehsize
    view.setUint16(54, 56, le); // e_phentsize
    view.setUint16(56, 1, le); // e_phnum
    view.setUint16(58, 64, le); // e_shentsize (no sections)
    view.setUint32(64, PT_LOAD, le);
    view.setUint32(68, PF_R | PF_X, le);
    view.setBigUint64(72, 0n, le); // p_offset
    view.setBigUint64(80, BigInt(LOAD_ADDRESS), le); // p_vaddr
    view.setBigUint64(88, BigInt(LOAD_ADDRESS), le); // p_paddr
    view.setBigUint64(96, BigInt(size), le); // p_filesz
    view.setBigUint64(104, BigInt(size), le); // p_memsz
    view.setBigUint64(112, BigInt(SEGMENT_ALIGN), le);
  } else {
    view.setUint32(24, LOAD_ADDRESS + headers, le); // e_entry
    view.setUint32(28, 52, le); // e_phoff
    view.setUint32(36, target.flags, le);
    view.setUint16(40, 52, le); // e_ehsize
    view.setUint16(42, 32, le); // e_phentsize
    view.setUint16(44, 1, le); // e_phnum
    view.setUint16(46, 40, le); // e_shentsize (no sections)
    view.setUint32(52, PT_LOAD, le);
    view.setUint32(56, 0, le); // p_offset
    view.setUint32(60, LOAD_ADDRESS, le); // p_vaddr
    view.setUint32(64, LOAD_ADDRESS, le); // p_paddr
    view.setUint32(68, size, le); // p_filesz
    view.setUint32(72, size, le); // p_memsz
    view.setUint32(76, PF_R | PF_X, le);
    view.setUint32(80, SEGMENT_ALIGN, le);
  }
  out.set(code, headers);
  out.set(text, messageOffset);
  return out;
}

/** Where the file is mapped: above every kernel's mmap_min_addr, and a multiple of the largest page size (64 KiB). */
const LOAD_ADDRESS = 0x400000;
const SEGMENT_ALIGN = 0x10000;
const PT_LOAD = 1;
const PF_X = 1;
const PF_R = 4;

/** How to build for one platform. */
interface Target {
  bits: 32 | 64;
  littleEndian: boolean;
  /** e_machine. */
  machine: number;
  /** e_flags. */
  flags: number;
  /**
   * Machine code, placed at address `at`, that writes the `len` bytes at address `msg` to fd 1 and exits 0.
   * Its length does not depend on the arguments.
   */
  code(at: number, msg: number, len: number): Uint8Array;
}

const TARGETS: Record<StaticProgramPlatform, Target> = {
  // x86-64: write = 1, exit = 60, `syscall`; the message is addressed relative to rip.
  "linux/amd64": {
    bits: 64,
    littleEndian: true,
    machine: 62, // EM_X86_64
    flags: 0,
    code: (at, msg, len) =>
      bytes(
        [0xb8, ...u32le(1)], // mov eax, 1 (write)
        [0xbf, ...u32le(1)], // mov edi, 1 (stdout)
        [0x48, 0x8d, 0x35, ...u32le(msg - (at + 17))], // lea rsi, [rip + msg]
        [0xba, ...u32le(len)], // mov edx, len
        [0x0f, 0x05], // syscall
        [0xb8, ...u32le(60)], // mov eax, 60 (exit)
        [0x31, 0xff], // xor edi, edi
        [0x0f, 0x05], // syscall
      ),
  },
  // i386: write = 4, exit = 1, `int 0x80`, arguments in ebx, ecx, edx.
  "linux/386": {
    bits: 32,
    littleEndian: true,
    machine: 3, // EM_386
    flags: 0,
    code: (_at, msg, len) =>
      bytes(
        [0xb8, ...u32le(4)], // mov eax, 4 (write)
        [0xbb, ...u32le(1)], // mov ebx, 1 (stdout)
        [0xb9, ...u32le(msg)], // mov ecx, msg
        [0xba, ...u32le(len)], // mov edx, len
        [0xcd, 0x80], // int 0x80
        [0xb8, ...u32le(1)], // mov eax, 1 (exit)
        [0x31, 0xdb], // xor ebx, ebx
        [0xcd, 0x80], // int 0x80
      ),
  },
  // AArch64: write = 64, exit = 93, number in x8, `svc #0`.
  "linux/arm64": {
    bits: 64,
    littleEndian: true,
    machine: 183, // EM_AARCH64
    flags: 0,
    code: (at, msg, len) => {
      const movz = (rd: number, imm16: number) => 0xd2800000 | (imm16 << 5) | rd;
      const adr = (rd: number, offset: number) =>
        (((offset & 3) << 29) | 0x10000000 | (((offset >> 2) & 0x7ffff) << 5) | rd) >>> 0;
      return words(
        true,
        movz(0, 1), // mov x0, #1 (stdout)
        adr(1, msg - (at + 4)), // adr x1, msg
        movz(2, len), // mov x2, #len
        movz(8, 64), // mov x8, #64 (write)
        0xd4000001, // svc #0
        movz(0, 0), // mov x0, #0
        movz(8, 93), // mov x8, #93 (exit)
        0xd4000001, // svc #0
      );
    },
  },
  // 32-bit ARM, A32 instructions of ARMv7 (movw is v6T2+), EABI: write = 4, exit = 1, number in r7, `svc #0`.
  "linux/arm/v7": {
    bits: 32,
    littleEndian: true,
    machine: 40, // EM_ARM
    flags: 0x05000400, // EABI version 5, hard-float (as Debian armhf)
    code: (at, msg, len) => {
      const offset = msg - (at + 4 + 8); // `add r1, pc, #…` at at+4 reads pc as its address + 8
      if (offset < 0 || offset > 0xff) throw new RangeError(`ARM adr offset ${offset} out of range`);
      return words(
        true,
        0xe3a00001, // mov r0, #1 (stdout)
        0xe28f1000 | offset, // add r1, pc, #offset (adr r1, msg)
        0xe3002000 | ((len >> 12) << 16) | (len & 0xfff), // movw r2, #len
        0xe3a07004, // mov r7, #4 (write)
        0xef000000, // svc #0
        0xe3a00000, // mov r0, #0
        0xe3a07001, // mov r7, #1 (exit)
        0xef000000, // svc #0
      );
    },
  },
  // ppc64le, ELFv2 (no function descriptors: e_entry is the code): write = 4, exit = 1, number in r0, `sc`.
  "linux/ppc64le": {
    bits: 64,
    littleEndian: true,
    machine: 21, // EM_PPC64
    flags: 2, // ELFv2 ABI
    code: (_at, msg, len) => {
      const li = (rt: number, imm: number) => (14 << 26) | (rt << 21) | (imm & 0xffff); // addi rt, 0, imm
      return words(
        true,
        li(0, 4), // li r0, 4 (write)
        li(3, 1), // li r3, 1 (stdout)
        (15 << 26) | (4 << 21) | (msg >>> 16), // lis r4, msg@h
        (24 << 26) | (4 << 21) | (4 << 16) | (msg & 0xffff), // ori r4, r4, msg@l
        li(5, len), // li r5, len
        0x44000002, // sc
        li(0, 1), // li r0, 1 (exit)
        li(3, 0), // li r3, 0
        0x44000002, // sc
      );
    },
  },
  // s390x (big-endian): `svc n` carries the number (write = 4, exit = 1), arguments in r2, r3, r4.
  "linux/s390x": {
    bits: 64,
    littleEndian: false,
    machine: 22, // EM_S390
    flags: 0,
    code: (at, msg, len) => {
      const lghi = (r: number, imm: number) => [0xa7, (r << 4) | 9, (imm >> 8) & 0xff, imm & 0xff];
      const halfwords = (msg - (at + 4)) / 2; // larl counts halfwords from its own address; msg is 4-aligned
      return bytes(
        lghi(2, 1), // lghi %r2, 1 (stdout)
        [0xc0, 0x30, ...u32be(halfwords)], // larl %r3, msg
        lghi(4, len), // lghi %r4, len
        [0x0a, 4], // svc 4 (write)
        lghi(2, 0), // lghi %r2, 0
        [0x0a, 1], // svc 1 (exit)
      );
    },
  },
  // RISC-V RV64 (no compressed instructions): write = 64, exit = 93, number in a7, `ecall`.
  "linux/riscv64": {
    bits: 64,
    littleEndian: true,
    machine: 243, // EM_RISCV
    flags: 4, // EF_RISCV_FLOAT_ABI_DOUBLE (lp64d, as Debian riscv64)
    code: (at, msg, len) => {
      const [A0, A1, A2, A7] = [10, 11, 12, 17];
      const addi = (rd: number, rs1: number, imm: number) => ((imm & 0xfff) << 20) | (rs1 << 15) | (rd << 7) | 0x13;
      const hi = (len + 0x800) >> 12; // lui + addi, the addi's immediate being signed
      return words(
        true,
        addi(A0, 0, 1), // li a0, 1 (stdout)
        (A1 << 7) | 0x17, // auipc a1, 0
        addi(A1, A1, msg - (at + 4)), // addi a1, a1, msg - auipc's address
        (hi << 12) | (A2 << 7) | 0x37, // lui a2, %hi(len)
        addi(A2, A2, len - (hi << 12)), // addi a2, a2, %lo(len)
        addi(A7, 0, 64), // li a7, 64 (write)
        0x00000073, // ecall
        addi(A0, 0, 0), // li a0, 0
        addi(A7, 0, 93), // li a7, 93 (exit)
        0x00000073, // ecall
      );
    },
  },
};

function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function u32le(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}

function u32be(n: number): number[] {
  return u32le(n).reverse();
}

function bytes(...parts: number[][]): Uint8Array {
  return new Uint8Array(parts.flat());
}

function words(littleEndian: boolean, ...ws: number[]): Uint8Array {
  const out = new Uint8Array(ws.length * 4);
  const view = new DataView(out.buffer);
  ws.forEach((w, i) => view.setUint32(i * 4, w >>> 0, littleEndian));
  return out;
}

/** Whether two platform strings name the same platform (each matches the other). */
function samePlatform(a: string, b: string): boolean {
  try {
    const [x, y] = [parsePlatform(a), parsePlatform(b)];
    return matchPlatform(x, y) && matchPlatform(y, x);
  } catch {
    return false;
  }
}
