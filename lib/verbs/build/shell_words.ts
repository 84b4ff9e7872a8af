/**
 * The Dockerfile word lexer: variable substitution (`$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`,
 * `${VAR-default}`, `${VAR+alt}`, `${VAR:?message}`), single and double quotes, and the escape character,
 * as BuildKit's shell lexer applies them to ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME
 * and WORKDIR. No command substitution, globbing or arithmetic: nothing is ever executed.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";

/** Options of {@link expandWords} and {@link expandWord}. */
export interface ExpandOptions {
  /** The escape character (`\` unless the `# escape=` directive says otherwise). */
  escape?: string;
  /** Names the place in errors, e.g. `Dockerfile:7`. */
  where?: string;
}

const NAME_START = /[A-Za-z_]/;
const NAME_CHAR = /[A-Za-z0-9_]/;

/**
 * Expands `text` into words: split on unquoted whitespace (an unquoted variable's value splits too),
 * quotes removed, escapes resolved, variables replaced by their values (undefined ones by nothing).
 *
 * @example
 * ```ts
 * expandWords('bin/app-${TARGETARCH} "/opt/my app/"', { TARGETARCH: "arm64" }); // ["bin/app-arm64", "/opt/my app/"]
 * ```
 */
export function expandWords(text: string, vars: Record<string, string>, options: ExpandOptions = {}): string[] {
  return new Lexer(text, vars, options).words(true);
}

/**
 * Expands `text` as one word: quotes removed, escapes resolved, variables replaced; whitespace kept.
 *
 * @example
 * ```ts
 * expandWord("${HOME:-/root}/.cache", {}); // "/root/.cache"
 * ```
 */
export function expandWord(text: string, vars: Record<string, string>, options: ExpandOptions = {}): string {
  return new Lexer(text, vars, options).words(false).join("");
}

/**
 * Splits `text` on whitespace outside quotes and `${…}` WITHOUT removing quotes or expanding anything (how ENV and LABEL
 * find their `key=value` pairs before each value is expanded).
 *
 * @example
 * ```ts
 * splitRawWords('A="x y" B=z'); // ['A="x y"', "B=z"]
 * ```
 */
export function splitRawWords(text: string, escape = "\\"): string[] {
  const out: string[] = [];
  let word = "";
  let quote: string | undefined;
  let inWord = false;
  let braces = 0; // inside ${…}, whitespace belongs to the word
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote !== "'" && ch === "$" && text[i + 1] === "{") braces++;
    else if (braces > 0 && ch === "}") braces--;
    if (!quote && braces === 0 && /\s/.test(ch)) {
      if (inWord) out.push(word);
      word = "";
      inWord = false;
      continue;
    }
    inWord = true;
    word += ch;
    if (ch === escape && quote !== "'" && i + 1 < text.length) word += text[++i];
    else if (quote === ch) quote = undefined;
    else if (!quote && (ch === '"' || ch === "'")) quote = ch;
  }
  if (inWord) out.push(word);
  return out;
}

class Lexer {
  #pos = 0;
  readonly #escape: string;
  constructor(readonly text: string, readonly vars: Record<string, string>, readonly options: ExpandOptions) {
    this.#escape = options.escape ?? "\\";
  }

