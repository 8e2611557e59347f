// One device's logout: SessionManager.destroyBy(owner, { id }) with an id
// from listBy(), on all four stores, and the option names it refuses
// (issue 19).

import assert from "node:assert/strict";
import {
  BuntStore,
  MemoryStore,
  SessionManager,
  type SessionStore,
} from "@x/buntstore";
import { KvStore } from "@x/buntstore/kv";
import { RedisStore } from "@x/buntstore/redis";
import { startRedisServer } from "./_redis_server.ts";
import { Clock, cookiePair, get, text } from "./_session_helpers.ts";

type Data = { user: string };
type Store = SessionStore & AsyncDisposable;

const STORES: [string, (clock: Clock) => Promise<Store>][] = [
  [
    "MemoryStore",
    (clock) => Promise.resolve(new MemoryStore({ now: clock.now })),
  ],
  ["BuntStore", (clock) => BuntStore.open(":memory:", { now: clock.now })],
  ["KvStore", (clock) => KvStore.open(":memory:", { now: clock.now })],
  ["RedisStore", async () => {
    // Redis expires keys on its own clock: the test clock stays near now.
    const server = await startRedisServer();
    const store = await RedisStore.connect(server.url);
    return Object.assign(store, {
      async [Symbol.asyncDispose]() {
        await store.close();
        await server.stop();
      },
    });
  }],
];

async function login(sessions: SessionManager<Data>, user: string) {
  const handler = sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    await session.renewToken();
    session.put("user", user);
    return new Response("in");
  });
  const response = await handler(get("/login"));
  await text(response);
  return cookiePair(response)!;
}

async function whoIs(sessions: SessionManager<Data>, cookie: string) {
  const handler = sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    return new Response(session.get("user") ?? "nobody");
  });
  return await text(await handler(get("/me", cookie)));
}

for (const [name, open] of STORES) {
  Deno.test(`SessionManager.destroyBy() with an id logs out that one device on ${name}`, async () => {
    const clock = new Clock();
    clock.time = Date.now();
    await using store = await open(clock);
    const sessions = new SessionManager<Data>({
      store,
      now: clock.now,
      index: "user",
    });
    const phone = await login(sessions, "ada");
    clock.advance(1000);
    const laptop = await login(sessions, "ada");
    const bobs = await login(sessions, "bob");
    const [newest, oldest] = await sessions.listBy("ada");
    assert.ok(newest && oldest);

    // Bob cannot end Ada's session by its id, nor can a made-up id.
    assert.equal(await sessions.destroyBy("bob", { id: oldest.id }), 0);
    assert.equal(await sessions.destroyBy("ada", { id: "A".repeat(22) }), 0);
    assert.equal(await whoIs(sessions, phone), "ada");

    assert.equal(await sessions.destroyBy("ada", { id: oldest.id }), 1);
    assert.equal(await whoIs(sessions, phone), "nobody");
    assert.equal(await whoIs(sessions, laptop), "ada");
    assert.equal(await whoIs(sessions, bobs), "bob");
    const left = await sessions.listBy("ada");
    assert.deepEqual(left.map((info) => info.id), [newest.id]);
  });
}

Deno.test("SessionManager.destroyBy() refuses unknown option names and a bad id", async (t) => {
  await using store = new MemoryStore();
  const sessions = new SessionManager<Data>({ store, index: "user" });
  const cases: [string, unknown, RegExp][] = [
    ["a typo of except", { excpet: get("/") }, /unknown option "excpet"/],
    ["an unknown id option", { ids: ["x"] }, /unknown option "ids"/],
    ["an id that is not a string", { id: 7 }, /"id" must be a string/],
    ["an empty id", { id: "" }, /"id" must be a string/],
    ["not an object", "ada", /options must be an object/],
  ];
  for (const [label, options, message] of cases) {
    await t.step(label, async () => {
      await sessions.withToken(undefined, (s) => s.put("user", "ada"));
      await assert.rejects(
        // @ts-expect-error: the wrong options a JavaScript caller may pass
        sessions.destroyBy("ada", options),
        (error) => error instanceof TypeError && message.test(error.message),
      );
      assert.equal((await sessions.listBy("ada")).length > 0, true);
    });
  }
});

Deno.test("SessionManager refuses unknown option names, naming the option", () => {
  const store = new MemoryStore();
  try {
    assert.throws(
      // @ts-expect-error: a typo a JavaScript caller may make
      () => new SessionManager({ store, idleTimout: 1000 }),
      /Cannot create session manager: unknown option "idleTimout"/,
    );
    assert.throws(
      // @ts-expect-error: a typo a JavaScript caller may make
      () => new SessionManager({ store, cookie: { sameSit: "strict" } }),
      /Cannot create session manager: unknown cookie option "sameSit"/,
    );
  } finally {
    store.close();
  }
});
