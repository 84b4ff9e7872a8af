import { describe, expect, test } from "bun:test";
import { UsageError } from "../../errors.ts";
import { parseDockerfile } from "./dockerfile.ts";
import { expanderOf, ImageConfigBuilder } from "./image_config.ts";

/** Applies the instructions of a one-stage Dockerfile body to a scratch config and returns the JSON. */
function configOf(body: string, vars: Record<string, string> = {}, base?: Record<string, unknown>) {
  const df = parseDockerfile(`FROM scratch\n${body}`);
  const config = base
    ? ImageConfigBuilder.fromBase(base)
    : ImageConfigBuilder.scratch({ os: "linux", architecture: "arm", variant: "v7" });
  for (const ins of df.stages[0].instructions) {
    Object.assign(vars, config.apply(ins, expanderOf({ ...vars, ...config.env }, df.escape, `line ${ins.line}`)));
  }
  return JSON.parse(new TextDecoder().decode(config.toBytes(86400)));
}

describe("ImageConfigBuilder", () => {
  test("scratch config, created from the epoch, one history entry per instruction", () => {
    const doc = configOf('ENV A=1 B="two words"\nENV C $A-${B}\nLABEL org.x="y z" v=$A\nUSER 1000:1000\n');
    expect(doc.architecture).toBe("arm");
    expect(doc.variant).toBe("v7");
    expect(doc.created).toBe("1970-01-02T00:00:00Z");
    expect(doc.config.Env).toEqual([
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "A=1",
      "B=two words",
      "C=1-two words",
    ]);
    expect(doc.config.Labels).toEqual({ "org.x": "y z", v: "1" });
    expect(doc.config.User).toBe("1000:1000");
    expect(doc.history).toHaveLength(4);
    expect(doc.history[0]).toEqual({
      created: "1970-01-02T00:00:00Z",
      created_by: 'ENV A=1 B="two words"',
      comment: "ferry build",
      empty_layer: true,
    });
  });

  test("ENV values see the environment from before the instruction", () => {
    expect(configOf("ENV A=1\nENV A=2 B=$A\n").config.Env.slice(1)).toEqual(["A=2", "B=1"]);
  });

  test("CMD, ENTRYPOINT, SHELL, WORKDIR, EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK, MAINTAINER", () => {
    const doc = configOf(
      [
        'CMD ["/app", "serve"]',
        "ENTRYPOINT /tini --",
        "WORKDIR /srv",
        "WORKDIR data/$SUB",
        "EXPOSE 80 53/udp 8000-8001/TCP",
        'VOLUME ["/data"]',
        "VOLUME /a /b",
        "STOPSIGNAL SIGTERM",
        'SHELL ["/bin/ash", "-eo", "pipefail", "-c"]',
        "CMD run it",
        "HEALTHCHECK --interval=1m30s --retries=3 CMD wget -q localhost",
        "MAINTAINER me@example.com",
      ].join("\n"),
      { SUB: "x" },
    );
    const c = doc.config;
    expect(c.Entrypoint).toEqual(["/bin/sh", "-c", "/tini --"]);
    expect(c.Cmd).toEqual(["/bin/ash", "-eo", "pipefail", "-c", "run it"]);
    expect(c.WorkingDir).toBe("/srv/data/x");
    expect(c.ExposedPorts).toEqual({ "80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {} });
    expect(c.Volumes).toEqual({ "/data": {}, "/a": {}, "/b": {} });
    expect(c.StopSignal).toBe("SIGTERM");
    expect(c.Healthcheck).toEqual({ Test: ["CMD-SHELL", "wget -q localhost"], Interval: 90e9, Retries: 3 });
    expect(doc.author).toBe("me@example.com");
  });

  test("ENTRYPOINT resets an inherited CMD but not one set in the build", () => {
    const base = {
      architecture: "amd64",
      os: "linux",
      config: { Cmd: ["sh"] },
      rootfs: { type: "layers", diff_ids: ["sha256:a"] },
      container_config: {},
    };
    const doc = configOf('ENTRYPOINT ["/app"]\n', {}, base);
    expect(doc.config.Cmd).toBeNull();
    expect(doc.container_config).toBeUndefined();
    expect(doc.rootfs.diff_ids).toEqual(["sha256:a"]);
    expect(configOf('CMD ["x"]\nENTRYPOINT ["/app"]\n', {}, base).config.Cmd).toEqual(["x"]);
  });

  test("layers append diff_ids and history", () => {
    const config = ImageConfigBuilder.scratch({ os: "linux", architecture: "amd64" });
    config.addLayer("sha256:abc", "COPY app /app");
    const doc = JSON.parse(new TextDecoder().decode(config.toBytes(0)));
    expect(doc.rootfs.diff_ids).toEqual(["sha256:abc"]);
    expect(doc.history).toEqual([{
      created: "1970-01-01T00:00:00Z",
      created_by: "COPY app /app",
      comment: "ferry build",
    }]);
  });

  const refusals: [string, RegExp][] = [
    ["ENV\n", /ENV needs KEY=VALUE/],
    ["ENV A\n", /ENV needs a value/],
    ["ENV =x\n", /expected KEY=VALUE/],
    ["EXPOSE 99999\n", /invalid port "99999"/],
    ["EXPOSE http\n", /invalid port/],
    ["SHELL /bin/sh\n", /SHELL takes the JSON form/],
    ["HEALTHCHECK --interval=soon CMD x\n", /invalid --interval "soon"/],
    ["HEALTHCHECK --bogus=1 CMD x\n", /unknown flag --bogus/],
    ["HEALTHCHECK x\n", /expected HEALTHCHECK/],
    ["WORKDIR $EMPTY\n", /WORKDIR needs a path/],
    ["CMD\n", /CMD needs a command/],
  ];
  for (const [body, message] of refusals) {
    test(`refuses ${JSON.stringify(body)}`, () => {
      expect(() => configOf(body)).toThrow(UsageError);
      expect(() => configOf(body)).toThrow(message);
    });
  }
});
