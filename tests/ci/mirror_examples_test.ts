/**
 * examples/mirror/: the Kubernetes CronJob (Indexed Job), the GitHub Actions matrix and the Argo withParam fan-out
 * are checked as far as can be without a cluster (no kubeconform or actionlint is packaged for Debian or npm here):
 * strict YAML, the structure each engine requires, every name they refer to defined, the shard count the same
 * everywhere, the ConfigMap's mirror.yaml accepted by ferry's own spec parser, and every ferry command line parsed
 * with the CLI's own flag table.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseAllDocuments } from "yaml";
import { mirrorCommand } from "../../lib/cli/commands/mirror.ts";
import { globalFlags } from "../../lib/cli/main.ts";
import { parseMirrorSpec } from "../../lib/verbs/mirror/spec.ts";

const dir = join(import.meta.dir, "../../examples/mirror");
// deno-lint-ignore no-explicit-any
type Any = any;

function load(name: string): Any[] {
  const docs = parseAllDocuments(readFileSync(join(dir, name), "utf8"), { strict: true, uniqueKeys: true });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    expect(doc.errors.map(String)).toEqual([]);
    expect(doc.warnings.map(String)).toEqual([]);
  }
  return list.map((d) => d.toJS());
}

/** Words of a shell command line: whitespace-separated, "double" and 'single' quotes kept together. */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** Parses `ferry mirror SUB ...` with the CLI's own flags (strict: an unknown flag throws); returns the values. */
function ferryArgs(argv: string[]): { sub: string; values: Record<string, Any>; positionals: string[] } {
  const options = Object.fromEntries(
    Object.entries({ ...mirrorCommand.flags, ...globalFlags }).map(([name, f]) => [
      name,
      { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) },
    ]),
  );
  expect(argv[0]).toBe("mirror");
  const { values, positionals } = parseArgs({ args: argv.slice(1), options, allowPositionals: true, strict: true });
  expect(["plan", "run", "merge"]).toContain(positionals[0]);
  return { sub: positionals[0], values, positionals: positionals.slice(1) };
}

/** Every `ferry mirror …` / `…/ferry-linux-x64 mirror …` line of a script. */
function ferryLines(script: string): string[][] {
  return script.split("\n").map((l) => l.trim()).filter((l) => /(^|\/)(ferry|ferry-linux-x64) mirror /.test(l)).map(
    (l) => words(l.replace(/^.*?(?:^|\/)(?:ferry|ferry-linux-x64) (?=mirror )/, "")),
  );
}

