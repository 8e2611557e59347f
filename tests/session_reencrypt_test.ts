// SessionManager.reencrypt() beyond rotation (tests/session_encryption_test.ts):
// what it leaves unchanged, its races with requests in this process and
// with other servers, and the migration of a store saved unencrypted.

import assert from "node:assert/strict";
import { MemoryStore, SessionManager } from "@x/buntstore";
import { KvStore } from "@x/buntstore/kv";
import { Clock, SpyStore } from "./_session_helpers.ts";
import {
  type Data,
  EMAIL,
  keyIds,
  login,
  manager,
  newKey,
  readN,
  restarted,
} from "./_encryption_helpers.ts";

Deno.test("SessionManager.reencrypt() keeps each session's last-seen time and idle deadline", async () => {
  const clock = new Clock();
  await using store = new MemoryStore({ now: clock.now });
  const [k1, k2] = [newKey(), newKey()];
  const options = { now: clock.now, idleTimeout: 60_000, touchInterval: 1000 };
  const token = await login(manager(store, [k1], options));
  const seen = (await manager(store, [k1], options).listBy(EMAIL))[0]!;
  clock.advance(50_000);
  const rotated = manager(restarted(store), [k2, k1], options);
  assert.equal((await rotated.reencrypt()).reencrypted, 1);
  const after = manager(restarted(store), [k2], options);
  assert.deepEqual((await after.listBy(EMAIL))[0]!.lastSeen, seen.lastSeen);
  clock.advance(10_001);
  const late = manager(restarted(store), [k2], options);
  assert.equal(
    (await late.withToken(token, (s) => s.get("n"))).value,
    undefined,
  );
});

Deno.test("SessionManager.reencrypt() loses no save of a session a request is writing", async () => {
  await using memory = new MemoryStore();
  const spy = new SpyStore(memory);
  const [k1, k2] = [newKey(), newKey()];
  const token = await login(manager(spy, [k1]));
  const sessions = manager(restarted(spy), [k2, k1]);
  spy.saveDelay = 20;
  const saving = sessions.withToken(token, (s) => s.put("n", 2));
  // The rewrite reads the store while the request's save is in flight.
  await new Promise((resolve) => setTimeout(resolve, 5));
  await sessions.reencrypt();
  await saving;
  spy.saveDelay = 0;
  assert.equal(await readN(spy, [k2], token), 2);
});

Deno.test("SessionManager encryption with acceptUnencrypted reads older plain sessions until reencrypt() runs", async () => {
  await using store = new MemoryStore();
  const key = newKey();
  const plain = new SessionManager<Data>({ store, index: "user" });
  const token = await login(plain);
  const strict = manager(restarted(store), [key]);
  assert.equal(
    (await strict.withToken(token, (s) => s.get("n"))).value,
    undefined,
  );

  const migrating = new SessionManager<Data>({
    store,
    index: "user",
    encryption: { keys: [key], acceptUnencrypted: true },
  });
  assert.equal((await migrating.listBy(EMAIL)).length, 1);
  assert.deepEqual(await migrating.reencrypt(), {
    reencrypted: 1,
    unreadable: 0,
  });
  assert.equal((await keyIds(store)).length, 1);
  assert.equal(await readN(store, [key], token), 1);
  // The owner index entry moved from the plain name to the keyed hash.
  assert.equal((await store.findByOwner(EMAIL)).size, 0);
  assert.equal((await manager(store, [key]).listBy(EMAIL)).length, 1);
});

Deno.test("SessionManager.reencrypt() keeps no session in memory on a shared store, so another server's later save is seen", async () => {
  const dir = await Deno.makeTempDir({ prefix: "buntstore_enc_" });
  try {
    await using a = await KvStore.open(`${dir}/kv.sqlite`);
    await using b = await KvStore.open(`${dir}/kv.sqlite`);
    const [k1, k2] = [newKey(), newKey()];
    const token = await login(manager(a, [k1]));
    const serverA = manager(a, [k2, k1]);
    assert.equal((await serverA.reencrypt()).reencrypted, 1);
    await manager(b, [k2, k1]).withToken(token, (s) => s.put("n", 2));
    assert.equal((await serverA.withToken(token, (s) => s.get("n"))).value, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
