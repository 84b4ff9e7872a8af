import { describe, expect, test } from "bun:test";
import { UsageError } from "../errors.ts";
import { formatLocation, type Location, parseLocation, plainReferenceText } from "./location.ts";

const D = `sha256:${"c".repeat(64)}`;

describe("parseLocation", () => {
  const cases: [string, Location, string][] = [
    // [input, parsed, formatted]
    ["alpine:3.19", {
      kind: "registry",
      reference: { registry: "docker.io", repository: "library/alpine", tag: "3.19" },
    }, "docker.io/library/alpine:3.19"],
    [
      "docker://alpine",
      { kind: "registry", reference: { registry: "docker.io", repository: "library/alpine" } },
      "docker.io/library/alpine",
    ],
    ["docker://localhost:5000/app:1", {
      kind: "registry",
      reference: { registry: "localhost:5000", repository: "app", tag: "1" },
    }, "localhost:5000/app:1"],
    [
      "localhost:5000/app",
      { kind: "registry", reference: { registry: "localhost:5000", repository: "app" } },
      "localhost:5000/app",
    ],
    ["127.0.0.1:5000/app:1", {
      kind: "registry",
      reference: { registry: "127.0.0.1:5000", repository: "app", tag: "1" },
    }, "127.0.0.1:5000/app:1"],
    [
      `ghcr.io/o/app@${D}`,
      { kind: "registry", reference: { registry: "ghcr.io", repository: "o/app", digest: D } },
      `ghcr.io/o/app@${D}`,
    ],
    // An image called "docker" (docker:dind) is a reference, not a transport.
    ["docker:24-dind", {
      kind: "registry",
      reference: { registry: "docker.io", repository: "library/docker", tag: "24-dind" },
    }, "docker.io/library/docker:24-dind"],
    ["oci:/tmp/layout", { kind: "oci", path: "/tmp/layout" }, "oci:/tmp/layout"],
    ["oci:layout:1.0", { kind: "oci", path: "layout", tag: "1.0" }, "oci:layout:1.0"],
    [
      "oci:./l:docker.io/library/alpine:3.19",
      { kind: "oci", path: "./l", tag: "docker.io/library/alpine:3.19" },
      "oci:./l:docker.io/library/alpine:3.19",
    ],
    ["oci-archive:out.tar", { kind: "oci-archive", path: "out.tar" }, "oci-archive:out.tar"],
    ["oci-archive:/x/out.tar:v1", { kind: "oci-archive", path: "/x/out.tar", tag: "v1" }, "oci-archive:/x/out.tar:v1"],
    ["docker-archive:img.tar", { kind: "docker-archive", path: "img.tar" }, "docker-archive:img.tar"],
    ["docker-archive:img.tar:alpine:3.19", {
      kind: "docker-archive",
      path: "img.tar",
      reference: { registry: "docker.io", repository: "library/alpine", tag: "3.19" },
    }, "docker-archive:img.tar:docker.io/library/alpine:3.19"],
    ["docker-archive:./i.tar.gz:localhost:5000/app:1", {
      kind: "docker-archive",
      path: "./i.tar.gz",
      reference: { registry: "localhost:5000", repository: "app", tag: "1" },
    }, "docker-archive:./i.tar.gz:localhost:5000/app:1"],
    ["docker-daemon:", { kind: "docker-daemon" }, "docker-daemon:"],
    ["docker-daemon:app:1", {
      kind: "docker-daemon",
      reference: { registry: "docker.io", repository: "library/app", tag: "1" },
    }, "docker-daemon:docker.io/library/app:1"],
    ["/var/images/layout", { kind: "oci", path: "/var/images/layout" }, "oci:/var/images/layout"],
    ["./layout", { kind: "oci", path: "./layout" }, "oci:./layout"],
    ["../layout:2.0", { kind: "oci", path: "../layout", tag: "2.0" }, "oci:../layout:2.0"],
    [".", { kind: "oci", path: "." }, "oci:."],
    ["./images.tar", { kind: "oci-archive", path: "./images.tar" }, "oci-archive:./images.tar"],
    ["/tmp/images.tar.gz", { kind: "oci-archive", path: "/tmp/images.tar.gz" }, "oci-archive:/tmp/images.tar.gz"],
    ["./images.TGZ:1", { kind: "oci-archive", path: "./images.TGZ", tag: "1" }, "oci-archive:./images.TGZ:1"],
  ];
  for (const [text, want, formatted] of cases) {
    test(text, () => {
      const loc = parseLocation(text);
      expect(loc).toEqual(want);
      expect(formatLocation(loc)).toBe(formatted);
      expect(parseLocation(formatted)).toEqual(want);
    });
  }

  const bad: [string, string][] = [
    ["", "empty"],
    ["dir:/tmp/x", `transport "dir:" is not supported`],
    ["containers-storage:alpine", `transport "containers-storage:" is not supported`],
    ["https://ghcr.io/app", `transport "https:" is not supported`],
    ["oci:", "empty path"],
    ["oci::tag", "empty path"],
    ["oci:dir:", "empty tag"],
    ["oci:dir:bad tag", "invalid tag"],
    ["oci:dir:-x", "invalid tag"],
    ["./dir:a//b", "invalid tag"],
    ["docker-archive:", "empty path"],
    ["docker-archive:f.tar:@0", "@INDEX is not supported"],
    [`docker-archive:f.tar:app@${D}`, "not digest"],
    [`docker-daemon:${D}`, "image IDs are not supported"],
  ];
  for (const [text, reason] of bad) {
    test(`rejects ${JSON.stringify(text)}`, () => {
      expect(() => parseLocation(text)).toThrow(UsageError);
      expect(() => parseLocation(text)).toThrow(`Cannot parse location "${text}": `);
      expect(() => parseLocation(text)).toThrow(reason);
    });
  }

  test("an unknown transport names the supported ones", () => {
    expect(() => parseLocation("dir:/x")).toThrow(/docker:\/\/REF, oci:DIR\[:TAG\], oci-archive:FILE/);
  });

  test("oci:// is read as skopeo reads it: a path", () => {
    expect(parseLocation("oci:///tmp/x")).toEqual({ kind: "oci", path: "///tmp/x" });
  });

  test("bad references inside transports are reference errors", () => {
    expect(() => parseLocation("docker://")).toThrow(`Cannot parse reference "": empty reference`);
    expect(() => parseLocation("docker://Alpine")).toThrow("must be lowercase");
    expect(() => parseLocation("docker-daemon:Alpine")).toThrow(UsageError);
    expect(() => parseLocation("UPPER")).toThrow(UsageError);
  });
});

