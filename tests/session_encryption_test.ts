// Session data encrypted at rest (the `encryption` option) on every store:
// what the store holds, key rotation, and records that do not decrypt
// (moved, tampered, removed key) starting fresh sessions.

import assert from "node:assert/strict";
import {
  MemoryStore,
  SessionManager,
  type SessionManagerOptions,
} from "@x/buntstore";
import { SessionCipher } from "../_session/encryption.ts";
import { get } from "./_session_helpers.ts";
import {
  contains,
  type Data,
  EMAIL,
  keyIds,
  login,
  manager,
  newKey,
  readN,
  restarted,
  SECRET,
  STORES,
} from "./_encryption_helpers.ts";

Deno.test("SessionManager encryption stores ciphertext and reads it back on every store", async (t) => {
  for (const [name, open] of STORES) {
    await t.step(name, async () => {
      await using store = await open();
      const key = newKey();
      const sessions = manager(store, [key]);
      const token = await login(sessions);
      for (const data of (await store.all!()).values()) {
        assert.ok(!contains(data, EMAIL) && !contains(data, SECRET));
      }
      assert.equal(await readN(store, [key], token), 1);
      assert.equal((await sessions.listBy(EMAIL)).length, 1);
      const users: (string | undefined)[] = [];
      await manager(restarted(store), [key]).iterate((session) => {
        users.push(session.get("user"));
      });
      assert.deepEqual(users, [EMAIL]);
      // A manager without the key (or without encryption) sees no session.
      assert.equal(await readN(store, [newKey()], token), undefined);
      const plain = new SessionManager<Data>({ store: restarted(store) });
      assert.equal(
        (await plain.withToken(token, (s) => s.get("n"))).value,
        undefined,
      );
    });
  }
});

Deno.test("SessionManager encryption keeps renewal, destroy and destroyBy working on every store", async (t) => {
  for (const [name, open] of STORES) {
    await t.step(name, async () => {
      await using store = await open();
      const sessions = manager(store, [newKey()]);
      const first = await login(sessions);
      const renewed = await sessions.withToken(first, async (session) => {
        await session.renewToken();
        session.put("n", 2);
      });
      assert.notEqual(renewed.token, first);
      const old = await sessions.withToken(first, (s) => s.get("n"));
      assert.equal(old.value, undefined);
      await login(sessions, EMAIL, 3);
      await login(sessions, "bob", 4);
      const devices = await sessions.listBy(EMAIL);
      assert.equal(devices.length, 2);
      assert.equal(await sessions.destroyBy(EMAIL), 2);
      assert.equal((await sessions.listBy(EMAIL)).length, 0);
      assert.equal((await store.all!()).size, 1);
      const gone = await sessions.withToken(renewed.token, (s) => s.get("n"));
      assert.equal(gone.value, undefined);
    });
  }
});

Deno.test("SessionManager encryption rotates across three keys, and reencrypt() moves every session to the first", async (t) => {
  for (const [name, open] of STORES) {
    await t.step(name, async () => {
      await using store = await open();
      const [k1, k2, k3] = [newKey(), newKey(), newKey()];
      const one = await login(manager(store, [k1]), EMAIL, 1);
      const [id1] = await keyIds(store);

      // k2 first: the k1 session still reads, and moves to k2 when saved.
      const second = manager(store, [k2, k1]);
      const two = await login(second, EMAIL, 2);
      assert.equal(await readN(store, [k2, k1], one), 1);
      const touched = manager(restarted(store), [k2, k1]);
      await touched.withToken(one, (s) => s.put("n", 11));
      const ids = new Set(await keyIds(store));
      assert.equal(ids.size, 1);
      assert.ok(!ids.has(id1!));

      // k3 first: a k2 session and one left on k1 by a plain read.
      const third = manager(store, [k3, k2, k1]);
      const three = await login(third, "bob", 3);
      const stale = await login(manager(store, [k1]), EMAIL, 4);
      assert.equal((await third.listBy(EMAIL)).length, 3);
      assert.deepEqual(await third.reencrypt(), {
        reencrypted: 3,
        unreadable: 0,
      });
      assert.equal(new Set(await keyIds(store)).size, 1);
      // The owner index holds nothing under the older keys' hashes.
      const indexed = (keys: Uint8Array[]) =>
        store.findByOwner!(new SessionCipher({ keys }).owner(EMAIL));
      assert.equal((await indexed([k1])).size, 0);
      assert.equal((await indexed([k2])).size, 0);
      assert.equal((await indexed([k3])).size, 3);
      assert.deepEqual(await third.reencrypt(), {
        reencrypted: 0,
        unreadable: 0,
      });

      // Only k3 left: everything reads, and the owner index moved along.
      for (const [token, n] of [[one, 11], [two, 2], [three, 3], [stale, 4]]) {
        assert.equal(await readN(store, [k3], token as string), n);
      }
      const last = manager(store, [k3]);
      assert.equal((await last.listBy(EMAIL)).length, 3);
      assert.equal(await last.destroyBy(EMAIL), 3);
      assert.equal((await store.all!()).size, 1);
    });
  }
});

