// The session lifecycle under concurrency: renewal, logout, iterate, two
// managers and failed requests. Each race is made to happen: a gate holds a
// request (or a store's save) mid-flight while another request runs.

import assert from "node:assert/strict";
import { BuntStore, MemoryStore, SessionManager } from "@x/buntstore";
import {
  Clock,
  cookiePair,
  get,
  settle,
  spyStore,
  text,
} from "./_session_helpers.ts";

type Data = { n: number; user: string };

/** Routes: /inc, /login (renew, then user=ada), /logout, anything reads. */
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

async function json(response: Response | Promise<Response>) {
  return await (await response).json();
}

/** The token in a `session=<token>` pair. */
function tokenOf(pair: string): string {
  return pair.slice(pair.indexOf("=") + 1);
}

/** Decoded values the store holds under `key`, or undefined. */
async function stored(
  store: { find(key: string): Promise<Uint8Array | undefined> },
  key: string,
): Promise<Record<string, unknown> | undefined> {
  const data = await store.find(key);
  if (data === undefined) return undefined;
  // jsonSessionCodec keeps the values under "v".
  return JSON.parse(new TextDecoder().decode(data)).v;
}

Deno.test("Session.renewToken() gives the new token only to the request that renewed", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = counter(sessions);
  const first = await handler(get("/inc"));
  const old = cookiePair(first)!;
  await text(first);

  const gate = Promise.withResolvers<void>();
  const seen: unknown[] = [];
  const slow = sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    await gate.promise;
    seen.push(session.get("user") ?? null);
    if (new URL(req.url).pathname === "/write") {
      session.put("n", (session.get("n") ?? 0) + 10);
    }
    return new Response("slow");
  });
  const reader = slow(get("/read", old));
  const writer = slow(get("/write", old));
  await settle();
  const login = await handler(get("/login", old));
  const renewed = tokenOf(cookiePair(login)!);
  await text(login);
  gate.resolve();
  for (const response of await Promise.all([reader, writer])) {
    await text(response);
    const setCookie = response.headers.get("set-cookie") ?? "";
    assert.ok(!setCookie.includes(renewed), `leaked: ${setCookie}`);
  }
  // The old token's requests never saw what the renewed session holds...
  assert.deepEqual(seen, [null, null]);
  // ...and their writes did not land in it.
  assert.deepEqual(await json(handler(get("/read", `session=${renewed}`))), {
    n: 1,
    user: "ada",
  });
  assert.equal((await json(handler(get("/read", old)))).n, null);
});

Deno.test("Session.renewToken() through Deno.serve: in-flight requests with the old token never get the new one", async () => {
  await using store = new MemoryStore();
  const sessions = new SessionManager<Data>({
    store,
    cookie: { secure: false },
  });
  const login = counter(sessions);
  const IN_FLIGHT = 6;
  const gate = Promise.withResolvers<void>();
  const arrived = Promise.withResolvers<void>();
  let loaded = 0;
  const handler = sessions.wrap(async (req) => {
    const path = new URL(req.url).pathname;
    if (path !== "/slow-read" && path !== "/slow-write") return login(req);
    const session = await sessions.of(req);
    if (++loaded === IN_FLIGHT) arrived.resolve();
    await gate.promise;
    if (path === "/slow-write") session.put("n", 100);
    return Response.json({ user: session.get("user") ?? null });
  });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    handler,
  );
  try {
    const origin = `http://127.0.0.1:${server.addr.port}`;
    const first = await fetch(`${origin}/inc`);
    const old = cookiePair(first)!;
    await first.body?.cancel();
    const headers = { cookie: old };
    const pending = [];
    for (let i = 0; i < IN_FLIGHT; i++) {
      const path = i % 2 === 0 ? "/slow-read" : "/slow-write";
      pending.push(fetch(`${origin}${path}`, { headers }));
    }
    await arrived.promise;
    const renewedResponse = await fetch(`${origin}/login`, { headers });
    const renewed = tokenOf(cookiePair(renewedResponse)!);
    await renewedResponse.body?.cancel();
    gate.resolve();
    for (const response of await Promise.all(pending)) {
      assert.deepEqual(await response.json(), { user: null });
      for (const setCookie of response.headers.getSetCookie()) {
        assert.ok(!setCookie.includes(renewed), `leaked: ${setCookie}`);
      }
    }
    const after = await fetch(`${origin}/read`, {
      headers: { cookie: `session=${renewed}` },
    });
    assert.deepEqual(await after.json(), { n: 1, user: "ada" });
  } finally {
    await server.shutdown();
  }
});

