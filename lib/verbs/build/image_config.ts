/**
 * The image config of a `ferry build` stage: the base's config (or an empty one for `scratch`) with
 * ENV, LABEL, CMD, ENTRYPOINT, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK and
 * MAINTAINER applied the way Docker applies them, one history entry per instruction, and the new
 * layers' diff_ids appended. Serialised with the base's keys in their order, so output is reproducible.
 *
 * @module
 */
import { posix } from "node:path";
import type { Platform } from "../../oci/descriptor.ts";
import { type Instruction, lineError } from "./dockerfile.ts";
import { expandWord, expandWords, splitRawWords } from "./shell_words.ts";

/** Expands one instruction's text with the stage's variables (see shell_words.ts). */
export interface Expander {
  word(text: string): string;
  words(text: string): string[];
}

type Json = Record<string, unknown>;

/** Keys of a base config that describe how the base itself was built, not the new image. */
const BASE_ONLY = ["container", "container_config", "docker_version", "id", "parent"];

/**
 * A stage's image config under construction.
 *
 * @example
 * ```ts
 * const config = ImageConfigBuilder.scratch({ os: "linux", architecture: "arm64" });
 * config.apply(ins, expander); // ENV, CMD, LABEL … instructions
 * config.addLayer("sha256:…", "COPY app /app");
 * const bytes = config.toBytes(0); // created: 1970-01-01T00:00:00Z
 * ```
 */
export class ImageConfigBuilder {
  /** Whether CMD was set by this build (ENTRYPOINT resets an inherited CMD, as Docker does). */
  #cmdSet = false;

  private constructor(readonly doc: Json, readonly file: string) {}

  /** An empty config for `FROM scratch`. */
  static scratch(platform: Platform, file = "Dockerfile"): ImageConfigBuilder {
    const doc: Json = { architecture: platform.architecture, os: platform.os };
    if (platform.variant) doc.variant = platform.variant;
    doc.config = { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] };
    doc.rootfs = { type: "layers", diff_ids: [] };
    doc.history = [];
    return new ImageConfigBuilder(doc, file);
  }

  /** The config of a base image (parsed JSON), to build on. */
  static fromBase(base: Json, file = "Dockerfile"): ImageConfigBuilder {
    const doc = structuredClone(base);
    for (const key of BASE_ONLY) delete doc[key];
    doc.config ??= {};
    doc.rootfs ??= { type: "layers", diff_ids: [] };
    doc.history ??= [];
    return new ImageConfigBuilder(doc, file);
  }

  /** A copy, for a stage that starts FROM another stage. */
  clone(): ImageConfigBuilder {
    return new ImageConfigBuilder(structuredClone(this.doc), this.file);
  }

  /** The `config` object (Env, Cmd, …). */
  get config(): Json {
    return this.doc.config as Json;
  }

  /** The environment as a map (later entries win). */
  get env(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const entry of (this.config.Env as string[] | undefined) ?? []) {
      const i = entry.indexOf("=");
      if (i > 0) out[entry.slice(0, i)] = entry.slice(i + 1);
    }
    return out;
  }

  /** The working directory, `/` when unset. */
  get workdir(): string {
    return (this.config.WorkingDir as string | undefined) || "/";
  }

  /** Sets (or replaces) one environment variable. */
  setEnv(name: string, value: string): void {
    const env = ((this.config.Env as string[] | undefined) ?? []).filter((e) => !e.startsWith(`${name}=`));
    env.push(`${name}=${value}`);
    this.config.Env = env;
  }

  /** Appends a layer's diff_id and its history entry. */
  addLayer(diffId: string, createdBy: string): void {
    (this.doc.rootfs as { diff_ids: string[] }).diff_ids.push(diffId);
    (this.doc.history as Json[]).push({ created_by: createdBy, comment: "ferry build" });
  }

  /**
   * Applies a config instruction (ENV, LABEL, CMD, ENTRYPOINT, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL,
   * SHELL, HEALTHCHECK, MAINTAINER) and records it in the history. Returns the ENV pairs it set.
   */
  apply(ins: Instruction, expand: Expander): Record<string, string> {
    const c = this.config;
    const fail = (reason: string) => lineError(this.file, ins, reason);
    let set: Record<string, string> = {};
    switch (ins.keyword) {
      case "ENV":
        set = pairs(ins, expand, fail, true);
        for (const [k, v] of Object.entries(set)) this.setEnv(k, v);
        break;
      case "LABEL":
        c.Labels = { ...(c.Labels as Json | undefined), ...pairs(ins, expand, fail, false) };
        break;
      case "CMD":
        c.Cmd = this.#command(ins, fail);
        this.#cmdSet = true;
        break;
      case "ENTRYPOINT":
        c.Entrypoint = this.#command(ins, fail);
        if (!this.#cmdSet) c.Cmd = null;
        break;
      case "WORKDIR": {
        const dir = expand.word(ins.args);
        if (dir === "") throw fail("WORKDIR needs a path");
        c.WorkingDir = posix.resolve(this.workdir, dir);
        break;
      }
      case "USER":
      case "STOPSIGNAL": {
        const value = expand.word(ins.args);
        if (value === "") throw fail(`${ins.keyword} needs a value`);
        c[ins.keyword === "USER" ? "User" : "StopSignal"] = value;
        break;
      }
      case "EXPOSE":
        c.ExposedPorts = { ...(c.ExposedPorts as Json | undefined), ...ports(expand.words(ins.args), fail) };
        break;
      case "VOLUME": {
        const paths = ins.json ?? expand.words(ins.args);
        if (paths.length === 0 || paths.some((p) => p === "")) throw fail("VOLUME needs a path");
        c.Volumes = { ...(c.Volumes as Json | undefined), ...Object.fromEntries(paths.map((p) => [p, {}])) };
        break;
      }
      case "SHELL":
        if (!ins.json || ins.json.length === 0) throw fail('SHELL takes the JSON form, e.g. SHELL ["/bin/sh", "-c"]');
        c.Shell = ins.json;
        break;
      case "HEALTHCHECK":
        c.Healthcheck = healthcheck(ins, fail);
        break;
      case "MAINTAINER":
        this.doc.author = expand.word(ins.args);
        break;
      default:
        throw fail(`${ins.keyword} is not a config instruction`);
    }
    (this.doc.history as Json[]).push({ created_by: ins.text, comment: "ferry build", empty_layer: true });
    return set;
  }

  /** The exec form as given, or the shell form run by the stage's SHELL (default `/bin/sh -c`). */
  #command(ins: Instruction, fail: (reason: string) => Error): string[] {
    if (ins.json) return ins.json;
    if (ins.args === "") throw fail(`${ins.keyword} needs a command`);
    return [...((this.config.Shell as string[] | undefined) ?? ["/bin/sh", "-c"]), ins.args];
  }

  /** The config as JSON bytes, with `created` (and every new history entry's) at `epoch` seconds. */
  toBytes(epoch: number): Uint8Array {
    const created = new Date(epoch * 1000).toISOString().replace(/\.000Z$/, "Z");
    const doc: Json = { ...this.doc, created };
    doc.history = (doc.history as Json[]).map((h) => (h.comment === "ferry build" ? { created, ...h } : h));
    return new TextEncoder().encode(JSON.stringify(doc));
  }
}