Deno.test("SessionManager encryption: a removed key's sessions start fresh, and reencrypt() counts them", async () => {
  await using store = new MemoryStore();
  const [k1, k2] = [newKey(), newKey()];
  const token = await login(manager(store, [k1]));
  const sessions = manager(restarted(store), [k2]);
  const handler = sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    return new Response(String(session.get("n") ?? "fresh"));
  });
  const response = await handler(get("/", `session=${token}`));
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "fresh");
  assert.deepEqual(await manager(store, [k2]).reencrypt(), {
    reencrypted: 0,
    unreadable: 1,
  });
});

Deno.test("SessionManager encryption: a record moved under another session's key starts fresh", async (t) => {
  for (const [name, open] of STORES) {
    await t.step(name, async () => {
      await using store = await open();
      const key = newKey();
      // Store keys are the tokens here, to move a record by hand.
      const options = { hashTokenInStore: false };
      const sessions = manager(store, [key], options);
      const victim = await login(sessions, "victim", 1);
      const admin = await login(sessions, "admin", 2);
      const record = await store.find(admin);
      await store.save(victim, record!, new Date(Date.now() + 60_000));
      const cold = manager(restarted(store), [key], options);
      const handler = cold.wrap(async (req) => {
        const session = await cold.of(req);
        return new Response(session.get("user") ?? "fresh");
      });
      const response = await handler(get("/", `session=${victim}`));
      assert.equal(response.status, 200);
      assert.equal(await response.text(), "fresh");
      assert.equal(await readN(store, [key], admin), undefined, "hashed keys");
      const plainKeys = manager(restarted(store), [key], options);
      const adminRead = await plainKeys.withToken(admin, (s) => s.get("user"));
      assert.equal(adminRead.value, "admin");
    });
  }
});

Deno.test("SessionManager encryption: a tampered byte anywhere in the record starts a fresh session", async (t) => {
  for (const [name, open] of STORES) {
    await t.step(name, async () => {
      await using store = await open();
      const key = newKey();
      const options = { hashTokenInStore: false };
      const token = await login(manager(store, [key], options));
      const record = (await store.find(token))!;
      // Every byte on the in-process stores; three spots on the others.
      const spots = name === "MemoryStore" || name === "BuntStore"
        ? record.map((_, i) => i)
        : [0, 3, record.byteLength - 1];
      const expiry = new Date(Date.now() + 60_000);
      for (const at of spots) {
        const bad = record.slice();
        bad[at]! ^= 0x01;
        await store.save(token, bad, expiry);
        const cold = manager(restarted(store), [key], options);
        const read = await cold.withToken(token, (s) => s.get("n"));
        assert.equal(read.value, undefined, `byte ${at}`);
      }
      await store.save(token, record, expiry);
      const cold = manager(restarted(store), [key], options);
      assert.equal((await cold.withToken(token, (s) => s.get("n"))).value, 1);
    });
  }
});

Deno.test("SessionManager refuses encryption keys that are not 32 bytes", async () => {
  await using store = new MemoryStore();
  const make = (keys: unknown) =>
    new SessionManager({
      store,
      encryption: { keys } as SessionManagerOptions["encryption"] & object,
    });
  const bytes = newKey();
  const base64 = btoa(String.fromCharCode(...bytes));
  const other = btoa(String.fromCharCode(...newKey()));
  const base64url = other.replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
  make([bytes]);
  make([base64, base64url]);
  const refused = (size: number) => (error: Error) =>
    error instanceof RangeError &&
    error.message.includes(`is ${size} bytes, must be exactly 32 random`) &&
    error.message.includes("passwords are not accepted");
  for (const size of [0, 16, 31, 33, 64]) {
    assert.throws(() => make([new Uint8Array(size)]), refused(size));
    assert.throws(() => make([btoa("x".repeat(size))]), refused(size));
  }
  // A password is refused, never stretched.
  assert.throws(() => make(["correct horse battery staple"]), TypeError);
  assert.throws(() => make(["hunter2"]), refused(5));
  assert.throws(() => make([]), TypeError);
  assert.throws(() => make(bytes), TypeError);
  assert.throws(() => make([123]), TypeError);
  assert.throws(() => make([bytes.buffer]), TypeError);
  assert.throws(() => make([bytes, base64]), /listed twice/);
  assert.throws(
    () => new SessionManager({ store, encryption: null as never }),
    TypeError,
  );
  assert.throws(
    () => new SessionManager({ store, encryption: { key: bytes } as never }),
    /unknown encryption option "key"/,
  );
  assert.throws(
    () =>
      new SessionManager({
        store,
        encryption: { keys: [bytes], acceptUnencrypted: "yes" as never },
      }),
    /acceptUnencrypted" must be a boolean/,
  );
});
