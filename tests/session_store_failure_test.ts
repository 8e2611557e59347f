// A store failure is never answered as success: a logout or renewal whose
// delete failed fails the request through onError, sends no cookie that
// tells the browser it is logged out, and is tried again by the next
// attempt (issue 19).

import assert from "node:assert/strict";
import { SessionManager } from "@x/buntstore";
import {
  Clock,
  cookiePair,
  get,
  restarted,
  settle,
  spyStore,
  text,
} from "./_session_helpers.ts";

type Data = { user: string };

/** Routes: /login (renews), /me, /logout, /logout-caught, /put-then-throw. */
function app(sessions: SessionManager<Data>) {
  return sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    switch (new URL(req.url).pathname) {
      case "/login":
        await session.renewToken();
        session.put("user", "ada");
        return new Response("logged in");
      case "/logout":
        await session.destroy();
        return new Response("logged out");
      case "/logout-caught":
        // A handler that swallows the failure must not turn it into a
        // logout the browser believes.
        await session.destroy().catch(() => {});
        return new Response("logged out");
      case "/commit-then-fail":
        session.put("user", "bob");
        await session.commit();
        return new Response("committed");
    }
    return new Response(session.get("user") ?? "nobody");
  });
}

function manager(
  store: ConstructorParameters<typeof SessionManager>[0]["store"],
  clock: Clock,
  errors: unknown[],
): SessionManager<Data> {
  return new SessionManager<Data>({
    store,
    now: clock.now,
    onError(error) {
      errors.push(error);
      return new Response("store unavailable", { status: 503 });
    },
  });
}

async function loggedIn(handler: (r: Request) => Promise<Response>) {
  const login = await handler(get("/login"));
  const cookie = cookiePair(login)!;
  await text(login);
  return cookie;
}

/**
 * A spy store, a manager whose onError answers 503 and records the error,
 * the app, and the cookie of a logged-in user; disposing closes the store.
 */
async function loggedInScenario() {
  const clock = new Clock();
  const store = spyStore(clock);
  const errors: unknown[] = [];
  const sessions = manager(store, clock, errors);
  const handler = app(sessions);
  const cookie = await loggedIn(handler);
  return {
    clock,
    store,
    errors,
    sessions,
    handler,
    cookie,
    [Symbol.asyncDispose]: () => store[Symbol.asyncDispose](),
  };
}

Deno.test("Session.destroy() whose delete fails answers through onError, sends no deletion cookie, and the retry deletes", async () => {
  await using scenario = await loggedInScenario();
  const { clock, store, errors, handler, cookie } = scenario;

  store.fail = "delete";
  const failed = await handler(get("/logout", cookie));
  assert.equal(failed.status, 503);
  assert.equal(await failed.text(), "store unavailable");
  assert.equal(failed.headers.get("set-cookie"), null);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /delete failed/);

  // Still logged in, here and on a server that never saw the attempt.
  const elsewhere = app(manager(restarted(store), clock, errors));
  assert.equal(await text(await elsewhere(get("/me", cookie))), "ada");
  assert.equal(await text(await handler(get("/me", cookie))), "ada");

  // The retry tries the delete again, while it still fails ...
  const deletesBefore = store.deletes;
  const again = await handler(get("/logout", cookie));
  assert.equal(again.status, 503);
  assert.equal(again.headers.get("set-cookie"), null);
  await text(again);
  assert.equal(store.deletes, deletesBefore + 1);

  // ... and once the store works, it logs out for real.
  store.fail = undefined;
  const done = await handler(get("/logout", cookie));
  assert.equal(done.status, 200);
  assert.match(done.headers.get("set-cookie")!, /^session=; Max-Age=0/);
  await text(done);
  const restart = app(manager(restarted(store), clock, errors));
  assert.equal(await text(await restart(get("/me", cookie))), "nobody");
});

Deno.test("Session.destroy() whose delete fails fails the request even when the handler catches the error", async () => {
  await using scenario = await loggedInScenario();
  const { store, handler, cookie } = scenario;
  store.fail = "delete";
  const failed = await handler(get("/logout-caught", cookie));
  assert.equal(failed.status, 503);
  assert.equal(failed.headers.get("set-cookie"), null);
  await text(failed);
  store.fail = undefined;
  assert.equal(await text(await handler(get("/me", cookie))), "ada");
});

Deno.test("Session.renewToken() whose delete fails answers through onError and saves no new session", async () => {
  await using scenario = await loggedInScenario();
  const { clock, store, errors, handler, cookie } = scenario;
  const savesBefore = store.saves;

  store.fail = "delete";
  const failed = await handler(get("/login", cookie));
  assert.equal(failed.status, 503);
  assert.equal(failed.headers.get("set-cookie"), null);
  await text(failed);
  assert.equal(store.saves, savesBefore);
  assert.equal((await store.all()).size, 1);
  assert.equal(await text(await handler(get("/me", cookie))), "ada");

  store.fail = undefined;
  const renewed = await handler(get("/login", cookie));
  assert.equal(renewed.status, 200);
  const next = cookiePair(renewed)!;
  await text(renewed);
  assert.notEqual(next, cookie);
  const elsewhere = app(manager(restarted(store), clock, errors));
  assert.equal(await text(await elsewhere(get("/me", cookie))), "nobody");
  assert.equal(await text(await elsewhere(get("/me", next))), "ada");
});

Deno.test("Session.destroy() whose delete fails: a concurrent request of the session is not told it is logged out", async () => {
  await using scenario = await loggedInScenario();
  const { store, sessions, handler, cookie } = scenario;

  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const slow = sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    await held;
    return new Response(session.get("user") ?? "nobody");
  });
  const inFlight = slow(get("/slow", cookie));
  await settle();
  store.fail = "delete";
  const failed = await handler(get("/logout", cookie));
  assert.equal(failed.status, 503);
  await text(failed);
  release();
  const concurrent = await inFlight;
  assert.equal(concurrent.headers.get("set-cookie"), null);
  await text(concurrent);
  store.fail = undefined;
  assert.equal(await text(await handler(get("/me", cookie))), "ada");
});

Deno.test("SessionManager.wrap() sends a store failure from commit() to onError", async () => {
  await using scenario = await loggedInScenario();
  const { store, errors, handler, cookie } = scenario;
  store.fail = "save";
  const failed = await handler(get("/commit-then-fail", cookie));
  assert.equal(failed.status, 503);
  await text(failed);
  assert.match(String(errors[0]), /save failed/);
  store.fail = undefined;
  assert.equal(await text(await handler(get("/me", cookie))), "ada");
});

Deno.test("SessionManager.destroyBy() whose deletes fail throws, and the sessions stay valid until a retry", async () => {
  const clock = new Clock();
  await using store = spyStore(clock);
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    index: "user",
  });
  const handler = app(sessions);
  const phone = await loggedIn(handler);
  const laptop = await loggedIn(handler);
  store.fail = "delete";
  await assert.rejects(sessions.destroyBy("ada"), /delete failed/);
  assert.equal((await sessions.listBy("ada")).length, 2);
  assert.equal(await text(await handler(get("/me", phone))), "ada");
  store.fail = undefined;
  assert.equal(await sessions.destroyBy("ada"), 2);
  assert.equal(await text(await handler(get("/me", laptop))), "nobody");
});