describe("examples/mirror/kubernetes-cronjob.yaml", () => {
  const docs = load("kubernetes-cronjob.yaml");
  const byKind = Object.fromEntries(docs.map((d) => [d.kind, d]));

  test("a ConfigMap whose mirror.yaml ferry accepts, and a CronJob of an Indexed Job", () => {
    expect(docs.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual(["v1 ConfigMap", "batch/v1 CronJob"]);
    for (const d of docs) expect(d.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    const spec = parseMirrorSpec(byKind.ConfigMap.data["mirror.yaml"], "the ConfigMap's mirror.yaml");
    expect(spec.sources.length).toBeGreaterThan(0);
    const cron = byKind.CronJob.spec;
    expect(cron.schedule.split(" ").length).toBe(5);
    const job = cron.jobTemplate.spec;
    expect(job.completionMode).toBe("Indexed");
    expect(job.parallelism).toBe(job.completions);
    expect(["Never", "OnFailure"]).toContain(job.template.spec.restartPolicy);
  });

  test("every volume mounted is defined, the ConfigMap is the one defined, and the shards agree with completions", () => {
    const pod = byKind.CronJob.spec.jobTemplate.spec.template.spec;
    const volumes = new Map(pod.volumes.map((v: Any) => [v.name, v]));
    expect((volumes.get("config") as Any).configMap.name).toBe(byKind.ConfigMap.metadata.name);
    const containers = [...pod.initContainers, ...pod.containers];
    for (const c of containers) {
      expect(typeof c.name).toBe("string");
      expect(c.image).toMatch(/^[a-z0-9./-]+(:[\w.-]+)?$/);
      for (const m of c.volumeMounts ?? []) expect(volumes.has(m.name)).toBe(true);
    }
    const completions = byKind.CronJob.spec.jobTemplate.spec.completions;
    const ferryContainers = containers.filter((c) => c.command?.[0]?.endsWith("ferry-linux-x64"));
    const parsed = ferryContainers.map((c) => ferryArgs(c.args));
    expect(parsed.map((p) => p.sub)).toEqual(["plan", "run"]);
    for (const p of parsed) {
      expect(p.values["shard-from-env"]).toBe(true);
      expect(Number(p.values.shards)).toBe(completions);
    }
    // The plan's output is the run's input, on a volume both mount.
    expect(parsed[0].values.output).toBe(parsed[1].values.plan);
    expect(parsed[0].values.config).toBe("/config/mirror.yaml");
    // The binary the init container fetches is the one the others run.
    const fetch = pod.initContainers[0];
    expect(fetch.args[0]).toContain("ferry-linux-x64");
    expect(fetch.args[0]).toContain("sha256sum -c");
  });
});

describe("examples/mirror/github-actions.yml", () => {
  const [wf] = load("github-actions.yml");

  test("a workflow: triggers, jobs with runs-on and steps that each use an action or run a command", () => {
    expect(typeof wf.name).toBe("string");
    expect(Object.keys(wf.on).length).toBeGreaterThan(0);
    for (const [name, job] of Object.entries<Any>(wf.jobs)) {
      expect(name).toMatch(/^[a-z][\w-]*$/);
      expect(job["runs-on"]).toBe("ubuntu-latest");
      for (const need of [job.needs ?? []].flat()) expect(Object.keys(wf.jobs)).toContain(need);
      for (const step of job.steps) {
        expect(("uses" in step) !== ("run" in step)).toBe(true);
        if (step.uses) expect(step.uses).toMatch(/^actions\/[\w-]+@v\d+$/);
      }
    }
  });

  test("the matrix is shards 0…N−1 of --shard K/N; plan → run → merge pass plan.json and the results along", () => {
    const shards: number[] = wf.jobs.mirror.strategy.matrix.shard;
    const commands = Object.fromEntries(
      Object.entries<Any>(wf.jobs).map(([name, job]) => [
        name,
        job.steps.flatMap((s: Any) => (s.run ? ferryLines(s.run) : [])).map(ferryArgs),
      ]),
    );
    expect(commands.plan.map((c: Any) => c.sub)).toEqual(["plan"]);
    expect(commands.mirror.map((c: Any) => c.sub)).toEqual(["run"]);
    expect(commands.merge.map((c: Any) => c.sub)).toEqual(["merge"]);
    const run = commands.mirror[0];
    const n = Number(/^\$SHARD\/(\d+)$/.exec(run.values.shard)![1]);
    expect(shards).toEqual([...Array(n).keys()]);
    expect(run.values.plan).toBe(commands.plan[0].values.output);
    expect(run.values.output).toBe("result-$SHARD.json");
    expect(commands.merge[0].positionals).toEqual(["results/result-*.json"]);
    expect(commands.merge[0].values.retry).toBe("retry.json");
    // The artifacts between the jobs carry those files.
    const uploads = (job: string) => wf.jobs[job].steps.filter((s: Any) => s.uses?.startsWith("actions/upload-artifact"));
    expect(uploads("plan")[0].with.path).toBe("plan.json");
    expect(uploads("mirror")[0].with.path).toBe("result-${{ matrix.shard }}.json");
    expect(uploads("mirror")[0].if).toBe("always()");
  });
});

describe("examples/mirror/argo-workflow.yaml", () => {
  const [wf] = load("argo-workflow.yaml");
  const templates = new Map<string, Any>(wf.spec.templates.map((t: Any) => [t.name, t]));

  test("a Workflow whose steps name templates that exist, fanned out withParam over the plan's shard list", () => {
    expect(`${wf.apiVersion} ${wf.kind}`).toBe("argoproj.io/v1alpha1 Workflow");
    const main = templates.get(wf.spec.entrypoint);
    expect(main).toBeDefined();
    const steps = main.steps.flat();
    for (const s of steps) expect(templates.has(s.template)).toBe(true);
    const fan = steps.find((s: Any) => s.withParam);
    const m = /^\{\{steps\.(\w+)\.outputs\.parameters\.(\w+)\}\}$/.exec(fan.withParam)!;
    expect(templates.get(m[1]).outputs.parameters.map((p: Any) => p.name)).toContain(m[2]);
    expect(fan.arguments.parameters[0].value).toBe("{{item}}");
    // Every artifact passed from a step is one it outputs, and one the receiving template takes.
    for (const s of steps) {
      for (const a of s.arguments?.artifacts ?? []) {
        const f = /^\{\{steps\.(\w+)\.outputs\.artifacts\.(\w+)\}\}$/.exec(a.from)!;
        expect(templates.get(f[1]).outputs.artifacts.map((o: Any) => o.name)).toContain(f[2]);
        expect(templates.get(s.template).inputs.artifacts.map((i: Any) => i.name)).toContain(a.name);
      }
    }
  });

  test("ferry command lines parse; the shards fan in under one key prefix; mounted volumes exist", () => {
    const volumes = new Set(wf.spec.volumes.map((v: Any) => v.name));
    const lines = new Map<string, Any[]>();
    for (const [name, t] of templates) {
      for (const m of t.script?.volumeMounts ?? []) expect(volumes.has(m.name)).toBe(true);
      if (t.script) lines.set(name, ferryLines(t.script.source).map(ferryArgs));
    }
    expect(lines.get("plan")!.map((c) => c.sub)).toEqual(["plan"]);
    expect(lines.get("run")![0].values.shard).toBe("$SHARD/$SHARDS");
    expect(lines.get("run")![0].values.plan).toBe(templates.get("run").inputs.artifacts[0].path);
    expect(lines.get("merge")![0].positionals).toEqual(["/tmp/results/*.json"]);
    const resultKey: string = templates.get("run").outputs.artifacts[0].s3.key;
    const mergeKey: string = templates.get("merge").inputs.artifacts.find((a: Any) => a.name === "results").s3.key;
    expect(resultKey.startsWith(`${mergeKey}/`)).toBe(true);
    // The shard list the plan step writes is JSON for withParam: [0,1,…,N−1].
    expect(templates.get("plan").script.source).toContain('echo "[$(seq -s, 0 $((SHARDS - 1)))]" > /tmp/shards.json');
    expect(templates.get("plan").outputs.parameters[0].valueFrom.path).toBe("/tmp/shards.json");
  });
});