describe("parseLocation: Windows drive-letter paths", () => {
  // [input, parsed]; each formats back to its input. The drive letter's colon is part of the path (as
  // containers/image reads it on Windows); the next colon starts the tag or reference.
  const cases: [string, Location][] = [
    ["oci:C:\\out", { kind: "oci", path: "C:\\out" }],
    ["oci:C:\\out:1.0", { kind: "oci", path: "C:\\out", tag: "1.0" }],
    ["oci:c:/images/layout:v2", { kind: "oci", path: "c:/images/layout", tag: "v2" }],
    ["oci:D:\\l:docker.io/library/alpine:3.19", { kind: "oci", path: "D:\\l", tag: "docker.io/library/alpine:3.19" }],
    ["oci-archive:C:\\x\\app.oci.tar", { kind: "oci-archive", path: "C:\\x\\app.oci.tar" }],
    ["oci-archive:C:\\x\\app.tar:v1", { kind: "oci-archive", path: "C:\\x\\app.tar", tag: "v1" }],
    ["oci-archive:E:/out.tar.gz:1", { kind: "oci-archive", path: "E:/out.tar.gz", tag: "1" }],
    ["docker-archive:C:\\img.tar", { kind: "docker-archive", path: "C:\\img.tar" }],
    ["docker-archive:C:\\Users\\me\\img.tar.gz:localhost:5000/app:1", {
      kind: "docker-archive",
      path: "C:\\Users\\me\\img.tar.gz",
      reference: { registry: "localhost:5000", repository: "app", tag: "1" },
    }],
    // UNC paths have no drive colon: the first colon is the tag's, as before.
    ["oci:\\\\server\\share\\layout:1.0", { kind: "oci", path: "\\\\server\\share\\layout", tag: "1.0" }],
  ];
  for (const [text, want] of cases) {
    test(text, () => {
      const loc = parseLocation(text);
      expect(loc).toEqual(want);
      expect(parseLocation(formatLocation(loc))).toEqual(want);
      expect(formatLocation(loc, { short: true }).replace("docker.io/library/", "")).toBe(
        text.replace("docker.io/library/", ""),
      );
    });
  }

  test("a one-letter path is still a path and a tag where no slash follows the colon", () => {
    expect(parseLocation("oci:c:1.0")).toEqual({ kind: "oci", path: "c", tag: "1.0" });
    expect(() => parseLocation("oci:C:")).toThrow('empty tag after ":"');
    expect(() => parseLocation("oci:C:\\out:")).toThrow('empty tag after ":"');
  });
});

describe("formatLocation", () => {
  test("short registry references stay parseable", () => {
    const cases: [string, string][] = [
      ["alpine:3.19", "alpine:3.19"],
      ["docker.io/library/oci:1", "docker://oci:1"],
      ["docker.io/library/dir:1", "docker://dir:1"],
      ["docker.io/library/dir", "dir"],
      ["docker.io/library/docker:24", "docker://docker:24"],
      ["ghcr.io/a/b:1", "ghcr.io/a/b:1"],
      ["docker-archive:x.tar:docker.io/library/app:1", "docker-archive:x.tar:app:1"],
    ];
    for (const [text, short] of cases) {
      const loc = parseLocation(text);
      expect(formatLocation(loc, { short: true })).toBe(short);
      expect(parseLocation(short)).toEqual(loc);
    }
  });
});

describe("plainReferenceText", () => {
  test("the text of a plain reference (which might be a relative path), and nothing for explicit forms", () => {
    expect(plainReferenceText(parseLocation("out/image-amd64.tar.gz"))).toBe("out/image-amd64.tar.gz");
    expect(plainReferenceText(parseLocation("out"))).toBe("out");
    for (const text of ["docker://out", "oci:out", "./out", "oci-archive:x.tar", "docker-archive:x.tar"]) {
      expect(plainReferenceText(parseLocation(text))).toBeUndefined();
    }
    // The location stays plain data: the text is kept beside it.
    expect(parseLocation("out")).toEqual(parseLocation("docker://out"));
  });
});
