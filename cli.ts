#!/usr/bin/env bun
/**
 * The ferry command-line entry point: `ferry COMMAND [flags] ...`. All logic lives in lib/cli/main.ts.
 *
 * @module
 */
import { main } from "./lib/cli/main.ts";
import { args, exit } from "./lib/runtime.ts";

exit(await main(args()));
