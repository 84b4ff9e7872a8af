/**
 * Runs the ferry CLI as a separate process: from source (`bun cli.ts`) or, with FERRY_BIN set, the compiled binary.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";

const root = join(import.meta.dir, "..", "..");

/** What one CLI run printed and returned. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `ferry ARGS...` → exit code, stdout, stderr. Progress is off (FERRY_PROGRESS=none) unless the test's env or the
 * arguments ask for a mode, so stderr holds only what the command itself says.
 */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {},
): Promise<CliRun> {
  const bin = process.env.FERRY_BIN;
  const [cmd, argv] = bin ? [bin, args] : [process.execPath, [join(root, "cli.ts"), ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, {
      cwd: options.cwd,
      env: { FERRY_PROGRESS: "none", ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}
