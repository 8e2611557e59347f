// Sessions by explicit token, without a cookie: API and mobile clients that
// send `Authorization: Bearer <token>`.

import assert from "node:assert/strict";
import { MemoryStore, SessionManager } from "@x/buntstore";
import { Clock, settle, spyStore } from "./_session_helpers.ts";

type Data = { user: string; n: number };

/** A JSON API that keeps its session under a bearer token. */
function api(sessions: SessionManager<Data>) {
  return async (request: Request): Promise<Response> => {
    const header = request.headers.get("authorization") ?? "";
    const bearer = /^Bearer (\S+)$/.exec(header)?.[1];
    const path = new URL(request.url).pathname;
    const { value, token } = await sessions.withToken(
      bearer,
      async (session) => {
        if (path === "/login") {
          await session.renewToken();
          session.put("user", "ada");
        }
        if (path === "/inc") session.put("n", (session.get("n") ?? 0) + 1);
        if (path === "/logout") await session.destroy();
        return { user: session.get("user") ?? null, n: session.get("n") ?? 0 };
      },
    );
    return Response.json({ ...value, token: token ?? null });
  };
}

function call(path: string, token?: string | null): Request {
  return new Request(
    `https://api.example.com${path}`,
    token ? { headers: { authorization: `Bearer ${token}` } } : {},
  );
}

Deno.test("SessionManager.withToken() loads and commits a session by token, without cookies", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const handler = api(sessions);
  const anonymous = await (await handler(call("/me"))).json();
  assert.deepEqual(anonymous, { user: null, n: 0, token: null });
  assert.equal(store.saves, 0);
  const login = await (await handler(call("/login"))).json();
  assert.equal(login.user, "ada");
  assert.match(login.token, /^[A-Za-z0-9_-]{43}$/);
  const inc = await (await handler(call("/inc", login.token))).json();
  assert.deepEqual(inc, { user: "ada", n: 1, token: login.token });
  const out = await (await handler(call("/logout", login.token))).json();
  assert.deepEqual(out, { user: null, n: 0, token: null });
  const after = await (await handler(call("/me", login.token))).json();
  assert.deepEqual(after, { user: null, n: 0, token: null });
  assert.equal((await store.all()).size, 0);
});

Deno.test("SessionManager.withToken() gives a fresh session for an unknown or malformed token", async () => {
  await using store = new MemoryStore();
  const sessions = new SessionManager<Data>({ store });
  for (const token of ["nope", "x".repeat(43), "", "a b"]) {
    const { value, token: kept } = await sessions.withToken(
      token,
      (session) => session.get("user") ?? null,
    );
    assert.equal(value, null);
    assert.equal(kept, undefined);
  }
});

Deno.test("SessionManager.withToken() takes back the changes of a callback that throws", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const { token } = await sessions.withToken(undefined, (session) => {
    session.put("n", 1);
  });
  const saves = store.saves;
  await assert.rejects(
    sessions.withToken(token, (session) => {
      session.put("n", 99);
      throw new Error("bug");
    }),
    /bug/,
  );
  assert.equal(store.saves, saves);
  const { value } = await sessions.withToken(token, (s) => s.get("n"));
  assert.equal(value, 1);
});

Deno.test("SessionManager.withToken() never hands a request in flight the renewed token", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({ store, now: clock.now });
  const { token: old } = await sessions.withToken(undefined, (session) => {
    session.put("n", 1);
  });
  const gate = Promise.withResolvers<void>();
  const slow = sessions.withToken(old, async (session) => {
    await gate.promise;
    session.put("n", 50);
    return session.get("user") ?? null;
  });
  await settle();
  const login = await sessions.withToken(old, async (session) => {
    await session.renewToken();
    session.put("user", "ada");
  });
  gate.resolve();
  const result = await slow;
  assert.equal(result.value, null);
  assert.notEqual(result.token, login.token);
  assert.equal(result.token, undefined);
  const { value } = await sessions.withToken(
    login.token,
    (session) => [session.get("user"), session.get("n")],
  );
  assert.deepEqual(value, ["ada", 1]);
});