/** `K=V K2="v 2"` (or the legacy `K value with spaces`) → expanded pairs. */
function pairs(
  ins: Instruction,
  expand: Expander,
  fail: (reason: string) => Error,
  isEnv: boolean,
): Record<string, string> {
  const words = splitRawWords(ins.args);
  if (words.length === 0) throw fail(`${ins.keyword} needs KEY=VALUE`);
  const out: Record<string, string> = {};
  if (!words[0].includes("=")) {
    // Legacy form: one key, the rest of the line is its value.
    const rest = ins.args.slice(ins.args.indexOf(words[0]) + words[0].length).trim();
    if (rest === "" && isEnv) throw fail("ENV needs a value: ENV KEY=VALUE");
    out[expand.word(words[0])] = expand.word(rest);
    return out;
  }
  for (const word of words) {
    const i = word.indexOf("=");
    if (i <= 0) throw fail(`expected KEY=VALUE, got "${word}"`);
    const key = expand.word(word.slice(0, i));
    if (key === "" || (isEnv && /[\s=]/.test(key))) throw fail(`invalid name "${word.slice(0, i)}"`);
    out[key] = expand.word(word.slice(i + 1));
  }
  return out;
}

/** `80 443/tcp 53/udp 8000-8002` → ExposedPorts keys. */
function ports(words: string[], fail: (reason: string) => Error): Json {
  if (words.length === 0) throw fail("EXPOSE needs a port");
  const out: Json = {};
  for (const word of words) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
    const [lo, hi] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [NaN, NaN];
    if (!m || lo < 1 || hi > 65535 || hi < lo) {
      throw fail(`invalid port "${word}" (expected PORT[-PORT][/tcp|udp|sctp])`);
    }
    for (let p = lo; p <= hi; p++) out[`${p}/${(m[3] ?? "tcp").toLowerCase()}`] = {};
  }
  return out;
}

const DURATION_FLAGS: Record<string, string> = {
  interval: "Interval",
  timeout: "Timeout",
  "start-period": "StartPeriod",
  "start-interval": "StartInterval",
};

/** `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=30s …] CMD command` → the config's Healthcheck. */
function healthcheck(ins: Instruction, fail: (reason: string) => Error): Json {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(ins.args);
  const kind = m?.[1].toUpperCase();
  if (kind === "NONE") {
    if (m![2] !== "" || Object.keys(ins.flags).length > 0) throw fail("HEALTHCHECK NONE takes no arguments");
    return { Test: ["NONE"] };
  }
  if (kind !== "CMD" || m![2] === "") throw fail("expected HEALTHCHECK [flags] CMD command, or HEALTHCHECK NONE");
  let test: string[];
  try {
    const parsed: unknown = JSON.parse(m![2]);
    test = Array.isArray(parsed) && parsed.every((s) => typeof s === "string")
      ? ["CMD", ...parsed]
      : ["CMD-SHELL", m![2]];
  } catch {
    test = ["CMD-SHELL", m![2]];
  }
  const out: Json = { Test: test };
  for (const [flag, value] of Object.entries(ins.flags)) {
    if (flag === "retries") {
      if (!/^\d+$/.test(value)) throw fail(`invalid --retries "${value}"`);
      out.Retries = Number(value);
    } else if (DURATION_FLAGS[flag]) out[DURATION_FLAGS[flag]] = duration(value, flag, fail);
    else throw fail(`unknown flag --${flag}`);
  }
  return out;
}

const UNITS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds. */
function duration(text: string, flag: string, fail: (reason: string) => Error): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) throw fail(`invalid --${flag} "${text}" (expected a duration like 30s or 1m30s)`);
    total += Number(m[1]) * UNITS[m[2]];
    at = re.lastIndex;
  }
  if (text === "") throw fail(`invalid --${flag}: empty duration`);
  return Math.round(total);
}

/** Expands with `vars` using the Dockerfile's escape character. */
export function expanderOf(vars: Record<string, string>, escape: string, where: string): Expander {
  return {
    word: (text) => expandWord(text, vars, { escape, where }),
    words: (text) => expandWords(text, vars, { escape, where }),
  };
}
