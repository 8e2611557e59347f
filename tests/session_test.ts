import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { type Session, SessionManager } from "@x/buntstore";
import {
  attributes,
  Clock,
  cookiePair,
  get,
  restarted,
  spyStore,
  text,
} from "./_session_helpers.ts";

type Data = { n: number; user: string; flash: string; when: string };

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

/** A small app whose routes exercise one session operation each. */
function app(sessions: SessionManager<Data>) {
  return sessions.wrap(async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/none") return new Response("none");
    const session = await sessions.of(req);
    switch (url.pathname) {
      case "/inc":
        session.put("n", (session.get("n") ?? 0) + 1);
        break;
      case "/login":
        await session.renewToken();
        session.put("user", url.searchParams.get("user") ?? "ada");
        break;
      case "/logout":
        await session.destroy();
        break;
      case "/flash":
        session.put("flash", "saved");
        break;
      case "/pop":
        return Response.json({ flash: session.pop("flash") ?? null });
      case "/remember":
        session.rememberMe(url.searchParams.get("on") === "1");
        break;
    }
    return Response.json({
      n: session.get("n") ?? null,
      user: session.get("user") ?? null,
      status: session.status,
      token: session.token,
    });
  });
}

Deno.test("SessionManager.wrap() costs nothing when the handler never uses the session", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = app(sessions);
  const first = await handler(get("/inc"));
  const cookie = cookiePair(first)!;
  await text(first);
  const finds = store.finds;
  const response = await handler(get("/none", cookie));
  assert.equal(await text(response), "none");
  assert.equal(store.finds, finds);
  assert.equal(response.headers.get("set-cookie"), null);
  assert.equal(response.headers.get("vary"), null);
  assert.equal(response.headers.get("cache-control"), null);
});

Deno.test("SessionManager: two managers keep their own session of one request", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const a = new SessionManager<Data>({ store, now: clock.now });
  const b = new SessionManager<Data>({
    store,
    now: clock.now,
    cookie: { name: "other" },
  });
  const request = get("/");
  (await a.of(request)).put("user", "ada");
  (await b.of(request)).put("user", "bob");
  assert.equal((await a.of(request)).get("user"), "ada");
  assert.equal((await b.of(request)).get("user"), "bob");
  const headers = new Headers();
  await a.finalizeHeaders(request, headers);
  await b.finalizeHeaders(request, headers);
  assert.equal(headers.getSetCookie().length, 2);
});

Deno.test("SessionManager.wrap() sends no cookie and writes nothing for an untouched new session", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const response = await app(sessions)(get("/read"));
  const body = await response.json();
  assert.equal(body.status, "unmodified");
  assert.equal(body.token, "");
  assert.equal(response.headers.get("set-cookie"), null);
  assert.equal(response.headers.get("vary"), "Cookie");
  assert.equal(store.saves, 0);
});

Deno.test("SessionManager.wrap() sets a secure cookie and stores the SHA-256 of the token", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const response = await app(sessions)(get("/inc"));
  await text(response);
  const setCookie = response.headers.get("set-cookie")!;
  const [name, token] = setCookie.split(";")[0]!.split("=");
  assert.equal(name, "session");
  assert.match(token!, /^[A-Za-z0-9_-]{43}$/);
  const attrs = attributes(setCookie);
  assert.equal(attrs.get("path"), "/");
  assert.equal(attrs.get("samesite"), "Lax");
  assert.ok(attrs.has("httponly"));
  assert.ok(attrs.has("secure"));
  assert.ok(!attrs.has("domain"));
  assert.equal(attrs.get("max-age"), String(DAY / 1000));
  assert.equal(
    attrs.get("expires"),
    new Date(clock.time + DAY).toUTCString(),
  );
  assert.equal(response.headers.get("vary"), "Cookie");
  assert.equal(response.headers.get("cache-control"), 'no-cache="Set-Cookie"');
  const keys = [...(await store.all()).keys()];
  const hash = createHash("sha256").update(token!).digest("base64url");
  assert.deepEqual(keys, [hash]);
});

