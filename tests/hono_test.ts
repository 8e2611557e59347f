// The Hono adapter (hono.ts) and `wrap(app.fetch)` under Hono, called
// through `app.request`; tests/hono_example_test.ts covers a real server.

import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { streamText } from "hono/streaming";
import { MemoryStore, SessionManager } from "@x/buntstore";
import { type SessionEnv, sessionMiddleware } from "@x/buntstore/hono";

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

/** An app with the middleware; `/` counts visits. */
function app(sessions: SessionManager<Data>) {
  return new Hono<SessionEnv<Data>>()
    .use(sessionMiddleware(sessions))
    .get("/", async (c) => {
      const session = await c.var.session;
      const visits = (session.get("visits") ?? 0) + 1;
      session.put("visits", visits);
      return c.text(`visit ${visits}`);
    })
    .get("/read", async (c) => {
      const session = await c.var.session;
      return c.text(`visits ${session.get("visits") ?? 0}`);
    })
    .get("/none", (c) => c.text("no session"));
}

Deno.test("sessionMiddleware() keeps c.var.session across requests and types it", async () => {
  await using store = new MemoryStore();
  const a = app(manager(store));
  a.get("/typed", async (c) => {
    const session = await c.var.session;
    if (c.req.query("never") !== undefined) {
      // @ts-expect-error visits is a number in Data
      session.put("visits", "many");
    }
    const user: string | undefined = session.get("user");
    return c.text(user ?? "nobody");
  });
  const first = await a.request("http://localhost/");
  assert.equal(await first.text(), "visit 1");
  assert.equal(first.headers.get("vary"), "Cookie");
  const cookie = cookieOf(first);
  const second = await a.request("http://localhost/", { headers: { cookie } });
  assert.equal(await second.text(), "visit 2");
  // A read sends no cookie, but still says the answer varies by cookie.
  const read = await a.request("http://localhost/read", {
    headers: { cookie },
  });
  assert.equal(await read.text(), "visits 2");
  assert.equal(read.headers.get("set-cookie"), null);
  assert.equal(read.headers.get("vary"), "Cookie");
  assert.equal(
    await (await a.request("http://localhost/typed")).text(),
    "nobody",
  );
});

Deno.test("sessionMiddleware() loads nothing for a route that never awaits c.var.session", async () => {
  await using store = new MemoryStore();
  const sessions = manager(store);
  let finds = 0;
  const find = store.find.bind(store);
  store.find = (token) => (finds++, find(token));
  const response = await app(sessions).request("http://localhost/none", {
    headers: { cookie: `session=${"a".repeat(43)}` },
  });
  assert.equal(await response.text(), "no session");
  assert.equal(response.headers.get("vary"), null);
  assert.equal(finds, 0);
});

Deno.test("sessionMiddleware() commits nothing when the route throws, throws an HTTPException, or answers 5xx", async () => {
  await using store = new MemoryStore();
  const sessions = manager(store);
  const a = app(sessions)
    .get("/boom", async (c) => {
      (await c.var.session).put("visits", 100);
      throw new Error("the route failed");
    })
    .get("/denied", async (c) => {
      (await c.var.session).put("visits", 200);
      throw new HTTPException(403, { message: "denied" });
    })
    .get("/unavailable", async (c) => {
      (await c.var.session).put("visits", 300);
      return c.text("try later", 503);
    })
    .get("/odd", async (c) => {
      (await c.var.session).put("visits", 400);
      throw "not an Error"; // Hono rethrows it past onError
    });
  a.onError((error, c) =>
    error instanceof HTTPException ? error.getResponse() : c.text("failed", 500)
  );
  const first = await a.request("http://localhost/");
  const cookie = cookieOf(first);
  const get = (path: string) =>
    a.request(`http://localhost${path}`, { headers: { cookie } });
  for (
    const [path, status] of [["/boom", 500], ["/denied", 403], [
      "/unavailable",
      503,
    ]] as const
  ) {
    const response = await get(path);
    assert.equal(response.status, status, path);
    await response.body?.cancel();
    assert.equal(response.headers.get("set-cookie"), null, path);
  }
  await assert.rejects(
    async () => await get("/odd"),
    (error: unknown) => error === "not an Error",
  );
  assert.equal(await (await get("/")).text(), "visit 2");
});

Deno.test("sessionMiddleware() leaves c.res in place instead of copying it", async () => {
  await using store = new MemoryStore();
  let sent: Response | undefined;
  let seen: Response | undefined;
  const a = new Hono<SessionEnv<Data>>()
    .use(async (c, next) => {
      await next();
      seen = c.res;
    })
    .use(sessionMiddleware(manager(store)))
    .get("/", async (c) => {
      (await c.var.session).put("visits", 1);
      return sent = new Response("made here");
    });
  const response = await a.request("http://localhost/");
  assert.equal(await response.text(), "made here");
  assert.match(response.headers.get("set-cookie")!, /^session=/);
  // Assigning c.res would have made Hono copy the response.
  assert.equal(seen, sent);
});

Deno.test("sessionMiddleware() sets the cookie on a redirect with immutable headers", async () => {
  await using store = new MemoryStore();
  const a = new Hono<SessionEnv<Data>>()
    .use(sessionMiddleware(manager(store)))
    .get("/login", async (c) => {
      const session = await c.var.session;
      await session.renewToken();
      session.put("user", "ada");
      return Response.redirect("http://localhost/me", 303);
    });
  const response = await a.request("http://localhost/login");
  assert.equal(response.status, 303);
  assert.match(response.headers.get("set-cookie")!, /^session=[\w-]{43};/);
  assert.equal(store.size, 1);
});

Deno.test("sessionMiddleware() lets a streaming route commit with session.commit()", async () => {
  await using store = new MemoryStore();
  const sessions = manager(store);
  const headersSent = Promise.withResolvers<void>();
  const a = app(sessions).get("/stream", async (c) => {
    const session = await c.var.session;
    session.put("visits", 1); // before the response: the cookie goes out
    return streamText(c, async (stream) => {
      await stream.write("part 1,");
      await headersSent.promise;
      session.put("user", "ada"); // after it: saved by commit()
      await session.commit();
      await stream.write("part 2");
    });
  });
  const response = await a.request("http://localhost/stream");
  const cookie = cookieOf(response);
  headersSent.resolve();
  assert.equal(await response.text(), "part 1,part 2");
  const me = await sessions.withToken(
    cookie.slice("session=".length),
    (session) => [session.get("visits"), session.get("user")],
  );
  assert.deepEqual(me.value, [1, "ada"]);
});