  #fail(reason: string): UsageError {
    return new UsageError(
      `Cannot expand "${this.text}"${this.options.where ? ` (${this.options.where})` : ""}: ${reason}`,
    );
  }

  /** The words of the text; with `split` false, one word with whitespace kept. */
  words(split: boolean): string[] {
    const out: string[] = [];
    let word = "";
    // Whether the word has content other than unquoted expansions: an empty one is still a word ("").
    let literal = false;
    const end = () => {
      if (word !== "" || literal) out.push(word);
      word = "";
      literal = false;
    };
    const t = this.text;
    while (this.#pos < t.length) {
      const ch = t[this.#pos];
      if (split && /\s/.test(ch)) {
        this.#pos++;
        end();
        continue;
      }
      if (ch === "$") {
        const value = this.#dollar();
        if (!split) {
          word += value;
          continue;
        }
        // An unquoted expansion splits on whitespace, as a shell would; an empty one vanishes.
        const parts = value.split(/\s+/);
        word += parts[0];
        for (const part of parts.slice(1)) {
          end();
          word = part;
        }
        continue;
      }
      literal = true;
      if (ch === this.#escape) {
        this.#pos++;
        if (this.#pos < t.length) word += t[this.#pos++];
      } else if (ch === "'") word += this.#single();
      else if (ch === '"') word += this.#double();
      else {
        word += ch;
        this.#pos++;
      }
    }
    if (!split) return [word];
    end();
    return out;
  }

  #single(): string {
    const t = this.text;
    const close = t.indexOf("'", this.#pos + 1);
    if (close < 0) throw this.#fail("unterminated single quote");
    const out = t.slice(this.#pos + 1, close);
    this.#pos = close + 1;
    return out;
  }

  #double(): string {
    const t = this.text;
    let out = "";
    this.#pos++;
    while (this.#pos < t.length) {
      const ch = t[this.#pos];
      if (ch === '"') {
        this.#pos++;
        return out;
      }
      if (ch === this.#escape && this.#pos + 1 < t.length) {
        const next = t[this.#pos + 1];
        // Inside double quotes the escape only protects `"`, `$` and itself.
        if (next === '"' || next === "$" || next === this.#escape) {
          out += next;
          this.#pos += 2;
          continue;
        }
      }
      if (ch === "$") {
        out += this.#dollar();
        continue;
      }
      out += ch;
      this.#pos++;
    }
    throw this.#fail("unterminated double quote");
  }

  /** At a `$`: the value of the variable reference that starts here (or a literal `$`). */
  #dollar(): string {
    const t = this.text;
    this.#pos++;
    const ch = t[this.#pos];
    if (ch === "{") return this.#braced();
    if (ch === undefined || !NAME_START.test(ch)) return "$";
    let name = "";
    while (this.#pos < t.length && NAME_CHAR.test(t[this.#pos])) name += t[this.#pos++];
    return this.vars[name] ?? "";
  }

  #braced(): string {
    const t = this.text;
    this.#pos++;
    let name = "";
    while (this.#pos < t.length && NAME_CHAR.test(t[this.#pos])) name += t[this.#pos++];
    if (name === "" || !NAME_START.test(name[0])) {
      throw this.#fail("bad substitution: expected a variable name after ${");
    }
    if (t[this.#pos] === "}") {
      this.#pos++;
      return this.vars[name] ?? "";
    }
    if (this.#pos >= t.length) throw this.#fail("bad substitution: missing }");
    let op = t[this.#pos];
    if (op === ":") op += t[++this.#pos] ?? "";
    if (![":-", ":+", ":?", "-", "+", "?"].includes(op)) {
      throw this.#fail(`bad substitution: unsupported \${${name}${op}…}`);
    }
    this.#pos++;
    const word = this.#until();
    const value = this.vars[name];
    const set = value !== undefined;
    const nonEmpty = set && value !== "";
    switch (op) {
      case ":-":
        return nonEmpty ? value : word;
      case "-":
        return set ? value : word;
      case ":+":
        return nonEmpty ? word : "";
      case "+":
        return set ? word : "";
      default: {
        if (op === ":?" ? nonEmpty : set) return value!;
        throw this.#fail(`${name}: ${word || "is not set"}`);
      }
    }
  }

  /** The (expanded) word inside `${name:-…}` up to its closing brace. */
  #until(): string {
    const t = this.text;
    let out = "";
    while (this.#pos < t.length) {
      const ch = t[this.#pos];
      if (ch === "}") {
        this.#pos++;
        return out;
      }
      if (ch === this.#escape && this.#pos + 1 < t.length) {
        out += t[this.#pos + 1];
        this.#pos += 2;
      } else if (ch === "$") out += this.#dollar();
      else if (ch === "'") out += this.#single();
      else if (ch === '"') out += this.#double();
      else {
        out += ch;
        this.#pos++;
      }
    }
    throw this.#fail("bad substitution: missing }");
  }
}