Deno.test("SessionManager.wrap() keeps the token itself as store key without hashTokenInStore", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    hashTokenInStore: false,
  });
  const response = await app(sessions)(get("/inc"));
  await text(response);
  const token = cookiePair(response)!.split("=")[1];
  assert.deepEqual([...(await store.all()).keys()], [token]);
});

Deno.test("SessionManager.wrap() writes only when the session changed", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = app(sessions);
  const first = await handler(get("/inc"));
  const cookie = cookiePair(first)!;
  await text(first);
  assert.equal(store.saves, 1);
  for (let i = 0; i < 3; i++) {
    const read = await handler(get("/read", cookie));
    assert.equal((await read.json()).n, 1);
    assert.equal(read.headers.get("set-cookie"), null);
    assert.equal(read.headers.get("vary"), "Cookie");
  }
  assert.equal(store.saves, 1);
  const again = await handler(get("/inc", cookie));
  assert.equal((await again.json()).n, 2);
  assert.equal(store.saves, 2);
  // Same token, same expiry: the browser's cookie is already right.
  assert.equal(again.headers.get("set-cookie"), null);
});

Deno.test("SessionManager keeps recently used sessions decoded: one store read per session", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = app(sessions);
  const first = await handler(get("/inc"));
  const cookie = cookiePair(first)!;
  await text(first);
  for (let i = 0; i < 5; i++) await text(await handler(get("/read", cookie)));
  assert.equal(store.finds, 0);
  // A second manager on the same store has nothing in memory: it reads once.
  const other = app(
    new SessionManager<Data>({ store: restarted(store), now: clock.now }),
  );
  for (let i = 0; i < 3; i++) {
    assert.equal((await (await other(get("/read", cookie))).json()).n, 1);
  }
  assert.equal(store.finds, 1);
});

Deno.test("SessionManager evicts the least recently used sessions past cacheSize and reloads them", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    cacheSize: 1,
  });
  const handler = app(sessions);
  const a = await handler(get("/inc"));
  const b = await handler(get("/inc"));
  await text(a);
  await text(b);
  const cookieA = cookiePair(a)!;
  assert.equal((await (await handler(get("/inc", cookieA))).json()).n, 2);
  assert.equal(store.finds, 1);
  const cookieB = cookiePair(b)!;
  assert.equal((await (await handler(get("/read", cookieB))).json()).n, 1);
  assert.equal(store.finds, 2);
});

Deno.test("SessionManager keeps a session read while the cache fills and evicts an unread one", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    cacheSize: 4,
  });
  const handler = app(sessions);
  const cookies = [];
  for (let i = 0; i < 4; i++) {
    const response = await handler(get("/inc"));
    cookies.push(cookiePair(response)!);
    await text(response);
  }
  // The first session is read, then a fifth one pushes out the oldest.
  await text(await handler(get("/read", cookies[0])));
  await text(await handler(get("/inc")));
  const finds = store.finds;
  await text(await handler(get("/read", cookies[0])));
  assert.equal(store.finds, finds);
  await text(await handler(get("/read", cookies[1])));
  assert.equal(store.finds, finds + 1);
});

Deno.test("SessionManager lifetime ends the session at its deadline", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    lifetime: HOUR,
  });
  const handler = app(sessions);
  const first = await handler(get("/inc"));
  const cookie = cookiePair(first)!;
  await text(first);
  assert.equal(
    attributes(first.headers.get("set-cookie")!).get("max-age"),
    "3600",
  );
  clock.advance(HOUR - 1);
  assert.equal((await (await handler(get("/read", cookie))).json()).n, 1);
  clock.advance(1);
  const after = await (await handler(get("/read", cookie))).json();
  assert.equal(after.n, null);
  assert.equal(after.token, "");
});

