/**
 * Rate-limit budgets of a mirror: whether a plan's manifest requests fit what a source registry announces
 * (`RateLimit-Limit: 100;w=21600`, `RateLimit-Remaining: 76;w=21600`, read from the plan's free HEADs), and
 * which 429 a failure was: Docker Hub's pull limit (the window's budget is spent; its answer links to Docker's docs)
 * or its abuse limit (a bare 429: too many requests too fast, whatever the budget).
 *
 * @module
 */
import { RateLimitError } from "../../errors.ts";
import type { RateLimitInfo } from "../../remote/rate_limit.ts";

/**
 * What one source registry allows against what a plan needs from it.
 *
 * @example
 * ```ts
 * const { budgets } = await planMirror(spec);
 * for (const b of budgets) if (!b.fits) console.log(`${b.host}: ${b.needed} needed, ${b.remaining} left`);
 * ```
 */
export interface MirrorBudget {
  /** The registry host the requests go to, e.g. `registry-1.docker.io`. */
  host: string;
  /** Requests left in the current window. */
  remaining: number;
  /** Requests per window, when announced. */
  limit?: number;
  /** The window in seconds (`w=`), when announced. */
  windowSeconds?: number;
  /** Manifest GETs the plan's copies will make to this host. */
  needed: number;
  /** `needed` ≤ `remaining`. */
  fits: boolean;
  /** When it does not fit and the limit is known: the further windows the rest needs. */
  moreWindows?: number;
}

/** The budget of `host` for `needed` requests, from its last announcement. */
export function budgetOf(host: string, info: RateLimitInfo, needed: number): MirrorBudget {
  const fits = needed <= info.remaining;
  const budget: MirrorBudget = { host, remaining: info.remaining, needed, fits };
  if (info.limit !== undefined) budget.limit = info.limit;
  if (info.windowSeconds !== undefined) budget.windowSeconds = info.windowSeconds;
  if (!fits && info.limit !== undefined && info.limit > 0) {
    budget.moreWindows = Math.ceil((needed - info.remaining) / info.limit);
  }
  return budget;
}

/** A budget as one line: `registry-1.docker.io: 76 of 100 requests left per 6 h; the plan needs 12: fits`. */
export function formatBudget(b: MirrorBudget): string {
  const of = b.limit !== undefined ? ` of ${b.limit}` : "";
  const per = b.windowSeconds !== undefined ? ` per ${formatWindow(b.windowSeconds)}` : "";
  const verdict = b.fits
    ? "fits"
    : `does not fit${
      b.moreWindows !== undefined
        ? ` (${b.moreWindows} more window${b.moreWindows === 1 ? "" : "s"}${
          b.windowSeconds !== undefined ? `, about ${formatWindow(b.moreWindows * b.windowSeconds)}` : ""
        })`
        : ""
    }`;
  return `${b.host}: ${b.remaining}${of} manifest requests left${per}; the plan needs ${b.needed}: ${verdict}`;
}

/** `21600` → `6 h`, `90` → `1.5 min`. */
export function formatWindow(seconds: number): string {
  if (seconds >= 3600) return `${+(seconds / 3600).toFixed(1)} h`;
  if (seconds >= 60) return `${+(seconds / 60).toFixed(1)} min`;
  return `${seconds} s`;
}

/**
 * Which limit a 429 is: `pull` when the registry names its pull rate limit (Docker Hub's answer carries a
 * `docker.com` link, and its headers say nothing is left), `abuse` for a bare 429 (no such words), or undefined
 * when `err` is no rate-limit error.
 */
export function rateLimitKind(err: unknown, info?: RateLimitInfo): "pull" | "abuse" | undefined {
  if (!(err instanceof RateLimitError)) return undefined;
  const text = [err.message, ...err.errors.map((e) => e.message ?? "")].join(" ");
  if (/https?:\/\/(?:[a-z0-9-]+\.)*docker\.com\//i.test(text) || /pull rate limit/i.test(text)) return "pull";
  if (info && info.remaining === 0) return "pull";
  return "abuse";
}

/** The message of a rate-limit failure, saying which limit it was and what to do. */
export function explainRateLimit(err: RateLimitError, kind: "pull" | "abuse", info?: RateLimitInfo): string {
  if (kind === "pull") {
    const left = info
      ? ` (${info.remaining}${info.limit !== undefined ? ` of ${info.limit}` : ""} left${
        info.windowSeconds !== undefined ? ` per ${formatWindow(info.windowSeconds)}` : ""
      })`
      : "";
    return `${err.message}: the pull rate limit is spent${left}; retry the failed images after the window ` +
      "resets (ferry mirror merge --retry), or log in for a higher limit";
  }
  return `${err.message}: a bare 429 is the registry's abuse limit (too many requests at once), not the pull ` +
    "limit; lower --parallel, --jobs or the number of shards running at once";
}
