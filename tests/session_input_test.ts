import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { MemoryStore, SessionManager } from "@x/buntstore";
import { newToken, TokenHasher } from "../_session/token.ts";
import {
  attributes,
  Clock,
  cookiePair,
  get,
  restarted,
  spyStore,
  text,
} from "./_session_helpers.ts";

type Data = { n: number; big: string };

function counter(sessions: SessionManager<Data>) {
  return sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    if (new URL(req.url).pathname === "/inc") {
      session.put("n", (session.get("n") ?? 0) + 1);
    }
    return Response.json({ n: session.get("n") ?? null, token: session.token });
  });
}

async function withSession(clock: Clock) {
  const store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = counter(sessions);
  const first = await handler(get("/inc"));
  await text(first);
  const cookie = cookiePair(first)!;
  return { store, sessions, handler, cookie, token: cookie.split("=")[1]! };
}

Deno.test("SessionManager gives a fresh session for every malformed Cookie header", async (t) => {
  const clock = new Clock();
  const { store, handler, token } = await withSession(clock);
  await using _ = store;
  const other = newToken();
  const cases: [string, string][] = [
    ["empty", ""],
    ["only separators", ";;; ;"],
    ["empty name", "=" + token],
    ["name without value", "session"],
    ["empty value", "session="],
    ["trailing garbage", "session=" + token + "x"],
    ["too short", "session=" + token.slice(1)],
    ["too long", "session=" + token + token],
    ["wrong alphabet", "session=" + token.slice(0, 42) + "+"],
    ["padding", "session=" + token.slice(0, 42) + "="],
    ["percent-encoded", "session=" + encodeURIComponent("é".repeat(22))],
    ["binary", "session=\u0001\u00ff\u00fe" + token.slice(3)],
    ["quoted", `session="${token}"`],
    ["duplicated with different tokens", `session=${token}; session=${other}`],
    ["duplicated, other first", `session=${other}; session=${token}`],
    ["oversized header", `pad=${"x".repeat(20_000)}; session=${token}`],
    ["unknown well-formed token", "session=" + other],
  ];
  for (const [name, header] of cases) {
    await t.step(name, async () => {
      const response = await handler(get("/read", header));
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { n: null, token: "" });
    });
  }
  await t.step("the same valid token sent twice still works", async () => {
    const response = await handler(
      get("/read", `a=1; session=${token}; b=2; session=${token}`),
    );
    assert.equal((await response.json()).n, 1);
  });
  await t.step(
    "a cookie whose name contains the name does not count",
    async () => {
      const response = await handler(
        get("/read", `xsession=${other}; session=${token}`),
      );
      assert.equal((await response.json()).n, 1);
    },
  );
});

Deno.test("SessionManager never adopts an unknown token sent by a client", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const handler = counter(new SessionManager<Data>({ store, now: clock.now }));
  const planted = newToken();
  const response = await handler(get("/inc", `session=${planted}`));
  const body = await response.json();
  assert.equal(body.n, 1);
  assert.equal(body.token, "", "a new session has no token before commit");
  const issued = cookiePair(response)!.split("=")[1]!;
  assert.match(issued, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(issued, planted);
  const later = await handler(get("/read", `session=${planted}`));
  assert.equal((await later.json()).n, null);
});

Deno.test("SessionManager gives a fresh session when the stored value cannot be decoded", async (t) => {
  const clock = new Clock();
  const { store, handler, token } = await withSession(clock);
  await using _ = store;
  const key = createHash("sha256").update(token).digest("base64url");
  const expiry = new Date(clock.time + 60_000);
  const encoder = new TextEncoder();
  const cases: [string, Uint8Array][] = [
    ["not JSON", encoder.encode("{not json")],
    ["not UTF-8", new Uint8Array([0xff, 0xfe, 0x7b])],
    ["empty", new Uint8Array()],
    ["JSON null", encoder.encode("null")],
    ["values not an object", encoder.encode('{"d":1,"t":1,"v":[]}')],
    ["deadline missing", encoder.encode('{"t":1,"v":{}}')],
    [
      "deadline already passed",
      encoder.encode(`{"d":${clock.time - 1},"t":1,"v":{"n":5}}`),
    ],
  ];
  for (const [name, bytes] of cases) {
    await t.step(name, async () => {
      // A fresh manager, so the value is read from the store.
      const fresh = counter(
        new SessionManager<Data>({ store: restarted(store), now: clock.now }),
      );
      await store.save(key, bytes, expiry);
      const response = await fresh(get("/read", `session=${token}`));
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { n: null, token: "" });
    });
  }
  assert.ok(handler);
});