Deno.test("SessionManager idleTimeout expires an idle session and touches at most once per touchInterval", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    idleTimeout: 30 * 60_000,
  });
  const handler = app(sessions);
  const first = await handler(get("/inc"));
  const cookie = cookiePair(first)!;
  await text(first);
  assert.equal(
    attributes(first.headers.get("set-cookie")!).get("max-age"),
    "1800",
  );
  assert.equal(store.saves, 1);
  // The default touchInterval is idleTimeout / 10 = 3 minutes.
  clock.advance(2 * 60_000);
  const quiet = await handler(get("/read", cookie));
  await text(quiet);
  assert.equal(store.saves, 1);
  assert.equal(quiet.headers.get("set-cookie"), null);
  clock.advance(60_000);
  const touched = await handler(get("/read", cookie));
  assert.equal((await touched.json()).status, "unmodified");
  assert.equal(store.saves, 2);
  assert.equal(cookiePair(touched), cookie);
  assert.equal(
    attributes(touched.headers.get("set-cookie")!).get("max-age"),
    "1800",
  );
  clock.advance(30 * 60_000 - 1);
  assert.equal((await (await handler(get("/read", cookie))).json()).n, 1);
  clock.advance(30 * 60_000);
  assert.equal((await (await handler(get("/read", cookie))).json()).n, null);
});

Deno.test("SessionManager idle touches never extend a session past its absolute deadline", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const expiries: number[] = [];
  const save = store.save.bind(store);
  store.save = (token, data, expiry) => {
    expiries.push(expiry.getTime());
    return save(token, data, expiry);
  };
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    lifetime: HOUR,
    idleTimeout: 20 * 60_000,
    touchInterval: 0,
  });
  const handler = app(sessions);
  const first = await handler(get("/inc"));
  const deadline = clock.time + HOUR;
  const cookie = cookiePair(first)!;
  await text(first);
  const maxAges: (string | undefined)[] = [];
  for (let minute = 10; minute < 60; minute += 10) {
    clock.advance(10 * 60_000);
    const read = await handler(get("/read", cookie));
    const setCookie = read.headers.get("set-cookie");
    maxAges.push(setCookie ? attributes(setCookie).get("max-age") : undefined);
    assert.equal((await read.json()).n, 1);
  }
  assert.ok(expiries.every((expiry) => expiry <= deadline));
  assert.equal(expiries.at(-1), deadline);
  // Each touch slides the cookie until it reaches the deadline (minute 40);
  // the touch at minute 50 keeps that expiry, so no cookie is resent.
  assert.deepEqual(maxAges, ["1200", "1200", "1200", "1200", undefined]);
  clock.advance(10 * 60_000);
  assert.equal((await (await handler(get("/read", cookie))).json()).n, null);
});

Deno.test("Session get/put/pop/remove/clear/has/keys work on typed values", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const session = await sessions.of(get("/"));
  assert.equal(session.get("n"), undefined);
  assert.equal(session.has("n"), false);
  session.put("user", "ada");
  session.put("n", 3);
  assert.equal(session.status, "modified");
  assert.equal(session.get("n"), 3);
  assert.equal(session.has("user"), true);
  assert.deepEqual(session.keys(), ["n", "user"]);
  session.remove("n");
  session.remove("n");
  assert.deepEqual(session.keys(), ["user"]);
  assert.equal(session.pop("user"), "ada");
  assert.equal(session.pop("user"), undefined);
  session.put("flash", "x");
  session.clear();
  assert.deepEqual(session.keys(), []);
});

Deno.test("Session.put() stores JSON data: Date becomes a string, objects are frozen copies", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager({ store, now: clock.now });
  const session = await sessions.of(get("/"));
  const date = new Date(0);
  session.put("when", date);
  assert.equal(session.get("when"), "1970-01-01T00:00:00.000Z");
  const cart = { items: ["a"], note: undefined };
  session.put("cart", cart);
  cart.items.push("b");
  assert.deepEqual(session.get("cart"), { items: ["a"] });
  const stored = session.get("cart") as { items: string[] };
  assert.throws(() => stored.items.push("c"), TypeError);
  assert.throws(() => session.put("x", undefined), /use remove\(\)/);
  assert.throws(() => session.put("x", new Uint8Array(2)), /base64/);
  assert.throws(() => session.put("x", () => 1), TypeError);
  assert.throws(() => session.put("x", 1n), TypeError);
  // Numbers JSON cannot hold come back as a reload gives them.
  session.put("x", NaN);
  assert.equal(session.get("x"), null);
  session.put("x", -Infinity);
  assert.equal(session.get("x"), null);
  session.put("x", -0);
  assert.equal(Object.is(session.get("x"), 0), true);
});

