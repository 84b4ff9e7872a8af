/**
 * Path patterns of `ferry build`: COPY sources (`*`, `?`, `[a-z]`, per path segment, like Go's
 * filepath.Match) and `.dockerignore` lines (the same plus `**` for any number of segments, `!` to
 * re-include, a pattern also covering everything under a matched directory).
 *
 * @module
 */

/**
 * A matcher for one slash-separated pattern against slash-separated relative paths.
 *
 * @example
 * ```ts
 * const m = new PathPattern("bin/app-*");
 * m.matches("bin/app-amd64"); // true
 * m.matches("bin/sub/app-amd64"); // false: `*` never crosses a `/`
 * new PathPattern("**\/*.md").matches("docs/a/b.md"); // true
 * ```
 */
export class PathPattern {
  readonly #re: RegExp;
  /** Whether the pattern has any wildcard (else it names exactly one path). */
  readonly isGlob: boolean;

  constructor(readonly pattern: string) {
    this.isGlob = /[*?[]/.test(pattern.replace(/\\./g, ""));
    const segments = pattern.split("/").filter((s) => s !== "");
    let re = "^";
    segments.forEach((segment, i) => {
      const last = i === segments.length - 1;
      if (segment === "**") {
        // Any number of segments (zero included), with the slash that follows them.
        re += last ? ".*" : "(?:[^/]*/)*";
        return;
      }
      re += segmentSource(segment) + (last ? "" : "/");
    });
    this.#re = new RegExp(`${re}$`);
  }

  /** Whether `path` (relative, no leading slash) matches the whole pattern. */
  matches(path: string): boolean {
    return this.#re.test(path);
  }

  /** Whether `path` or one of its parent directories matches (how .dockerignore excludes a tree). */
  matchesOrParent(path: string): boolean {
    const parts = path.split("/");
    for (let i = parts.length; i > 0; i--) if (this.#re.test(parts.slice(0, i).join("/"))) return true;
    return false;
  }
}

/** The regular expression source of one path segment's wildcards. */
function segmentSource(segment: string): string {
  let out = "";
  for (let i = 0; i < segment.length; i++) {
    const ch = segment[i];
    if (ch === "\\" && i + 1 < segment.length) out += escapeRe(segment[++i]);
    else if (ch === "*") out += "[^/]*";
    else if (ch === "?") out += "[^/]";
    else if (ch === "[") {
      const close = segment.indexOf("]", i + 2);
      if (close < 0) {
        out += "\\[";
        continue;
      }
      let body = segment.slice(i + 1, close);
      if (body.startsWith("^") || body.startsWith("!")) body = `^${body.slice(1)}`;
      out += `[${body.replace(/\\(?=[^\]^-])/g, "\\\\")}]`;
      i = close;
    } else out += escapeRe(ch);
  }
  return out;
}

function escapeRe(ch: string): string {
  return ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/**
 * The rules of a `.dockerignore` file: later lines win, `!` re-includes, `#` starts a comment.
 *
 * @example
 * ```ts
 * const ignore = new IgnoreRules("*.log\n!keep.log\nnode_modules\n");
 * ignore.excludes("a.log"); // true
 * ignore.excludes("keep.log"); // false
 * ignore.excludes("node_modules/x/y.js"); // true
 * ```
 */
export class IgnoreRules {
  readonly #rules: { pattern: PathPattern; include: boolean }[] = [];

  constructor(text = "") {
    for (const raw of text.split(/\r?\n/)) {
      let line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const include = line.startsWith("!");
      if (include) line = line.slice(1).trim();
      const clean = cleanPattern(line);
      if (clean !== "") this.#rules.push({ pattern: new PathPattern(clean), include });
    }
  }

  /** Whether some rule re-includes paths (then an excluded directory must still be walked). */
  get hasExceptions(): boolean {
    return this.#rules.some((r) => r.include);
  }

  /** Whether `path` (relative to the context, no leading slash) is excluded from the context. */
  excludes(path: string): boolean {
    let excluded = false;
    for (const rule of this.#rules) {
      if (rule.include === !excluded) continue; // this rule cannot change the outcome
      if (rule.pattern.matchesOrParent(path)) excluded = !rule.include;
    }
    return excluded;
  }
}

/** A pattern as Docker cleans it: no leading `/` or `./`, no `.` segments, `..` resolved. */
function cleanPattern(pattern: string): string {
  const out: string[] = [];
  for (const part of pattern.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out.join("/");
}
