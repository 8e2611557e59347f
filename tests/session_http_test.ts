import assert from "node:assert/strict";
import {
  BuntStore,
  MemoryStore,
  SessionManager,
  type SessionStore,
} from "@x/buntstore";
import {
  Clock,
  cookiePair,
  get,
  restarted,
  SpyStore,
  spyStore,
  text,
} from "./_session_helpers.ts";

type Data = { n: number; user: string; log: string[] };

function counter(sessions: SessionManager<Data>) {
  return sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    const path = new URL(req.url).pathname;
    if (path === "/inc") session.put("n", (session.get("n") ?? 0) + 1);
    if (path === "/login") {
      await session.renewToken();
      session.put("user", "ada");
    }
    if (path === "/logout") await session.destroy();
    return Response.json({
      n: session.get("n") ?? null,
      user: session.get("user") ?? null,
    });
  });
}

const STORES: [
  string,
  (clock: Clock) => Promise<SessionStore & AsyncDisposable>,
][] = [
  [
    "MemoryStore",
    (clock) => Promise.resolve(new MemoryStore({ now: clock.now })),
  ],
  ["BuntStore", (clock) => BuntStore.open(":memory:", { now: clock.now })],
];

Deno.test("SessionManager runs the same checks on BuntStore and MemoryStore", async (t) => {
  for (const [name, open] of STORES) {
    await t.step(name, async () => {
      const clock = new Clock();
      await using store = await open(clock);
      const sessions = new SessionManager<Data>({
        store,
        now: clock.now,
        lifetime: 60 * 60_000,
      });
      const handler = counter(sessions);
      const first = await handler(get("/inc"));
      const cookie = cookiePair(first)!;
      await text(first);
      // Read back through a manager with nothing in memory.
      const cold = counter(
        new SessionManager<Data>({ store: restarted(store), now: clock.now }),
      );
      assert.equal((await (await cold(get("/read", cookie))).json()).n, 1);
      const login = await handler(get("/login", cookie));
      const renewed = cookiePair(login)!;
      assert.deepEqual(await login.json(), { n: 1, user: "ada" });
      assert.notEqual(renewed, cookie);
      const coldAgain = counter(
        new SessionManager<Data>({ store: restarted(store), now: clock.now }),
      );
      assert.equal(
        (await (await coldAgain(get("/read", cookie))).json()).n,
        null,
      );
      assert.equal(
        (await (await coldAgain(get("/read", renewed))).json()).n,
        1,
      );
      let listed = 0;
      await sessions.iterate((session) => {
        listed++;
        assert.equal(session.get("user"), "ada");
      });
      assert.equal(listed, 1);
      const logout = await handler(get("/logout", renewed));
      await text(logout);
      assert.match(logout.headers.get("set-cookie")!, /^session=; Max-Age=0/);
      assert.equal((await store.all!()).size, 0);
      const again = await handler(get("/inc"));
      const last = cookiePair(again)!;
      await text(again);
      clock.advance(60 * 60_000);
      const expired = counter(
        new SessionManager<Data>({ store: restarted(store), now: clock.now }),
      );
      assert.equal((await (await expired(get("/read", last))).json()).n, null);
    });
  }
});

Deno.test("SessionManager loses no update across 100 concurrent requests of one session", async (t) => {
  for (const [name, open] of STORES) {
    await t.step(name, async () => {
      const clock = new Clock();
      await using inner = await open(clock);
      // Slow writes make the commits of the 100 requests overlap.
      const store = new SpyStore(inner);
      store.saveDelay = 2;
      const handler = counter(
        new SessionManager<Data>({ store, now: clock.now }),
      );
      const first = await handler(get("/read"));
      await text(first);
      const created = await handler(get("/inc"));
      const cookie = cookiePair(created)!;
      await text(created);
      const responses = await Promise.all(
        Array.from({ length: 100 }, () => handler(get("/inc", cookie))),
      );
      const seen = new Set<number>();
      for (const response of responses) {
        assert.equal(response.status, 200);
        seen.add((await response.json()).n);
      }
      assert.equal(seen.size, 100, "every request saw its own increment");
      assert.ok(store.saves < 101, `coalesced writes: ${store.saves}`);
      // The store, read by a manager with nothing in memory, holds 101.
      const cold = counter(
        new SessionManager<Data>({ store: restarted(store), now: clock.now }),
      );
      assert.equal((await (await cold(get("/read", cookie))).json()).n, 101);
    });
  }
});

Deno.test("SessionManager.wrap() commits before returning the response, even a redirect", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  store.saveDelay = 20;
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    session.put("user", "ada");
    return Response.redirect("https://example.com/home", 303);
  });
  const response = await handler(get("/login"));
  assert.equal(response.status, 303);
  assert.equal(response.headers.get("location"), "https://example.com/home");
  const cookie = cookiePair(response)!;
  assert.ok(cookie);
  const cold = counter(
    new SessionManager<Data>({ store: restarted(store), now: clock.now }),
  );
  assert.equal((await (await cold(get("/home", cookie))).json()).user, "ada");
});

