// "Your devices" and "log out everywhere": SessionManager.listBy() and
// destroyBy() over the stores' owner index.

import assert from "node:assert/strict";
import {
  BuntStore,
  jsonSessionCodec,
  MemoryStore,
  SessionManager,
  type SessionStore,
} from "@x/buntstore";
import { KvStore } from "@x/buntstore/kv";
import {
  Clock,
  cookiePair,
  get,
  restarted,
  settle,
  text,
} from "./_session_helpers.ts";

type Data = { user: string | number; n: number };
type Store = SessionStore & AsyncDisposable;

const STORES: [string, (clock: Clock) => Promise<Store>][] = [
  [
    "MemoryStore",
    (clock) => Promise.resolve(new MemoryStore({ now: clock.now })),
  ],
  ["BuntStore", (clock) => BuntStore.open(":memory:", { now: clock.now })],
];
/** Shared stores too; the 100k-session count runs on the in-process ones. */
const ALL_STORES: typeof STORES = [
  ...STORES,
  ["KvStore", (clock) => KvStore.open(":memory:", { now: clock.now })],
];

/** Routes: /login?user=, /inc, /logout, /devices, /logout-others, /read. */
function app(sessions: SessionManager<Data>) {
  return sessions.wrap(async (req) => {
    const url = new URL(req.url);
    const session = await sessions.of(req);
    const user = url.searchParams.get("user");
    switch (url.pathname) {
      case "/login":
        await session.renewToken();
        session.put("user", user!);
        break;
      case "/inc":
        session.put("n", (session.get("n") ?? 0) + 1);
        break;
      case "/logout":
        await session.destroy();
        break;
      case "/devices":
        return Response.json(await sessions.listBy(user!, req));
      case "/logout-others":
        return Response.json(
          await sessions.destroyBy(user!, { except: req }),
        );
    }
    return Response.json({
      user: session.get("user") ?? null,
      n: session.get("n") ?? null,
    });
  });
}

async function login(
  handler: ReturnType<typeof app>,
  user: string,
): Promise<string> {
  const response = await handler(get(`/login?user=${user}`));
  await text(response);
  return cookiePair(response)!;
}

async function read(handler: ReturnType<typeof app>, cookie: string) {
  return await (await handler(get("/read", cookie))).json();
}

for (const [name, open] of ALL_STORES) {
  Deno.test(`SessionManager.listBy() lists one owner's devices on ${name}, never a token`, async () => {
    const clock = new Clock();
    await using store = await open(clock);
    const sessions = new SessionManager<Data>({
      store,
      now: clock.now,
      index: "user",
    });
    const handler = app(sessions);
    const phone = await login(handler, "ada");
    clock.advance(1000);
    const laptop = await login(handler, "ada");
    await login(handler, "bob");
    const response = await handler(get("/devices?user=ada", laptop));
    const body = await response.text();
    const devices = JSON.parse(body);
    assert.equal(devices.length, 2);
    assert.deepEqual(devices.map((d: { current: boolean }) => d.current), [
      true,
      false,
    ]);
    for (const cookie of [phone, laptop]) {
      const token = cookie.split("=")[1]!;
      assert.ok(!body.includes(token), "a token leaked into the list");
    }
    assert.equal(devices[0].createdAt, new Date(clock.time).toISOString());
    assert.equal(devices[0].lastSeen, new Date(clock.time).toISOString());
    assert.notEqual(devices[0].id, devices[1].id);
    assert.equal((await sessions.listBy("nobody")).length, 0);
  });

  Deno.test(`SessionManager.destroyBy() logs an owner out everywhere but here on ${name}`, async () => {
    const clock = new Clock();
    await using store = await open(clock);
    const sessions = new SessionManager<Data>({
      store,
      now: clock.now,
      index: "user",
    });
    const handler = app(sessions);
    const devices = [];
    for (let i = 0; i < 4; i++) devices.push(await login(handler, "ada"));
    const bob = await login(handler, "bob");
    const here = devices[1]!;
    const destroyed = await handler(get("/logout-others?user=ada", here));
    assert.equal(await destroyed.json(), 3);
    for (const cookie of devices) {
      assert.equal(
        (await read(handler, cookie)).user,
        cookie === here ? "ada" : null,
      );
    }
    assert.equal((await read(handler, bob)).user, "bob");
    assert.equal(await sessions.destroyBy("ada"), 1);
    assert.equal((await read(handler, here)).user, null);
    // A cold manager (a restart) finds nothing to bring back.
    const cold = app(
      new SessionManager<Data>({ store: restarted(store), now: clock.now }),
    );
    for (const cookie of devices) {
      assert.equal((await read(cold, cookie)).user, null);
    }
  });

  Deno.test(`SessionManager's owner index follows owner changes, renewal, logout and expiry on ${name}`, async () => {
    const clock = new Clock();
    await using store = await open(clock);
    const sessions = new SessionManager<Data>({
      store,
      now: clock.now,
      index: "user",
      idleTimeout: 60_000,
      touchInterval: 1000,
    });
    const handler = app(sessions);
    const cookie = await login(handler, "ada");
    assert.equal((await sessions.listBy("ada")).length, 1);
    // A change of owner moves the session.
    const switched = await handler(get("/login?user=7", cookie));
    const numeric = cookiePair(switched)!;
    await text(switched);
    assert.equal((await sessions.listBy("ada")).length, 0);
    assert.equal((await sessions.listBy(7)).length, 1);
    assert.equal((await sessions.listBy("7")).length, 1);
    // Renewal replaced the old session: one entry, the new one.
    const [before] = await sessions.listBy(7);
    const renewed = await handler(get("/login?user=7", numeric));
    const latest = cookiePair(renewed)!;
    await text(renewed);
    const after = await sessions.listBy(7);
    assert.equal(after.length, 1);
    assert.notEqual(after[0]!.id, before!.id);
    // Logout drops it.
    await text(await handler(get("/logout", latest)));
    assert.equal((await sessions.listBy(7)).length, 0);
    // Idle expiry drops it, without any request.
    await login(handler, "ada");
    clock.advance(61_000);
    assert.equal((await sessions.listBy("ada")).length, 0);
  });

  Deno.test(`SessionManager.destroyBy() on ${name}: a request in flight cannot bring a session back`, async () => {
    const clock = new Clock();
    await using store = await open(clock);
    const sessions = new SessionManager<Data>({
      store,
      now: clock.now,
      index: "user",
    });
    const handler = app(sessions);
    const cookie = await login(handler, "ada");
    const gate = Promise.withResolvers<void>();
    const slow = sessions.wrap(async (req) => {
      const session = await sessions.of(req);
      await gate.promise;
      session.put("n", 5);
      return new Response("slow");
    });
    const pending = slow(get("/", cookie));
    await settle();
    assert.equal(await sessions.destroyBy("ada"), 1);
    gate.resolve();
    const response = await pending;
    await text(response);
    // Its write after the logout starts a new, anonymous session, as a put
    // after destroy() does; the old one stays gone.
    const next = cookiePair(response)!;
    assert.notEqual(next, cookie);
    assert.deepEqual(await read(handler, next), { user: null, n: 5 });
    assert.deepEqual(await read(handler, cookie), { user: null, n: null });
    assert.equal((await sessions.listBy("ada")).length, 0);
  });
}

