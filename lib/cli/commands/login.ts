/**
 * `ferry login [-u USER] [--password-stdin] REGISTRY`: credentials checked against the registry, then
 * stored in the docker config file (or its credential helper) the way `docker login` does.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { UsageError } from "../../errors.ts";
import { cliSecretWarning, login } from "../../verbs/login.ts";
import type { Command } from "../command.ts";

/** `ferry login`. */
export const loginCommand: Command = {
  name: "login",
  usage: "ferry login -u USER --password-stdin [REGISTRY]",
  summary: "Log in to a registry: credentials go to ~/.docker/config.json (or its credential helper)",
  examples: [
    'echo "$TOKEN" | ferry login -u ci --password-stdin registry.example.com',
    'ferry login -u ci -p "$PASS" 127.0.0.1:5000',
  ],
  flags: {
    username: { type: "string", short: "u", value: "USER", description: "Username" },
    password: {
      type: "string",
      short: "p",
      value: "PASS",
      description: "Password (insecure: prefer --password-stdin)",
    },
    "password-stdin": { type: "boolean", description: "Read the password from stdin" },
    authfile: {
      type: "string",
      value: "PATH",
      description: "Docker config.json to write (default ~/.docker/config.json)",
    },
    "plain-http": { type: "boolean", description: "Use plain HTTP (always on for loopback hosts)" },
    insecure: { type: "boolean", description: "Skip TLS certificate verification" },
  },
  async run(args, io) {
    if (args.positionals.length > 1) {
      throw new UsageError(`Cannot log in: expected at most one REGISTRY\nusage: ${this.usage}`);
    }
    const username = typeof args.values.username === "string" ? args.values.username : undefined;
    if (!username) throw new UsageError(`Cannot log in: give the username with -u USER\nusage: ${this.usage}`);
    let password = typeof args.values.password === "string" ? args.values.password : undefined;
    if (args.values["password-stdin"]) {
      if (password !== undefined) {
        throw new UsageError("Cannot log in: --password and --password-stdin are mutually exclusive");
      }
      password = await readStdin();
    } else if (password !== undefined) {
      io.warn(cliSecretWarning("password", "--password-stdin"));
    } else {
      throw new UsageError(`Cannot log in: give the password on stdin with --password-stdin\nusage: ${this.usage}`);
    }
    const result = await login(args.positionals[0] ?? "docker.io", {
      username,
      password,
      authFile: typeof args.values.authfile === "string" ? args.values.authfile : undefined,
      plainHttp: args.values["plain-http"] === true,
      insecure: args.values.insecure === true,
      signal: io.signal,
    });
    const where = result.storedIn === "config"
      ? result.configPath
      : `${result.storedIn.slice("helper:".length)} credential helper`;
    io.print(`Login Succeeded (${result.registry}; credentials stored in ${where})`);
  },
};

/** All of stdin, without the trailing newline (as docker strips it). */
async function readStdin(): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk);
  }
  return new TextDecoder().decode(Buffer.concat(chunks)).replace(/\r?\n$/, "");
}
