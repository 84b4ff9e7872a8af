/**
 * Benchmark (issue #8): `ferry serve` against the CNCF registry (`docker-registry`) serving the same image.
 *
 * (a) `skopeo copy --all --preserve-digests docker://… oci:DIR` out of the registry, out of `ferry serve
 *     DIR` (an OCI layout written by `ferry export --format oci`) and out of `ferry serve image.tar` (an
 *     oci-archive), alternating, into a fresh directory each run (target ≤ 1.1× of the registry's time).
 * (b) 8 `curl` clients at once, each GETting every blob (configs and layers) of the image, rotated so they
 *     start on different blobs: wall time until the last finishes and total bytes/s for each server.
 * (c) peak RSS of `ferry serve` (`/usr/bin/time -v` around it, stopped with SIGINT after the work) while
 *     serving a 1 GiB layer blob to one client, then to 8 at once (target < 100 MiB); the registry's times
 *     for the same GETs, for scale (both copies read once into the page cache first).
 *
 * Each `ferry serve` is the compiled binary, started once per variant and kept up for all its runs.
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { freePort } from "../../tests/helpers/registry.ts";
import { hasGnuTime, type Measurement, measure, type Summary, summarize } from "./measure.ts";

/** A blob to fetch: digest and size. */
export interface BenchBlob {
  digest: string;
  size: number;
}

/** What the serve benchmark needs to know. */
export interface ServeBenchOptions {
  /** The compiled ferry binary. */
  ferry: string;
  /** The CNCF registry already holding both images, e.g. `127.0.0.1:5000`. */
  registryHost: string;
  /** The multi-platform image: repository (tag `1.0`), index digest and every config/layer blob. */
  image: { repo: string; digest: string; blobs: BenchBlob[] };
  /** The single-platform image with one large layer (tag `1.0`). */
  big: { repo: string; layer: BenchBlob };
  runs: number;
  /** Concurrent blob clients (8). */
  clients: number;
  log: (line: string) => void;
}

/** One server's result of the concurrent blob pulls. */
export interface BlobPulls extends Summary {
  /** Bytes all clients received per run. */
  bytes: number;
  /** bytes / median seconds. */
  bytesPerSecond: number;
}

/** Results of {@link serveBench}. */
export interface ServeBenchResult {
  pull: { registry: Summary; layout: Summary; archive: Summary; ratioLayout: number; ratioArchive: number };
  blobs: {
    clients: number;
    registry: BlobPulls;
    layout: BlobPulls;
    archive: BlobPulls;
    /** ferry bytes/s ÷ registry bytes/s (higher is better). */
    ratioLayout: number;
    ratioArchive: number;
  };
  /** Peak RSS of the `ferry serve` processes of (a)+(b), in MiB. */
  serveRssMiB: { layout: number; archive: number };
  big: {
    layerBytes: number;
    /** One client: seconds, and the serve process's peak RSS. */
    one: Measurement;
    /** `clients` clients at once. */
    many: Measurement;
    /** The same GETs from the registry (after ferry's), for scale. */
    registrySeconds: { one: number; many: number };
  };
}

const SERVERS = ["registry", "layout", "archive"] as const;
type ServerName = typeof SERVERS[number];