Deno.test("Session.pop() gives flash messages that last one read", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const handler = app(new SessionManager<Data>({ store, now: clock.now }));
  const first = await handler(get("/flash"));
  const cookie = cookiePair(first)!;
  await text(first);
  assert.equal(
    (await (await handler(get("/pop", cookie))).json()).flash,
    "saved",
  );
  assert.equal((await (await handler(get("/pop", cookie))).json()).flash, null);
});

Deno.test("Session.renewToken() keeps the data, issues a new token and deletes the old one", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = app(sessions);
  const first = await handler(get("/inc"));
  const oldCookie = cookiePair(first)!;
  await text(first);
  clock.advance(HOUR);
  const login = await handler(get("/login", oldCookie));
  const body = await login.json();
  const newCookie = cookiePair(login)!;
  assert.notEqual(newCookie, oldCookie);
  assert.equal(newCookie, `session=${body.token}`);
  assert.equal(body.n, 1);
  assert.equal(body.user, "ada");
  assert.equal((await store.all()).size, 1);
  const stale = await (await handler(get("/read", oldCookie))).json();
  assert.equal(stale.n, null);
  const fresh = await (await handler(get("/read", newCookie))).json();
  assert.equal(fresh.user, "ada");
  const session = await sessions.of(get("/", newCookie));
  assert.equal(session.deadline.getTime(), clock.time + DAY);
});

Deno.test("Session.destroy() deletes the session and expires the cookie with the same attributes", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    cookie: {
      name: "sid",
      domain: "example.com",
      path: "/app",
      sameSite: "strict",
      partitioned: true,
    },
  });
  const handler = app(sessions);
  const first = await handler(get("/inc"));
  const cookie = cookiePair(first)!;
  await text(first);
  const set = attributes(first.headers.get("set-cookie")!);
  const logout = await handler(get("/logout", cookie));
  assert.equal((await logout.json()).status, "destroyed");
  const deletion = logout.headers.get("set-cookie")!;
  assert.match(deletion, /^sid=;/);
  const del = attributes(deletion);
  assert.equal(del.get("max-age"), "0");
  assert.equal(del.get("expires"), new Date(1000).toUTCString());
  for (
    const name of [
      "domain",
      "path",
      "samesite",
      "secure",
      "partitioned",
      "httponly",
    ]
  ) {
    assert.equal(del.get(name), set.get(name), name);
  }
  assert.equal((await store.all()).size, 0);
  assert.equal((await (await handler(get("/read", cookie))).json()).n, null);
});

Deno.test("Session.put() after destroy() starts a new session with a new token", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = app(sessions);
  const first = await handler(get("/inc"));
  const cookie = cookiePair(first)!;
  await text(first);
  const restart = sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    await session.destroy();
    session.put("user", "bob");
    return new Response(session.status);
  });
  const response = await restart(get("/", cookie));
  assert.equal(await response.text(), "modified");
  const next = cookiePair(response)!;
  assert.notEqual(next, cookie);
  const body = await (await handler(get("/read", next))).json();
  assert.deepEqual([body.n, body.user], [null, "bob"]);
});

Deno.test("Session.rememberMe() overrides persist for the cookie's Max-Age", async (t) => {
  for (
    const [persist, on, persistent] of [
      [false, undefined, false],
      [false, true, true],
      [true, false, false],
      [true, undefined, true],
    ] as const
  ) {
    await t.step(`persist ${persist}, rememberMe ${on}`, async () => {
      const clock = new Clock();
      await using store = spyStore(clock);
      const handler = app(
        new SessionManager<Data>({
          store,
          now: clock.now,
          cookie: { persist },
        }),
      );
      const path = on === undefined ? "/inc" : `/remember?on=${on ? 1 : 0}`;
      const response = await handler(get(path));
      await text(response);
      const attrs = attributes(response.headers.get("set-cookie")!);
      assert.equal(attrs.has("max-age"), persistent);
      assert.equal(attrs.has("expires"), persistent);
    });
  }
});

