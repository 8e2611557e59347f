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

Deno.test('KvStore.save() with an owner writes [...prefix, "owner", owner, token] in the entry\'s commit', async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvStore(kv, { prefix: ["app"] });
    const expiry = new Date(Date.now() + 60_000);
    await store.save("t", encoder.encode("1"), expiry, { owner: "ada" });
    const index = await kv.get(["app", "owner", "ada", "t"]);
    assert.equal(index.value, expiry.getTime());
    const entry = await kv.get(["app", "entry", "t"]);
    assert.equal(index.versionstamp, entry.versionstamp, "one commit");
    await store.save("t", encoder.encode("2"), expiry, {
      owner: "bob",
      previousOwner: "ada",
    });
    assert.equal(await countKeys(kv, ["app", "owner", "ada"]), 0);
    assert.equal(await countKeys(kv, ["app", "owner", "bob"]), 1);
    await store.delete("t", { owner: "bob" });
    assert.equal(await countKeys(kv, ["app"]), 0);
    await store.save("u", encoder.encode("3"), expiry, { owner: "ada" });
    await store.save("u", encoder.encode("4"), new Date(0), { owner: "ada" });
    assert.equal(await countKeys(kv, ["app"]), 0);
  } finally {
    kv.close();
  }
});

Deno.test("KvStore.findByOwner() prunes index keys whose entry is gone or expired", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    let now = Date.now();
    const store = new KvStore(kv, { now: () => now });
    await store.save("live", encoder.encode("1"), new Date(now + 60_000), {
      owner: "ada",
    });
    await store.save("gone", encoder.encode("2"), new Date(now + 60_000), {
      owner: "ada",
    });
    await store.save("short", encoder.encode("3"), new Date(now + 1000), {
      owner: "ada",
    });
    await kv.delete(["sessions", "entry", "gone"]);
    now += 2000;
    assert.deepEqual(
      await store.findByOwner("ada"),
      new Map([["live", encoder.encode("1")]]),
    );
    const left = [];
    for await (const { key } of kv.list({ prefix: ["sessions", "owner"] })) {
      left.push(key);
    }
    assert.deepEqual(left, [["sessions", "owner", "ada", "live"]]);
  } finally {
    kv.close();
  }
});

Deno.test("KvStore.findByOwner() reads only that owner's entries, 10 keys per getMany", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const reads: number[] = [];
    const counted = new Proxy(kv, {
      get(target, property) {
        if (property === "getMany") {
          return (keys: Deno.KvKey[]) => {
            reads.push(keys.length);
            return target.getMany(keys);
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const store = new KvStore(counted);
    const expiry = new Date(Date.now() + 60_000);
    for (let i = 0; i < 25; i++) {
      await store.save(`a${i}`, encoder.encode(`${i}`), expiry, {
        owner: "ada",
      });
    }
    for (let i = 0; i < 100; i++) {
      await store.save(`o${i}`, encoder.encode("x"), expiry, {
        owner: i % 2 ? "adam" : "ad",
      });
    }
    // Chunked data comes back whole.
    const big = new Uint8Array(200_000).fill(9);
    await store.save("big", big, expiry, { owner: "ada" });
    reads.length = 0;
    const found = await store.findByOwner("ada");
    assert.equal(found.size, 26);
    assert.deepEqual(found.get("a7"), encoder.encode("7"));
    assert.ok(sameBytes(found.get("big"), big), "chunked entry differs");
    // 26 entries in 3 reads of entries, plus one of the big entry's chunks.
    assert.deepEqual(reads, [10, 10, 6, 4]);
  } finally {
    kv.close();
  }
});

Deno.test("KvStore.findByOwner() keeps an index key that a save rewrites while it prunes", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    // Runs `after` once the reader has read the entries, before it prunes.
    let after: (() => Promise<unknown>) | undefined;
    const hooked = new Proxy(kv, {
      get(target, property) {
        if (property === "getMany") {
          return async (keys: Deno.KvKey[]) => {
            const entries = await target.getMany(keys);
            const run = after;
            after = undefined;
            await run?.();
            return entries;
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const reader = new KvStore(hooked);
    const writer = new KvStore(kv);
    const expiry = new Date(Date.now() + 60_000);
    await writer.save("t", encoder.encode("old"), expiry, { owner: "ada" });
    await kv.delete(["sessions", "entry", "t"]);
    after = () =>
      writer.save("t", encoder.encode("new"), expiry, { owner: "ada" });
    // The reader saw no entry, but the index key is the new save's now.
    assert.deepEqual(await reader.findByOwner("ada"), new Map());
    assert.deepEqual(
      await reader.findByOwner("ada"),
      new Map([["t", encoder.encode("new")]]),
    );
  } finally {
    kv.close();
  }
});

Deno.test("KvStore rejects owners that are not strings and writes nothing", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    // deno-lint-ignore no-explicit-any
    const store = new KvStore(kv) as any;
    const expiry = new Date(Date.now() + 60_000);
    const data = encoder.encode("x");
    await assert.rejects(
      store.save("t", data, expiry, { owner: 7 }),
      TypeError,
    );
    await assert.rejects(
      store.save("t", data, expiry, { previousOwner: null }),
      TypeError,
    );
    await assert.rejects(store.save("t", data, expiry, "ada"), TypeError);
    await assert.rejects(store.delete("t", { owner: ["ada"] }), TypeError);
    await assert.rejects(store.findByOwner(undefined), TypeError);
    assert.equal(await countKeys(kv, []), 0);
  } finally {
    kv.close();
  }
});