Deno.test("Session.commit() saves changes a streaming handler makes after returning", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = counter(sessions);
  const first = await handler(get("/inc"));
  const cookie = cookiePair(first)!;
  await text(first);
  const errors: string[] = [];
  const streaming = sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        session.put("log", ["streamed"]);
        await session.commit();
        await session.renewToken().catch((e) => errors.push(e.message));
        controller.enqueue(new TextEncoder().encode("done"));
        controller.close();
      },
    }, { highWaterMark: 0 });
    return new Response(body);
  });
  const response = await streaming(get("/stream", cookie));
  assert.equal(response.headers.get("set-cookie"), null);
  assert.equal(await response.text(), "done");
  assert.deepEqual(errors, [
    "Cannot renew the session token: the response headers were already sent",
  ]);
  const cold = new SessionManager<Data>({
    store: restarted(store),
    now: clock.now,
  });
  assert.deepEqual((await cold.of(get("/", cookie))).get("log"), ["streamed"]);
});

Deno.test("SessionManager.finalize() and finalizeHeaders() serve framework middleware", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  // Hono style: the framework hands over the native Request and Response.
  const honoLike = async (req: Request) => {
    (await sessions.of(req)).put("n", 1);
    const response = new Response("hono");
    return await sessions.finalize(req, response);
  };
  const viaFinalize = await honoLike(get("/"));
  await text(viaFinalize);
  const cookie = cookiePair(viaFinalize)!;
  assert.ok(cookie);
  // oak style: headers are written into the response being built.
  const request = get("/");
  (await sessions.of(request)).put("n", 2);
  const headers = new Headers();
  await sessions.finalizeHeaders(request, headers);
  assert.equal(headers.get("vary"), "Cookie");
  assert.match(headers.get("set-cookie")!, /^session=[\w-]{43};/);
  // A second finalize is a no-op.
  const more = new Headers();
  await sessions.finalizeHeaders(request, more);
  assert.equal(more.get("set-cookie"), null);
  const untouched = new Headers();
  await sessions.finalizeHeaders(get("/"), untouched);
  assert.equal(untouched.get("vary"), null);
});

Deno.test("SessionManager works end to end through Deno.serve with a cookie jar", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/sessions.db`;
    const jar = new Map<string, string>();
    const send = async (url: string) => {
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
      const response = await fetch(url, {
        headers: cookie ? { cookie } : {},
        redirect: "manual",
      });
      for (const line of response.headers.getSetCookie()) {
        const [pair, ...attrs] = line.split(";");
        const [name, value] = pair!.split("=") as [string, string];
        if (value === "" || attrs.some((a) => /max-age=0/i.test(a))) {
          jar.delete(name);
        } else jar.set(name, value);
      }
      return response;
    };
    const serve = async (run: (origin: string) => Promise<void>) => {
      await using store = await BuntStore.open(path);
      const sessions = new SessionManager<Data>({
        store,
        cookie: { secure: false },
      });
      const server = Deno.serve(
        { port: 0, hostname: "127.0.0.1", onListen() {} },
        counter(sessions),
      );
      try {
        await run(`http://127.0.0.1:${server.addr.port}`);
      } finally {
        await server.shutdown();
      }
    };
    await serve(async (origin) => {
      assert.deepEqual(await (await send(`${origin}/inc`)).json(), {
        n: 1,
        user: null,
      });
      assert.equal((await (await send(`${origin}/inc`)).json()).n, 2);
      const before = jar.get("session");
      assert.equal((await (await send(`${origin}/login`)).json()).user, "ada");
      assert.notEqual(jar.get("session"), before);
    });
    // A restart reads the session back from the file.
    await serve(async (origin) => {
      assert.deepEqual(await (await send(`${origin}/read`)).json(), {
        n: 2,
        user: "ada",
      });
      await (await send(`${origin}/logout`)).body?.cancel();
      assert.equal(jar.size, 0);
      assert.equal((await (await send(`${origin}/read`)).json()).n, null);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Session.commit() after the headers left refuses to create a cookie nobody receives", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  let session: Awaited<ReturnType<typeof sessions.of>> | undefined;
  const handler = sessions.wrap(async (req) => {
    session = await sessions.of(req);
    return new Response("ok");
  });
  await text(await handler(get("/")));
  session!.put("n", 1);
  await assert.rejects(session!.commit(), /token changed after the response/);
  assert.equal(store.saves, 0);
  await assert.rejects(session!.destroy(), /headers were already sent/);
});

Deno.test("SessionManager.wrap() returns the handler's own answer to a load failure", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = sessions.wrap(async (req) => {
    try {
      await sessions.of(req);
      return new Response("loaded");
    } catch {
      return new Response("degraded", { status: 503 });
    }
  });
  store.fail = "find";
  const response = await handler(get("/", `session=${"a".repeat(43)}`));
  assert.equal(response.status, 503);
  assert.equal(await response.text(), "degraded");
  assert.equal(response.headers.get("set-cookie"), null);
});
