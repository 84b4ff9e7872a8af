import { expect, test } from "bun:test";
import { serve } from "../../lib/runtime.ts";

test("serve answers on a free loopback port", async () => {
  const server = await serve(() => Promise.resolve(new Response("ok")));
  try {
    expect(await (await fetch(`http://${server.host}/`)).text()).toBe("ok");
  } finally {
    await server.stop();
  }
});
