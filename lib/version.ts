/**
 * ferry's version, what `ferry --version` prints. `lib/version_test.ts` keeps it equal to package.json's and
 * deno.json's.
 */
export const VERSION = "0.1.0";