Deno.test("Session.destroy() racing a save still in flight never brings the session back", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    hashTokenInStore: false,
  });
  const handler = counter(sessions);
  const first = await handler(get("/inc"));
  const cookie = cookiePair(first)!;
  await text(first);

  const held = Promise.withResolvers<void>();
  store.holdSaves = held.promise;
  const writing = handler(get("/inc", cookie));
  await settle();
  const logout = handler(get("/logout", cookie));
  await settle();
  // Loads while the store still holds the session: must not re-cache it.
  const reading = handler(get("/inc", cookie));
  await settle();
  store.holdSaves = undefined;
  held.resolve();
  for (const response of await Promise.all([writing, logout, reading])) {
    await text(response);
  }
  assert.equal(await store.inner.find(tokenOf(cookie)), undefined);
  assert.equal((await json(handler(get("/read", cookie)))).n, null);
  const again = await handler(get("/inc", cookie));
  assert.notEqual(cookiePair(again), cookie);
  await text(again);
  assert.equal(await store.inner.find(tokenOf(cookie)), undefined);
});

Deno.test("Session.destroy() racing a BuntStore save with sync always never brings the session back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using bunt = await BuntStore.open(`${dir}/s.db`, {
      sync: "always",
    });
    // While a save waits for its fsync, a logout runs, and right after the
    // logout's destroy() a request with the same cookie loads the session.
    let onSave: (() => void) | undefined;
    const store = {
      find: (key: string) => bunt.find(key),
      save: (key: string, data: Uint8Array, expiry: Date) => {
        const saving = bunt.save(key, data, expiry);
        const hook = onSave;
        onSave = undefined;
        hook?.();
        return saving;
      },
      delete: (key: string) => bunt.delete(key),
    };
    const sessions = new SessionManager<Data>({
      store,
      hashTokenInStore: false,
    });
    const handler = counter(sessions);
    const racing: Promise<Response>[] = [];
    const logout = sessions.wrap(async (req) => {
      const session = await sessions.of(req);
      const destroyed = session.destroy();
      racing.push(handler(get("/read", cookie)), handler(get("/inc", cookie)));
      await destroyed;
      return new Response("bye");
    });
    const first = await handler(get("/inc"));
    const cookie = cookiePair(first)!;
    await text(first);
    onSave = () => racing.push(logout(get("/logout", cookie)));
    await text(await handler(get("/inc", cookie)));
    assert.equal(racing.length, 3);
    for (const response of await Promise.all(racing)) await text(response);
    assert.equal(await bunt.find(tokenOf(cookie)), undefined);
    assert.equal((await json(handler(get("/read", cookie)))).n, null);
    assert.equal(await bunt.find(tokenOf(cookie)), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Session.renewToken() racing a save still in flight leaves the old token dead", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    hashTokenInStore: false,
  });
  const handler = counter(sessions);
  const first = await handler(get("/inc"));
  const cookie = cookiePair(first)!;
  await text(first);

  const held = Promise.withResolvers<void>();
  store.holdSaves = held.promise;
  const writing = handler(get("/inc", cookie));
  await settle();
  const login = handler(get("/login", cookie));
  await settle();
  const reading = handler(get("/read", cookie));
  await settle();
  store.holdSaves = undefined;
  held.resolve();
  const [written, renewed, read] = await Promise.all([
    writing,
    login,
    reading,
  ]);
  await text(written);
  const renewedPair = cookiePair(renewed)!;
  await text(renewed);
  assert.equal((await read.json()).user, null);
  assert.equal(await store.inner.find(tokenOf(cookie)), undefined);
  assert.equal((await json(handler(get("/read", cookie)))).n, null);
  assert.deepEqual(
    await json(handler(get("/read", renewedPair))),
    { n: 2, user: "ada" },
  );
});