Deno.test("SessionManager sends store failures to onError, by default a logged 500", async () => {
  const clock = new Clock();
  const { store, handler, cookie } = await withSession(clock);
  await using _ = store;
  const fresh = counter(
    new SessionManager<Data>({ store: restarted(store), now: clock.now }),
  );
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    store.fail = "find";
    const response = await fresh(get("/read", cookie));
    assert.equal(response.status, 500);
    assert.equal(await response.text(), "Internal Server Error");
    store.fail = "save";
    const failed = await handler(get("/inc", cookie));
    assert.equal(failed.status, 500);
    await text(failed);
  } finally {
    console.error = original;
  }
  assert.equal(logged.length, 2);
  assert.match(String(logged[0]![1]), /find failed/);
  assert.match(String(logged[1]![1]), /save failed/);
  store.fail = undefined;
  // The failed write left memory as the store has it.
  assert.equal((await (await handler(get("/read", cookie))).json()).n, 1);
});

Deno.test("SessionManager onError option answers session failures", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const errors: unknown[] = [];
  const handler = counter(
    new SessionManager<Data>({
      store,
      now: clock.now,
      onError(error, request) {
        errors.push(error);
        return new Response(`unavailable: ${new URL(request.url).pathname}`, {
          status: 503,
        });
      },
    }),
  );
  store.fail = "save";
  const response = await handler(get("/inc"));
  assert.equal(response.status, 503);
  assert.equal(await response.text(), "unavailable: /inc");
  assert.equal(response.headers.get("set-cookie"), null);
  assert.equal(errors.length, 1);
});

Deno.test("SessionManager.wrap() passes the handler's own errors through", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = sessions.wrap(async (req) => {
    await sessions.of(req);
    throw new Error("handler bug");
  });
  await assert.rejects(handler(get("/")), /handler bug/);
});

Deno.test("SessionManager maxBytes makes commit fail loudly and keeps the last saved session", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    maxBytes: 1024,
    onError: (error) => new Response((error as Error).message, { status: 500 }),
  });
  const handler = counter(sessions);
  const first = await handler(get("/inc"));
  const cookie = cookiePair(first)!;
  await text(first);
  const big = sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    session.put("big", "x".repeat(2000));
    return new Response("ok");
  });
  const response = await big(get("/big", cookie));
  assert.equal(response.status, 500);
  assert.match(await response.text(), /more than maxBytes \(1024\)/);
  const session = await sessions.of(get("/", cookie));
  assert.equal(session.get("n"), 1);
  assert.equal(session.has("big"), false);
  session.put("big", "y".repeat(2000));
  await assert.rejects(session.commit(), RangeError);
});

Deno.test("SessionManager default maxBytes is 1 MiB", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const session = await sessions.of(get("/"));
  session.put("big", "x".repeat(1024 * 1024 - 100));
  await session.commit();
  session.put("big", "x".repeat(1024 * 1024));
  await assert.rejects(session.commit(), /maxBytes \(1048576\)/);
});

Deno.test("SessionManager cookie Secure follows the secure option", async (t) => {
  for (
    const [secure, origin, expected] of [
      [undefined, "http://localhost", true],
      ["auto", "http://localhost", false],
      ["auto", "https://example.com", true],
      [false, "https://example.com", false],
    ] as const
  ) {
    await t.step(`secure ${secure} on ${origin}`, async () => {
      const clock = new Clock();
      await using store = spyStore(clock);
      const handler = counter(
        new SessionManager<Data>({
          store,
          now: clock.now,
          ...(secure === undefined ? {} : { cookie: { secure } }),
        }),
      );
      const response = await handler(get("/inc", undefined, origin));
      await text(response);
      const attrs = attributes(response.headers.get("set-cookie")!);
      assert.equal(attrs.has("secure"), expected);
    });
  }
});

Deno.test("SessionManager hostPrefix names the cookie __Host- and forces Secure", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    cookie: { hostPrefix: true, secure: "auto" },
  });
  assert.equal(sessions.cookieName, "__Host-session");
  const handler = counter(sessions);
  const first = await handler(get("/inc", undefined, "http://localhost"));
  await text(first);
  const setCookie = first.headers.get("set-cookie")!;
  assert.match(setCookie, /^__Host-session=/);
  const attrs = attributes(setCookie);
  assert.ok(attrs.has("secure"));
  assert.equal(attrs.get("path"), "/");
  assert.ok(!attrs.has("domain"));
  const again = await handler(get("/read", cookiePair(first)));
  assert.equal((await again.json()).n, 1);
});

Deno.test("SessionManager caps the cookie lifetime at 400 days", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const handler = counter(
    new SessionManager<Data>({
      store,
      now: clock.now,
      lifetime: 500 * 24 * 60 * 60 * 1000,
    }),
  );
  const response = await handler(get("/inc"));
  await text(response);
  const attrs = attributes(response.headers.get("set-cookie")!);
  assert.equal(attrs.get("max-age"), String(400 * 24 * 60 * 60));
  assert.equal(
    attrs.get("expires"),
    new Date(clock.time + 400 * 24 * 60 * 60 * 1000).toUTCString(),
  );
});

