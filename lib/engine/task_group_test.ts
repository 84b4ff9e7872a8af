import { describe, expect, test } from "bun:test";
import { AbortError } from "../errors.ts";
import { TaskGroup } from "./task_group.ts";

const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));

describe("TaskGroup", () => {
  test("runs at most `limit` tasks at once and waits for all", async () => {
    const group = new TaskGroup(2);
    let active = 0, peak = 0, done = 0;
    for (let i = 0; i < 7; i++) {
      group.go(async () => {
        peak = Math.max(peak, ++active);
        await tick();
        active--;
        done++;
      });
    }
    await group.wait();
    expect(peak).toBe(2);
    expect(done).toBe(7);
  });

  test("the first failure aborts the others' signal, is thrown once all settled, and later tasks never start", async () => {
    const group = new TaskGroup(1);
    const seen: string[] = [];
    group.go(() => Promise.reject(new Error("first")));
    group.go(() => {
      seen.push("never");
      return Promise.resolve();
    });
    await expect(group.wait()).rejects.toThrow("first");
    expect(seen).toEqual([]);
    expect(group.signal.aborted).toBe(true);
  });

  test("a running task sees the abort; wait() returns only after it settled", async () => {
    const group = new TaskGroup(3);
    let settled = false;
    group.go(async (signal) => {
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
      await tick(5);
      settled = true;
    });
    group.go(async () => {
      await tick();
      throw new Error("boom");
    });
    await expect(group.wait()).rejects.toThrow("boom");
    expect(settled).toBe(true);
  });

  test("an aborted outer signal is the failure, as an AbortError", async () => {
    const outer = new AbortController();
    const group = new TaskGroup(2, outer.signal);
    group.go(async (signal) => {
      await new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
    });
    outer.abort();
    await expect(group.wait()).rejects.toBeInstanceOf(AbortError);
  });

  test("tasks started while waiting are waited for too", async () => {
    const group = new TaskGroup(2);
    let late = false;
    group.go(async () => {
      await tick();
      group.go(async () => {
        await tick();
        late = true;
      });
    });
    await group.wait();
    expect(late).toBe(true);
  });
});

describe("TaskGroup.run", () => {
  test("returns the task's value; a failure rejects it, is the group's, and later runs reject at once", async () => {
    const group = new TaskGroup(2);
    expect(await group.run(() => Promise.resolve(42))).toBe(42);
    await expect(group.run(() => Promise.reject(new Error("bad")))).rejects.toThrow("bad");
    expect((group.failure as Error).message).toBe("bad");
    let ran = false;
    await expect(group.run(() => {
      ran = true;
      return Promise.resolve(1);
    })).rejects.toThrow("bad");
    expect(ran).toBe(false);
    await expect(group.wait()).rejects.toThrow("bad");
  });
});