/** Exports the inputs once (not timed), then runs (a), (b) and (c); see the module doc. */
export async function serveBench(options: ServeBenchOptions): Promise<ServeBenchResult> {
  const { ferry, registryHost, image, big, runs, clients, log } = options;
  const work = await mkdtemp(join(tmpdir(), "ferry-bench-serve-"));
  const servers: ServeProcess[] = [];
  try {
    const layout = join(work, "layout");
    const archive = join(work, "image.tar");
    const bigLayout = join(work, "big");
    ferrySync(ferry, ["export", "--quiet", "--format", "oci", "-o", layout, `${registryHost}/${image.repo}:1.0`]);
    ferrySync(ferry, ["export", "--quiet", "--format", "oci-archive", "-o", archive, `${registryHost}/${image.repo}:1.0`]);
    const layoutServe = await startServe(ferry, layout, image.repo, join(work, "layout.time"));
    servers.push(layoutServe);
    const archiveServe = await startServe(ferry, archive, image.repo, join(work, "archive.time"));
    servers.push(archiveServe);
    const hosts: Record<ServerName, string> = { registry: registryHost, layout: layoutServe.host, archive: archiveServe.host };

    // (a) skopeo pulls, alternating; the order rotates every round; one uncounted warm-up each.
    const pulls = new Map<ServerName, Measurement[]>();
    const pullOnce = async (name: ServerName, warmUp = false) => {
      const dir = join(work, `pull-${name}`);
      try {
        const m = await measure("skopeo", [
          "--insecure-policy", "copy", "--quiet", "--all", "--preserve-digests", "--src-tls-verify=false",
          `docker://${hosts[name]}/${image.repo}:1.0`, `oci:${dir}:1.0`,
        ]);
        const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
        if (index.manifests[0]?.digest !== image.digest) {
          throw new Error(`Cannot verify the pull from ${name}: index ${index.manifests[0]?.digest}, want ${image.digest}`);
        }
        log(`  serve pull   ${name.padEnd(8)} ${m.seconds.toFixed(2)} s${warmUp ? "  (warm-up, not counted)" : ""}`);
        if (!warmUp) pulls.set(name, [...pulls.get(name) ?? [], m]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    };
    for (const name of SERVERS) await pullOnce(name, true);
    for (let round = 0; round < runs; round++) {
      for (let i = 0; i < SERVERS.length; i++) await pullOnce(SERVERS[(i + round) % SERVERS.length]);
    }

    // (b) every blob by `clients` curl processes at once.
    const want = clients * image.blobs.reduce((n, b) => n + b.size, 0);
    const fetches = new Map<ServerName, Measurement[]>();
    const blobsOnce = async (name: ServerName) => {
      const urls = image.blobs.map((b) => `http://${hosts[name]}/v2/${image.repo}/blobs/${b.digest}`);
      const start = performance.now();
      const got = await Promise.all(
        Array.from({ length: clients }, (_, c) => curl(urls.map((_, i) => urls[(i + c) % urls.length]))),
      );
      const seconds = (performance.now() - start) / 1000;
      const bytes = got.reduce((a, b) => a + b, 0);
      if (bytes !== want) throw new Error(`Cannot verify the blob pulls from ${name}: ${bytes} bytes, want ${want}`);
      log(`  serve blobs  ${name.padEnd(8)} ${seconds.toFixed(2)} s  ${(bytes / seconds / 2 ** 20).toFixed(0)} MiB/s`);
      fetches.set(name, [...fetches.get(name) ?? [], { seconds, rssMiB: 0 }]);
    };
    for (let round = 0; round < runs; round++) {
      for (let i = 0; i < SERVERS.length; i++) await blobsOnce(SERVERS[(i + round) % SERVERS.length]);
    }
    servers.length = 0;
    const serveRssMiB = { layout: await layoutServe.stop(), archive: await archiveServe.stop() };

    // (c) one large blob: exported once, served by a fresh process per case.
    ferrySync(ferry, ["export", "--quiet", "--format", "oci", "-o", bigLayout, `${registryHost}/${big.repo}:1.0`]);
    const bigUrl = (host: string) => `http://${host}/v2/${big.repo}/blobs/${big.layer.digest}`;
    const bigCase = async (n: number): Promise<Measurement> => {
      const server = await startServe(ferry, bigLayout, big.repo, join(work, `big-${n}.time`));
      servers.push(server);
      const start = performance.now();
      const got = await Promise.all(Array.from({ length: n }, () => curl([bigUrl(server.host)])));
      const seconds = (performance.now() - start) / 1000;
      servers.length = 0;
      const rssMiB = await server.stop();
      if (got.some((b) => b !== big.layer.size)) throw new Error(`Cannot verify the big blob: got ${got.join(", ")} bytes`);
      log(`  serve big    ${n} client(s)  ${seconds.toFixed(2)} s  serve peak RSS ${rssMiB.toFixed(0)} MiB`);
      return { seconds, rssMiB };
    };
    const registryCase = async (n: number): Promise<number> => {
      const start = performance.now();
      const got = await Promise.all(Array.from({ length: n }, () => curl([bigUrl(registryHost)])));
      const seconds = (performance.now() - start) / 1000;
      if (got.some((b) => b !== big.layer.size)) throw new Error(`Cannot verify the big blob: got ${got.join(", ")} bytes`);
      log(`  serve big    ${n} client(s)  ${seconds.toFixed(2)} s  (docker-registry)`);
      return seconds;
    };
    // Both copies of the blob into the page cache first, so neither side pays for the disk.
    await registryCase(1);
    spawnSync("cat", [join(bigLayout, "blobs", ...big.layer.digest.split(":"))], { stdio: "ignore" });
    const one = await bigCase(1);
    const registryOne = await registryCase(1);
    const many = await bigCase(clients);
    const registryMany = await registryCase(clients);

    const s = (name: ServerName, label: string) => summarize(label, pulls.get(name)!);
    const pull = {
      registry: s("registry", "skopeo ← docker-registry"),
      layout: s("layout", "skopeo ← ferry serve DIR"),
      archive: s("archive", "skopeo ← ferry serve .tar"),
    };
    const b = (name: ServerName, label: string): BlobPulls => {
      const sum = summarize(label, fetches.get(name)!);
      return { ...sum, bytes: want, bytesPerSecond: want / sum.medianSeconds };
    };
    const blobs = {
      registry: b("registry", `${clients}×curl ← docker-registry`),
      layout: b("layout", `${clients}×curl ← ferry serve DIR`),
      archive: b("archive", `${clients}×curl ← ferry serve .tar`),
    };
    return {
      pull: {
        ...pull,
        ratioLayout: pull.layout.medianSeconds / pull.registry.medianSeconds,
        ratioArchive: pull.archive.medianSeconds / pull.registry.medianSeconds,
      },
      blobs: {
        clients,
        ...blobs,
        ratioLayout: blobs.layout.bytesPerSecond / blobs.registry.bytesPerSecond,
        ratioArchive: blobs.archive.bytesPerSecond / blobs.registry.bytesPerSecond,
      },
      serveRssMiB,
      big: { layerBytes: big.layer.size, one, many, registrySeconds: { one: registryOne, many: registryMany } },
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop().catch(() => 0)));
    await rm(work, { recursive: true, force: true });
  }
}

/** A running `ferry serve`; `stop()` sends SIGINT, waits for the exit and returns its peak RSS in MiB. */
interface ServeProcess {
  host: string;
  stop(): Promise<number>;
}

/**
 * Starts `ferry serve --repo REPO PATH` on a free port, under `/usr/bin/time -v` when installed, in its own
 * process group (GNU time ignores SIGINT, so the signal goes to the group: time and the ferry it started).
 */
async function startServe(ferry: string, path: string, repo: string, timeFile: string): Promise<ServeProcess> {
  const host = `127.0.0.1:${await freePort()}`;
  const serveArgs = ["serve", "--address", host, "--repo", repo, path];
  const timed = await hasGnuTime();
  const [cmd, args] = timed ? ["/usr/bin/time", ["-v", "-o", timeFile, ferry, ...serveArgs]] : [ferry, serveArgs];
  const errLog = await open(`${timeFile}.log`, "w");
  const child = spawn(cmd, args, { detached: true, stdio: ["ignore", "ignore", errLog.fd] });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once("exit", () => {
    exited = true;
    resolve();
  }));
  const pid = child.pid!;
  const group = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch { /* already gone */ }
  };
  const deadline = Date.now() + 120_000; // a .tar is indexed before listening
  for (;;) {
    if (exited) {
      throw new Error(`Cannot start ferry serve ${path}: exited early\n${await readFile(`${timeFile}.log`, "utf8")}`);
    }
    const ok = await fetch(`http://${host}/v2/`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      group("SIGKILL");
      throw new Error(`Cannot start ferry serve ${path}: /v2/ did not answer within 120 s`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  let stopped: Promise<number> | undefined;
  return {
    host,
    stop: () =>
      stopped ??= (async () => {
        // Without GNU time the ferry process is the child itself: its VmHWM is the peak so far.
        const hwm = timed ? 0 : Number(/VmHWM:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, "utf8"))?.[1]) / 1024;
        group("SIGINT");
        const killer = setTimeout(() => group("SIGKILL"), 10_000);
        await exit;
        clearTimeout(killer);
        await errLog.close();
        if (!timed) return hwm;
        const text = await readFile(timeFile, "utf8");
        const kib = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1]);
        if (!Number.isFinite(kib)) throw new Error(`Cannot read the peak RSS of ferry serve: ${text.slice(0, 200)}`);
        return kib / 1024;
      })(),
  };
}

/** GETs `urls` in order in one `curl` process (bodies to /dev/null); resolves to the bytes received. */
function curl(urls: string[]): Promise<number> {
  const args = ["-sS", "--fail", "-L", "-w", "%{size_download}\\n", ...urls.flatMap((u) => ["-o", "/dev/null", u])];
  return new Promise((resolve, reject) => {
    const child = spawn("curl", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout!.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (err = (err + c.toString()).slice(-2000)));
    child.once("error", (e) => reject(new Error(`Cannot run curl: ${e.message}`)));
    child.once("close", (code) => {
      if (code !== 0) return reject(new Error(`Cannot fetch blobs with curl: exit ${code}\n${err.trim()}`));
      resolve(out.trim().split("\n").reduce((n, line) => n + Number(line), 0));
    });
  });
}

function ferrySync(ferry: string, args: string[]): void {
  const done = spawnSync(ferry, args, { stdio: ["ignore", "ignore", "inherit"] });
  if (done.status !== 0) throw new Error(`Cannot prepare the serve bench: ferry ${args.join(" ")} exited ${done.status}`);
}
