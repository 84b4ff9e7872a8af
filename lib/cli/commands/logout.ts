/**
 * `ferry logout [REGISTRY]`: removes what `ferry login` (or `docker login`) stored.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { logout } from "../../verbs/login.ts";
import type { Command } from "../command.ts";

/** `ferry logout`. */
export const logoutCommand: Command = {
  name: "logout",
  usage: "ferry logout [REGISTRY]",
  summary: "Log out of a registry: remove its credentials from ~/.docker/config.json (or its helper)",
  examples: [
    "ferry logout registry.example.com",
    "ferry logout",
  ],
  flags: {
    authfile: {
      type: "string",
      value: "PATH",
      description: "Docker config.json to edit (default ~/.docker/config.json)",
    },
  },
  async run(args, io) {
    if (args.positionals.length > 1) {
      throw new UsageError(`Cannot log out: expected at most one REGISTRY\nusage: ${this.usage}`);
    }
    const registry = args.positionals[0] ?? "docker.io";
    const result = await logout(registry, {
      authFile: typeof args.values.authfile === "string" ? args.values.authfile : undefined,
    });
    io.print(result ? `Removing login credentials for ${result.registry}` : `Not logged in to ${registry}`);
  },
};