Deno.test("SessionManager adds Cookie to an existing Vary header once", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = sessions.wrap(async (req) => {
    (await sessions.of(req)).put("n", 1);
    const vary = new URL(req.url).searchParams.get("vary")!;
    return new Response("ok", {
      headers: { vary, "cache-control": "private" },
    });
  });
  const response = await handler(get("/?vary=Accept-Encoding"));
  await text(response);
  assert.equal(response.headers.get("vary"), "Accept-Encoding, Cookie");
  assert.equal(
    response.headers.get("cache-control"),
    'private, no-cache="Set-Cookie"',
  );
  const already = await handler(get("/?vary=accept, cookie"));
  await text(already);
  assert.equal(already.headers.get("vary"), "accept, cookie");
});

Deno.test("SessionManager rejects bad options when created", () => {
  const store = {
    find: () => Promise.resolve(undefined),
    save: () => Promise.resolve(),
    delete: () => Promise.resolve(),
  };
  assert.throws(
    () => new SessionManager({ store: {} as typeof store }),
    TypeError,
  );
  assert.throws(() => new SessionManager({ store, lifetime: 0 }), RangeError);
  assert.throws(
    () => new SessionManager({ store, lifetime: "1h" as unknown as number }),
    TypeError,
  );
  assert.throws(
    () => new SessionManager({ store, idleTimeout: -1 }),
    RangeError,
  );
  assert.throws(() => new SessionManager({ store, maxBytes: NaN }), RangeError);
  assert.throws(
    () => new SessionManager({ store, cookie: { name: "a b" } }),
    TypeError,
  );
  assert.throws(
    () => new SessionManager({ store, cookie: { path: "/x;y" } }),
    TypeError,
  );
  assert.throws(
    () =>
      new SessionManager({
        store,
        cookie: { hostPrefix: true, domain: "example.com" },
      }),
    RangeError,
  );
  assert.throws(
    () =>
      new SessionManager({ store, cookie: { hostPrefix: true, path: "/a" } }),
    RangeError,
  );
  assert.throws(
    () =>
      new SessionManager({
        store,
        cookie: { hostPrefix: true, secure: false },
      }),
    RangeError,
  );
  assert.throws(
    () =>
      new SessionManager({
        store,
        cookie: { sameSite: "none", secure: false },
      }),
    RangeError,
  );
  assert.throws(
    () =>
      new SessionManager({
        store,
        cookie: { sameSite: "loose" as "lax" },
      }),
    RangeError,
  );
});

Deno.test("newToken() gives 32 random bytes as 43 base64url characters", () => {
  const tokens = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const token = newToken();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    tokens.add(token);
  }
  assert.equal(tokens.size, 100);
});

Deno.test("TokenHasher hashes a token once and stays bounded", () => {
  const hasher = new TokenHasher(true, 2);
  const [a, b, c] = [newToken(), newToken(), newToken()];
  const key = hasher.keyOf(a);
  assert.equal(key, createHash("sha256").update(a).digest("base64url"));
  for (let i = 0; i < 10; i++) assert.equal(hasher.keyOf(a), key);
  assert.equal(hasher.hashed, 1);
  hasher.keyOf(b);
  hasher.keyOf(c);
  assert.equal(hasher.hashed, 3);
  hasher.keyOf(a); // dropped as the oldest, so hashed again
  assert.equal(hasher.hashed, 4);
  assert.equal(new TokenHasher(false, 2).keyOf(a), a);
});

Deno.test("SessionManager trustProxy lets secure auto follow X-Forwarded-Proto, only when enabled", async (t) => {
  for (
    const [trustProxy, forwarded, expected] of [
      [false, "https", false],
      [true, "https", true],
      [true, "https, http", true],
      [true, "http", false],
      [true, undefined, false],
    ] as const
  ) {
    await t.step(`trustProxy ${trustProxy}, ${forwarded}`, async () => {
      const clock = new Clock();
      await using store = spyStore(clock);
      const handler = counter(
        new SessionManager<Data>({
          store,
          now: clock.now,
          cookie: { secure: "auto", trustProxy },
        }),
      );
      const request = new Request("http://internal:8000/inc", {
        headers: forwarded === undefined
          ? {}
          : { "x-forwarded-proto": forwarded },
      });
      const response = await handler(request);
      await text(response);
      const attrs = attributes(response.headers.get("set-cookie")!);
      assert.equal(attrs.has("secure"), expected);
    });
  }
});

// Deno turns off the `__proto__` setter unless run with --unsafe-proto
// (`deno test --unsafe-proto` makes this fail without the engine's guard).
Deno.test("SessionManager saves a value named __proto__ as a value, not a prototype", async () => {
  await using store = new MemoryStore();
  const sessions = new SessionManager({ store });
  const { token } = await sessions.withToken(undefined, (session) => {
    session.put("__proto__", { admin: true });
    session.put("n", 1);
  });
  // Another process reads what the store holds: no cached state.
  const later = new SessionManager({ store: restarted(store) });
  const read = await later.withToken(token, (session) => ({
    keys: session.keys(),
    proto: session.get("__proto__"),
  }));
  assert.deepEqual(read.value, {
    keys: ["__proto__", "n"],
    proto: { admin: true },
  });
});