Deno.test("SessionManager.iterate() never resurrects a session destroyed while it walks", async (t) => {
  await t.step("destroyed by a request", async () => {
    const clock = new Clock();
    await using store = spyStore(clock);
    const sessions = new SessionManager<Data>({
      store,
      now: clock.now,
      hashTokenInStore: false,
    });
    const handler = counter(sessions);
    const cookies: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await handler(get("/inc"));
      cookies.push(cookiePair(response)!);
      await text(response);
    }
    let visits = 0;
    await sessions.iterate(async (session) => {
      if (visits++ === 0) {
        // Log out every other session before iterate reaches them.
        for (const cookie of cookies) {
          if (tokenOf(cookie) === session.token) continue;
          await text(await handler(get("/logout", cookie)));
        }
      }
      session.put("n", 7);
    });
    assert.equal((await store.all()).size, 1);
    const alive = [];
    for (const cookie of cookies) {
      alive.push((await json(handler(get("/read", cookie)))).n);
    }
    assert.deepEqual(alive.sort(), [7, null, null]);
  });

  await t.step("destroyed by fn itself, then changed", async () => {
    const clock = new Clock();
    await using store = spyStore(clock);
    const sessions = new SessionManager<Data>({ store, now: clock.now });
    const handler = counter(sessions);
    const response = await handler(get("/inc"));
    const cookie = cookiePair(response)!;
    await text(response);
    await assert.rejects(
      sessions.iterate(async (session) => {
        await session.destroy();
        session.put("n", 1);
      }),
      /Cannot start a new session: .*outside a request/,
    );
    assert.equal((await store.all()).size, 0);
    assert.equal((await json(handler(get("/read", cookie)))).n, null);
  });
});

Deno.test("SessionManager: a logout through one manager is seen by a second manager on the same store", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const admin = counter(new SessionManager<Data>({ store, now: clock.now }));
  const app = counter(new SessionManager<Data>({ store, now: clock.now }));
  const login = await app(get("/login"));
  const cookie = cookiePair(login)!;
  await text(login);
  assert.equal((await json(admin(get("/read", cookie)))).user, "ada");
  assert.equal((await json(app(get("/read", cookie)))).user, "ada");
  await text(await admin(get("/logout", cookie)));
  assert.equal((await json(app(get("/read", cookie)))).user, null);
  assert.equal((await store.all()).size, 0);
});

Deno.test("SessionManager.wrap() commits nothing a failed request changed", async (t) => {
  await t.step("the handler throws", async () => {
    const clock = new Clock();
    await using store = spyStore(clock);
    const sessions = new SessionManager<Data>({ store, now: clock.now });
    const handler = counter(sessions);
    const first = await handler(get("/inc"));
    const cookie = cookiePair(first)!;
    await text(first);
    const failing = sessions.wrap(async (req) => {
      const session = await sessions.of(req);
      session.put("user", "mallory");
      session.put("n", 99);
      throw new Error("handler bug");
    });
    const saves = store.saves;
    await assert.rejects(failing(get("/", cookie)), /handler bug/);
    assert.deepEqual(await json(handler(get("/read", cookie))), {
      n: 1,
      user: null,
    });
    assert.equal(store.saves, saves);
  });

  await t.step("a concurrent request committed its change first", async () => {
    const clock = new Clock();
    await using store = spyStore(clock);
    const sessions = new SessionManager<Data>({
      store,
      now: clock.now,
      hashTokenInStore: false,
    });
    const handler = counter(sessions);
    const first = await handler(get("/inc"));
    const cookie = cookiePair(first)!;
    await text(first);
    const gate = Promise.withResolvers<void>();
    const failing = sessions.wrap(async (req) => {
      const session = await sessions.of(req);
      session.put("user", "mallory");
      await gate.promise;
      throw new Error("handler bug");
    });
    const failed = failing(get("/", cookie));
    await settle();
    // This request's commit writes the shared session, mallory included.
    assert.equal((await json(handler(get("/inc", cookie)))).n, 2);
    gate.resolve();
    await assert.rejects(failed, /handler bug/);
    assert.deepEqual(await stored(store.inner, tokenOf(cookie)), { n: 2 });
    assert.deepEqual(await json(handler(get("/read", cookie))), {
      n: 2,
      user: null,
    });
  });

  await t.step("onError answers a failed save", async () => {
    const clock = new Clock();
    await using store = spyStore(clock);
    const sessions = new SessionManager<Data>({
      store,
      now: clock.now,
      onError: () => new Response("unavailable", { status: 503 }),
    });
    const handler = counter(sessions);
    const first = await handler(get("/inc"));
    const cookie = cookiePair(first)!;
    await text(first);
    let cancelled = false;
    const streaming = sessions.wrap(async (req) => {
      const session = await sessions.of(req);
      session.put("user", "mallory");
      return new Response(
        new ReadableStream({
          pull(controller) {
            controller.enqueue(new Uint8Array(1));
          },
          cancel() {
            cancelled = true;
          },
        }),
      );
    });
    store.fail = "save";
    const response = await streaming(get("/", cookie));
    assert.equal(response.status, 503);
    await text(response);
    assert.equal(cancelled, true);
    store.fail = undefined;
    assert.deepEqual(await json(handler(get("/read", cookie))), {
      n: 1,
      user: null,
    });
  });
});

