/** ferry's version; `scripts/check_version.ts` keeps it equal to package.json's and deno.json's. */
export const VERSION = "0.1.0";