Deno.test("Session status, token and deadline describe the session", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    lifetime: HOUR,
  });
  const request = get("/");
  const session: Session<Data> = await sessions.of(request);
  assert.equal(await sessions.of(request), session);
  assert.equal(session.status, "unmodified");
  assert.equal(session.token, "");
  assert.equal(session.deadline.getTime(), clock.time + HOUR);
  session.put("n", 1);
  await session.commit();
  assert.match(session.token, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(session.expiry.getTime(), clock.time + HOUR);
});

Deno.test("SessionManager.iterate() lists every session and can destroy one user's", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = app(sessions);
  const cookies: string[] = [];
  for (const user of ["ada", "bob", "ada"]) {
    const response = await handler(get(`/login?user=${user}`));
    cookies.push(cookiePair(response)!);
    await text(response);
  }
  const seen: string[] = [];
  await sessions.iterate(async (session) => {
    seen.push(session.get("user")!);
    if (session.get("user") === "ada") await session.destroy();
  });
  assert.deepEqual(seen.sort(), ["ada", "ada", "bob"]);
  assert.equal((await store.all()).size, 1);
  const users = [];
  for (const cookie of cookies) {
    users.push((await (await handler(get("/read", cookie))).json()).user);
  }
  assert.deepEqual(users, [null, "bob", null]);
  // Changes made while iterating are saved.
  await sessions.iterate((session) => session.put("n", 7));
  const fresh = app(
    new SessionManager<Data>({ store: restarted(store), now: clock.now }),
  );
  assert.equal((await (await fresh(get("/read", cookies[1]))).json()).n, 7);
});

Deno.test("SessionManager.iterate() throws a TypeError for a store without all()", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const { find, save, delete: del } = store;
  const sessions = new SessionManager({
    store: {
      find: find.bind(store),
      save: save.bind(store),
      delete: del.bind(store),
    },
  });
  await assert.rejects(sessions.iterate(() => {}), TypeError);
});

Deno.test("SessionManager codec option encodes and decodes what is stored", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  let encodes = 0;
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    codec: {
      encode(record) {
        encodes++;
        return encoder.encode("v1:" + JSON.stringify(record));
      },
      decode(data) {
        return JSON.parse(decoder.decode(data).slice(3));
      },
    },
  });
  const response = await app(sessions)(get("/inc"));
  const cookie = cookiePair(response)!;
  await text(response);
  assert.equal(encodes, 1);
  const [bytes] = (await store.all()).values();
  assert.match(decoder.decode(bytes), /^v1:\{"deadline":/);
  const other = app(
    new SessionManager<Data>({
      store,
      now: clock.now,
      codec: {
        encode: () => new Uint8Array(),
        decode: (data) => JSON.parse(decoder.decode(data).slice(3)),
      },
    }),
  );
  assert.equal((await (await other(get("/read", cookie))).json()).n, 1);
});

Deno.test("Session.setDeadline() moves the absolute deadline and the cookie's expiry with it", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const extend = sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    session.put("n", 1);
    session.setDeadline(new Date(clock.time + 30 * DAY));
    return new Response(session.deadline.toISOString());
  });
  const response = await extend(get("/"));
  const cookie = cookiePair(response)!;
  assert.equal(
    await response.text(),
    new Date(clock.time + 30 * DAY).toISOString(),
  );
  assert.equal(
    attributes(response.headers.get("set-cookie")!).get("max-age"),
    String(30 * DAY / 1000),
  );
  clock.advance(2 * DAY);
  const handler = app(sessions);
  assert.equal((await (await handler(get("/read", cookie))).json()).n, 1);
  clock.advance(29 * DAY);
  assert.equal((await (await handler(get("/read", cookie))).json()).n, null);
  const session = await sessions.of(get("/"));
  assert.throws(() => session.setDeadline(new Date(NaN)), TypeError);
});