Deno.test("SessionManager.wrap() releases the session of a failed request, so the cache bound holds", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    cacheSize: 1,
  });
  const handler = counter(sessions);
  const failing = sessions.wrap(async (req) => {
    await sessions.of(req);
    throw new Error("handler bug");
  });
  const a = await handler(get("/inc"));
  const cookieA = cookiePair(a)!;
  await text(a);
  await assert.rejects(failing(get("/", cookieA)), /handler bug/);
  const b = await handler(get("/inc"));
  await text(b);
  // B's arrival evicted A (cacheSize 1), so A is read from the store again.
  const finds = store.finds;
  assert.equal((await json(handler(get("/read", cookieA)))).n, 1);
  assert.equal(store.finds, finds + 1);
});

Deno.test("SessionManager refuses options that cannot work", async (t) => {
  await using store = new MemoryStore();
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "touchInterval >= idleTimeout",
      { idleTimeout: 60_000, touchInterval: 60_000 },
      /touchInterval.*idleTimeout/,
    ],
    [
      "a lifetime no Date can hold",
      { lifetime: 8.64e15 },
      /lifetime/,
    ],
    [
      "a __Host- name without hostPrefix settings",
      { cookie: { name: "__Host-sid", path: "/app" } },
      /__Host-/,
    ],
    [
      "a __Host- name with secure false",
      { cookie: { name: "__Host-sid", secure: false } },
      /__Host-/,
    ],
    [
      "a __Secure- name without secure",
      { cookie: { name: "__Secure-sid", secure: false } },
      /__Secure-/,
    ],
    [
      "sameSite none with secure auto",
      { cookie: { sameSite: "none", secure: "auto" } },
      /SameSite=None/,
    ],
    [
      "sameSite none with secure false",
      { cookie: { sameSite: "none", secure: false } },
      /SameSite=None/,
    ],
  ];
  for (const [name, options, message] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => new SessionManager({ store, ...options }),
        (error: Error) =>
          error instanceof RangeError && message.test(error.message),
      );
    });
  }
});

Deno.test("Session.commit() called by the handler stays committed when the request fails later", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = counter(sessions);
  const first = await handler(get("/inc"));
  const cookie = cookiePair(first)!;
  await text(first);
  const failing = sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    session.put("user", "ada");
    await session.commit();
    session.put("n", 99);
    throw new Error("later bug");
  });
  await assert.rejects(failing(get("/", cookie)), /later bug/);
  assert.deepEqual(await json(handler(get("/read", cookie))), {
    n: 1,
    user: "ada",
  });
});

Deno.test("Session.commit() made while the response's own commit of a new session is in flight waits for it, then saves", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const request = get("/stream");
  const session = await sessions.of(request);
  session.put("n", 1);
  // The response leaves (its commit assigns the token); the stream body
  // changes the session and commits before that commit has finished.
  const finalized = sessions.finalize(request, new Response("streaming"));
  session.put("n", 2);
  await session.commit();
  const response = await finalized;
  const cookie = cookiePair(response)!;
  await text(response);
  assert.match(cookie, /^session=./);
  assert.equal(cookie.split("=")[1], session.token);
  assert.deepEqual(await json(counter(sessions)(get("/read", cookie))), {
    n: 2,
    user: null,
  });
});
