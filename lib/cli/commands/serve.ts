/**
 * `ferry serve PATH...`: argument handling only; the work is `serve()` in lib/verbs/serve.ts.
 *
 * @module
 */
import { UsageError } from "../../errors.ts";
import { serve, type ServeEvent } from "../../verbs/serve.ts";
import type { Command, CommandIo } from "../command.ts";
import { formatBytes } from "../output.ts";

/** `ferry serve`. */
export const serveCommand: Command = {
  name: "serve",
  usage:
    "ferry serve [--address HOST:PORT] [--writable] [--repo NAME] [--htpasswd FILE] [--tls-cert F --tls-key F] PATH...",
  summary:
    "Serve OCI layouts or archives (ferry export's output, bundles, volumes) as a registry, or a registry mirror, docker can pull from",
  examples: [
    "ferry serve out/image-amd64.tar.gz",
    "ferry serve --address 0.0.0.0:5000 --writable ./layout",
    "ferry serve -a :5000 release/   # dockerd --registry-mirror http://HOST:5000 pulls nginx:1.27 from it",
  ],
  flags: {
    address: {
      type: "string",
      short: "a",
      value: "HOST:PORT",
      description: "Where to listen (default 127.0.0.1:5000; :PORT for all interfaces)",
    },
    writable: {
      type: "boolean",
      description: "Accept pushes and deletes into the layout directory PATH (created if missing)",
    },
    repo: {
      type: "string",
      value: "NAME",
      description: "Serve every image under this repository (default: the names in the layouts, else the file name)",
    },
    htpasswd: {
      type: "string",
      value: "FILE",
      description: "Require basic auth against this htpasswd file (bcrypt: htpasswd -B)",
    },
    "tls-cert": { type: "string", value: "FILE", description: "Serve HTTPS with this PEM certificate" },
    "tls-key": { type: "string", value: "FILE", description: "… and this PEM private key" },
    verbose: { type: "boolean", short: "v", description: "Log one line per request on stderr" },
    json: { type: "boolean", description: "Print the address and repositories as JSON once listening" },
  },
  async run(args, io) {
    if (args.positionals.length === 0) {
      throw new UsageError(`Cannot serve: name an OCI layout or archive\nusage: ${this.usage}`);
    }
    const str = (name: string) => (typeof args.values[name] === "string" ? args.values[name] as string : undefined);
    const registry = await serve(args.positionals, {
      address: str("address"),
      writable: args.values.writable === true,
      repo: str("repo"),
      htpasswd: str("htpasswd"),
      tlsCert: str("tls-cert"),
      tlsKey: str("tls-key"),
      onEvent: events(io, args.values.verbose === true),
    });
    try {
      if (args.values.json) {
        io.print(
          JSON.stringify({ url: registry.url, writable: registry.writable, repositories: registry.repositories }),
        );
      } else {
        const mode = registry.writable ? "writable" : "read-only";
        io.print(`Serving ${registry.repositories.length} repositories at ${registry.url} (${mode}); Ctrl-C stops`);
        for (const r of registry.repositories) {
          io.print(`  ${registry.host}/${r.name}: ${r.tags.join(", ") || "(untagged)"}`);
        }
      }
      if (!io.signal.aborted) {
        await new Promise((resolve) => io.signal.addEventListener("abort", resolve, { once: true }));
      }
    } finally {
      await registry.stop();
    }
  },
};

function events(io: CommandIo, verbose: boolean): (event: ServeEvent) => void {
  return (event) => {
    if (event.type === "warning") io.warn(`ferry: warning: ${event.message}`);
    else if (event.type === "error") io.warn(`ferry: error: ${event.message}`);
    else if (event.type === "spooling") io.warn(`ferry: ${event.path}: ${event.reason}`);
    else if (event.type === "missing") io.warn(`ferry: not serving ${event.name}: it needs ${event.files.join(", ")}`);
    else if (event.type === "spooled") io.warn(`ferry: ${event.path}: unpacked (${formatBytes(event.bytes)})`);
    else if (verbose) {
      const e = event.entry;
      io.warn(
        `${new Date().toISOString()} ${e.method} ${e.path} ${e.status} ${e.ms}ms${e.user ? ` user=${e.user}` : ""}`,
      );
    }
  };
}
