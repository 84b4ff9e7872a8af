import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { NotFoundError, UsageError } from "../../errors.ts";
import { copyGraph } from "../../engine/copy_graph.ts";
import { buildSampleImage } from "../../testing/sample_image.ts";
import { OciLayoutStore } from "../../ends/oci_layout.ts";
import { run } from "../../../tests/helpers/tools.ts";
import { build } from "./build.ts";

const work = mkdtempSync(join(tmpdir(), "ferry-build-unit-"));
const base = join(work, "base");
const ctx = join(work, "ctx");
afterAll(() => rmSync(work, { recursive: true, force: true }));

beforeAll(async () => {
  const sample = buildSampleImage({
    platforms: ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"],
    mediaType: "docker",
  });
  const layout = await OciLayoutStore.open(base, { create: true });
  await copyGraph(sample.store, layout, sample.root);
  await layout.tag(sample.root, "1.0");
  await layout.close();
  mkdirSync(join(ctx, "bin"), { recursive: true });
  for (const arch of ["amd64", "arm64", "arm"]) writeFileSync(join(ctx, "bin", `app-${arch}`), `app for ${arch}\n`);
  writeFileSync(join(ctx, "hello.txt"), "hello from the context\n");
  writeFileSync(join(ctx, "ignored.txt"), "never copied\n");
  writeFileSync(join(ctx, ".dockerignore"), "ignored.txt\n");
  writeFileSync(
    join(ctx, "Dockerfile"),
    [
      "# dockerma archs:arm,amd64,arm64:",
      `ARG BASE=oci:${base}:1.0`,
      "FROM ${BASE} AS assets",
      "COPY hello.txt /srv/",
      "FROM ${BASE}",
      "ARG TARGETARCH",
      "ENV APP=/usr/local/bin/app",
      "COPY --chmod=0755 --chown=1000:1000 bin/app-${TARGETARCH} ${APP}",
      "COPY --from=assets /srv/hello.txt /platform.txt /srv/",
      "WORKDIR /srv",
      'CMD ["cat", "hello.txt"]',
      "LABEL org.opencontainers.image.title=demo",
      "",
    ].join("\n"),
  );
});

function json(bytes: Uint8Array) {
  return JSON.parse(new TextDecoder().decode(bytes));
}

describe("build", () => {
  test("platforms from the dockerma comment, an OCI layout out, identical digests twice", async () => {
    const out = join(work, "layout");
    const result = await build(ctx, { output: out, format: "oci", tags: ["127.0.0.1:1/app:1"] });
    expect(result.images.map((i) => i.platform)).toEqual(["linux/arm/v7", "linux/amd64", "linux/arm64/v8"]);
    const again = await build(ctx, {});
    expect(again.digest).toBe(result.digest);
    const layout = await OciLayoutStore.open(out);
    const root = await layout.resolve("1");
    expect(root.digest).toBe(result.digest);
    const read = async (digest: string) => {
      const chunks: Uint8Array[] = [];
      for await (const c of await layout.fetch({ digest, size: 0, mediaType: "" })) chunks.push(c);
      return Buffer.concat(chunks);
    };
    const amd64 = result.images[1];
    const manifest = json(await read(amd64.digest));
    expect(manifest.layers).toHaveLength(4);
    expect(
      manifest.layers.every((l: { mediaType: string }) =>
        l.mediaType === "application/vnd.oci.image.layer.v1.tar+gzip"
      ),
    ).toBe(true);
    const config = json(await read(manifest.config.digest));
    expect(config.architecture).toBe("amd64");
    expect(config.config.Cmd).toEqual(["cat", "hello.txt"]);
    expect(config.config.WorkingDir).toBe("/srv");
    expect(config.config.Env).toContain("APP=/usr/local/bin/app");
    expect(config.config.Labels).toEqual({ "org.opencontainers.image.title": "demo" });
    expect(config.rootfs.diff_ids).toHaveLength(4);
    const appLayer = gunzipSync(await read(manifest.layers[2].digest)).toString("latin1");
    expect(appLayer).toContain("usr/local/bin/app");
    expect(appLayer).toContain("app for amd64");
    const srvLayer = gunzipSync(await read(manifest.layers[3].digest)).toString("latin1");
    expect(srvLayer).toContain("hello from the context");
    expect(srvLayer).toContain("linux/amd64\n"); // /platform.txt of the assets stage's own base
  });

  test("--platform wins over the comment; a missing platform is a NotFoundError naming the line", async () => {
    const result = await build(ctx, { platforms: ["linux/arm64"] });
    expect(result.images.map((i) => i.platform)).toEqual(["linux/arm64/v8"]);
    const err = await build(ctx, { platforms: ["linux/s390x"] }).catch((e) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toMatch(
      /line 5 \(FROM \$\{BASE\}\): oci:.*\/base:1\.0 has no linux\/s390x image \(it has linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7\)/,
    );
  });

  test("a COPY outside the context names its line", async () => {
    const dir = join(work, "escape");
    mkdirSync(dir);
    writeFileSync(join(dir, "Dockerfile"), "FROM scratch\nCOPY ../ctx/hello.txt /\n");
    const err = await build(dir, { platforms: ["amd64"] }).catch((e) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(
      /line 2 \(COPY \.\.\/ctx\/hello\.txt \/\): "\.\.\/ctx\/hello\.txt" is outside the build context/,
    );
  });

  test("ADD extracts a local tar.gz; COPY --from an image; a file into an existing directory; --target; scratch", async () => {
    const dir = join(work, "more");
    mkdirSync(join(dir, "tree", "sub"), { recursive: true });
    writeFileSync(join(dir, "tree", "sub", "x.txt"), "x\n");
    await run("tar", ["-czf", join(dir, "tree.tgz"), "-C", join(dir, "tree"), "."]);
    writeFileSync(join(dir, "note.txt"), "note\n");
    writeFileSync(
      join(dir, "Dockerfile"),
      [
        "FROM scratch AS files",
        "ADD tree.tgz /opt/",
        `COPY --from=oci:${base}:1.0 /platform.txt /opt/`,
        `FROM oci:${base}:1.0 AS final`,
        "COPY note.txt /data",
        "COPY --from=files /opt/ /opt/",
        "FROM final AS unused",
        "COPY missing.txt /",
        "",
      ].join("\n"),
    );
    const out = join(work, "more-out");
    const result = await build(dir, { platforms: ["arm64"], target: "final", output: out, format: "oci" });
    expect(result.images).toHaveLength(1);
    const bundle = join(work, "more-bundle");
    await run("umoci", ["raw", "unpack", "--rootless", "--image", `${out}:latest`, bundle]);
    expect(readFileSync(join(bundle, "data", "note.txt"), "utf8")).toBe("note\n");
    expect(readFileSync(join(bundle, "data", "random.bin")).byteLength).toBe(1024);
    expect(readFileSync(join(bundle, "opt", "sub", "x.txt"), "utf8")).toBe("x\n");
    expect(readFileSync(join(bundle, "opt", "platform.txt"), "utf8")).toBe("linux/arm64/v8\n");
    const scratch = await build(dir, { platforms: ["linux/arm/v7"], target: "files" });
    expect(scratch.images.map((i) => i.platform)).toEqual(["linux/arm/v7"]);
  });
});
