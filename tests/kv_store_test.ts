import assert from "node:assert/strict";
import { join } from "node:path";
import { KvStore } from "../kv_store.ts";
import { StoreClosedError } from "../errors.ts";

const encoder = new TextEncoder();

// node:assert's diff of large arrays takes minutes: compare, then assert.
function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length &&
    a.every((byte, i) => byte === b[i]);
}

async function countKeys(kv: Deno.Kv, prefix: Deno.KvKey): Promise<number> {
  let count = 0;
  for await (const _ of kv.list({ prefix })) count++;
  return count;
}

Deno.test("KvStore.find() checks the expiry kept in the value", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    let now = Date.now();
    const store = new KvStore(kv, { now: () => now });
    const expiry = new Date(now + 60_000);
    await store.save("t", encoder.encode("v"), expiry);
    const raw = await kv.get<{ expiry: number }>(["sessions", "entry", "t"]);
    assert.equal(raw.value?.expiry, expiry.getTime());
    now += 60_000;
    // KV's own expiry runs on real time and still holds the key.
    assert.notEqual((await kv.get(["sessions", "entry", "t"])).value, null);
    assert.equal(await store.find("t"), undefined);
    assert.deepEqual(await store.all(), new Map());
  } finally {
    kv.close();
  }
});

Deno.test("KvStore splits large data in chunks and removes stale ones", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvStore(kv);
    const expiry = new Date(Date.now() + 60_000);
    const big = new Uint8Array(1024 * 1024).fill(7);
    await store.save("t", big, expiry);
    assert.equal(await countKeys(kv, ["sessions", "chunk"]), 16);
    await store.save("t", big.subarray(1), expiry);
    assert.equal(await countKeys(kv, ["sessions", "chunk"]), 16);
    assert.ok(sameBytes(await store.find("t"), big.subarray(1)));
    await store.save("t", encoder.encode("small"), expiry);
    assert.equal(await countKeys(kv, ["sessions", "chunk"]), 0);
    await store.save("t", big, expiry);
    await store.delete("t");
    assert.equal(await countKeys(kv, ["sessions"]), 0);
  } finally {
    kv.close();
  }
});

Deno.test("KvStore.find() rereads when a save replaces the chunks it is reading", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    // Runs `between` after the reader has read the entry, before its chunks.
    let between: (() => Promise<unknown>) | undefined;
    const hooked = new Proxy(kv, {
      get(target, property) {
        if (property === "getMany") {
          return async (keys: Deno.KvKey[]) => {
            const run = between;
            between = undefined;
            await run?.();
            return target.getMany(keys);
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const reader = new KvStore(hooked);
    const writer = new KvStore(kv);
    const expiry = new Date(Date.now() + 60_000);
    const first = new Uint8Array(200_000).fill(1);
    const second = new Uint8Array(300_000).fill(2);
    await writer.save("t", first, expiry);
    between = () => writer.save("t", second, expiry);
    assert.ok(sameBytes(await reader.find("t"), second));
    between = () => writer.save("t", first, expiry);
    const all = await reader.all();
    assert.deepEqual([...all.keys()], ["t"]);
    assert.ok(sameBytes(all.get("t"), first));
    between = () => writer.delete("t");
    assert.equal(await reader.find("t"), undefined);
  } finally {
    kv.close();
  }
});

Deno.test("KvStore keeps sessions in a file across reopen", async () => {
  const dir = await Deno.makeTempDir({ prefix: "buntstore-kv-" });
  try {
    const path = join(dir, "kv.sqlite3");
    const expiry = new Date(Date.now() + 60_000);
    {
      await using store = await KvStore.open(path);
      await store.save("t", encoder.encode("kept"), expiry);
    }
    await using store = await KvStore.open(path);
    assert.deepEqual(await store.find("t"), encoder.encode("kept"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvStore.close() leaves a database passed to the constructor open", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvStore(kv, { prefix: ["app", "s"] });
    await store.save("t", encoder.encode("v"), new Date(Date.now() + 60_000));
    await store.close();
    await assert.rejects(store.find("t"), StoreClosedError);
    assert.equal(await countKeys(kv, ["app", "s", "entry"]), 1);
  } finally {
    kv.close();
  }
});

Deno.test("KvStore keeps stores with different prefixes apart", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const one = new KvStore(kv, { prefix: ["one"] });
    const two = new KvStore(kv, { prefix: ["two"] });
    const expiry = new Date(Date.now() + 60_000);
    await one.save("t", encoder.encode("1"), expiry);
    await two.save("t", encoder.encode("2"), expiry);
    await kv.set(["one", "unrelated"], "other data");
    assert.deepEqual(await one.all(), new Map([["t", encoder.encode("1")]]));
    assert.deepEqual(await two.find("t"), encoder.encode("2"));
    await one.delete("t");
    assert.deepEqual(await two.find("t"), encoder.encode("2"));
  } finally {
    kv.close();
  }
});

Deno.test("KvStore.find() rejects a value that is not a session entry", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await kv.set(["sessions", "entry", "t"], "text");
    const store = new KvStore(kv);
    await assert.rejects(store.find("t"), TypeError);
  } finally {
    kv.close();
  }
});

Deno.test("KvStore constructor rejects a prefix that is not a key", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    // deno-lint-ignore no-explicit-any
    assert.throws(() => new KvStore(kv, { prefix: "s" as any }), TypeError);
  } finally {
    kv.close();
  }
});