for (const [name, open] of STORES) {
  Deno.test(`SessionManager.destroyBy() costs one owner's sessions on ${name}: 100k sessions of 10k owners`, async () => {
    const clock = new Clock();
    await using store = await open(clock);
    const expiry = new Date(clock.time + 3_600_000);
    for (let i = 0; i < 100_000; i++) {
      const owner = `user${i % 10_000}`;
      const data = jsonSessionCodec.encode({
        deadline: expiry.getTime(),
        savedAt: clock.time,
        createdAt: clock.time,
        values: { user: owner },
      });
      await store.save(`key${i}`, data, expiry, { owner });
    }
    const calls = { find: 0, save: 0, delete: 0, all: 0, findByOwner: 0 };
    const counted: SessionStore = {
      find: (key) => (calls.find++, store.find(key)),
      save: (key, data, at, options) => (
        calls.save++, store.save(key, data, at, options)
      ),
      delete: (key, options) => (calls.delete++, store.delete(key, options)),
      all: () => (calls.all++, store.all!()),
      findByOwner: (owner) => (calls.findByOwner++, store.findByOwner!(owner)),
    };
    const sessions = new SessionManager<Data>({
      store: counted,
      now: clock.now,
      index: "user",
      hashTokenInStore: false,
    });
    assert.equal(await sessions.destroyBy("user42"), 10);
    assert.deepEqual(calls, {
      find: 0,
      save: 0,
      delete: 10,
      all: 0,
      findByOwner: 1,
    });
    assert.equal((await store.findByOwner!("user42")).size, 0);
    assert.equal((await store.findByOwner!("user43")).size, 10);
    assert.equal((await store.all!()).size, 99_990);
  });
}

Deno.test("SessionManager.listBy() falls back to all() on a store without findByOwner", async () => {
  const clock = new Clock();
  await using memory = new MemoryStore({ now: clock.now });
  let listed = 0;
  const store: SessionStore = {
    find: (key) => memory.find(key),
    save: (key, data, expiry) => memory.save(key, data, expiry),
    delete: (key) => memory.delete(key),
    all: () => {
      listed++;
      return memory.all();
    },
  };
  const sessions = new SessionManager<Data>({
    store,
    now: clock.now,
    index: "user",
  });
  const handler = app(sessions);
  await login(handler, "ada");
  await login(handler, "bob");
  assert.equal((await sessions.listBy("ada")).length, 1);
  assert.equal(listed, 1);
});

Deno.test("SessionManager.listBy() needs the index option and a valid owner", async () => {
  await using store = new MemoryStore();
  const plain = new SessionManager<Data>({ store });
  await assert.rejects(plain.listBy("ada"), /no "index" option/);
  const indexed = new SessionManager<Data>({ store, index: "user" });
  await assert.rejects(indexed.listBy(""), TypeError);
  await assert.rejects(indexed.destroyBy(NaN), TypeError);
  assert.throws(
    () => new SessionManager<Data>({ store, index: "" }),
    TypeError,
  );
});
