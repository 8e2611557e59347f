// The Hono adapter (hono.ts) and `wrap(app.fetch)` under Hono, called
// through `app.request`; examples/hono_example_test.ts covers a real server.

import assert from "node:assert/strict";
import { Hono } from "hono";
import { MemoryStore, SessionManager } from "@x/buntstore";

type Data = { visits: number; user: string };

function cookieOf(response: Response): string {
  const setCookie = response.headers.get("set-cookie");
  assert.ok(setCookie !== null, "no Set-Cookie");
  return setCookie.split(";")[0]!;
}

function manager(store: MemoryStore): SessionManager<Data> {
  return new SessionManager<Data>({ store, cookie: { secure: false } });
}

/** A Hono app whose `/` counts visits and `/boom` counts, then throws. */
function counting(sessions: SessionManager<Data>): Hono {
  return new Hono()
    .get("/", async (c) => {
      const s = await sessions.of(c.req.raw);
      const visits = (s.get("visits") ?? 0) + 1;
      s.put("visits", visits);
      return c.text(`visit ${visits}`);
    })
    .get("/boom", async (c) => {
      const s = await sessions.of(c.req.raw);
      s.put("visits", (s.get("visits") ?? 0) + 1);
      throw new Error("the route failed");
    });
}

Deno.test("SessionManager.wrap(app.fetch) commits nothing when Hono answers a thrown error with 500", async () => {
  await using store = new MemoryStore();
  const sessions = manager(store);
  const app = counting(sessions);
  app.onError((_error, c) => c.text("failed", 500));
  const handler = sessions.wrap(app.fetch);
  const first = await handler(new Request("http://localhost/"));
  assert.equal(await first.text(), "visit 1");
  const cookie = cookieOf(first);
  const get = (path: string) =>
    handler(new Request(`http://localhost${path}`, { headers: { cookie } }));
  const failed = await get("/boom");
  assert.equal(failed.status, 500);
  await failed.body?.cancel();
  assert.equal(failed.headers.get("set-cookie"), null);
  // Hono turned the throw into a 500 before wrap saw it: without the 5xx
  // rule the failed request's increment was saved and this said "visit 3".
  assert.equal(await (await get("/")).text(), "visit 2");
});
