// tsc (tsconfig.json) type-checks the tests and scripts with Bun's types (bun:test, Bun.*, node:*); Deno reads
// tsconfig.json too, and a `types` entry there would load them into `deno doc mod.ts` as well, so they come from here.
/// <reference types="bun" />
