import assert from "node:assert/strict";
import { createClient } from "@redis/client";
import { RedisStore } from "../redis_store.ts";
import { StoreClosedError } from "../errors.ts";
import { freePort, startRedisServer } from "./_redis_server.ts";

const encoder = new TextEncoder();

Deno.test("RedisStore.save() sets <prefix><token> with PXAT at the expiry", async () => {
  await using server = await startRedisServer();
  const client = await createClient({ url: server.url }).connect();
  try {
    await using store = await RedisStore.connect(server.url);
    const expiry = new Date(Date.now() + 60_000);
    await store.save("tok", encoder.encode("v"), expiry);
    assert.equal(await client.get("session:tok"), "v");
    assert.equal(await client.pExpireTime("session:tok"), expiry.getTime());
    await store.delete("tok");
    assert.equal(await client.exists("session:tok"), 0);
  } finally {
    await client.close();
  }
});

Deno.test("RedisStore keeps stores with different prefixes apart", async () => {
  await using server = await startRedisServer();
  // "s*:" must be matched literally by SCAN, not as a glob matching "sx:".
  await using glob = await RedisStore.connect(server.url, { prefix: "s*:" });
  await using plain = await RedisStore.connect(server.url, { prefix: "sx:" });
  const expiry = new Date(Date.now() + 60_000);
  await glob.save("a", encoder.encode("glob"), expiry);
  await plain.save("a", encoder.encode("plain"), expiry);
  await plain.save("b", encoder.encode("plain b"), expiry);
  assert.deepEqual(await glob.all(), new Map([["a", encoder.encode("glob")]]));
  assert.deepEqual([...(await plain.all()).keys()].sort(), ["a", "b"]);
  assert.deepEqual(await glob.find("a"), encoder.encode("glob"));
  assert.equal(await glob.find("b"), undefined);
});

Deno.test("RedisStore.all() pages with SCAN and never calls KEYS", async () => {
  await using server = await startRedisServer();
  const client = await createClient({ url: server.url }).connect();
  try {
    await using store = await RedisStore.connect(server.url, { scanCount: 7 });
    const expiry = new Date(Date.now() + 60_000);
    await Promise.all(
      Array.from(
        { length: 100 },
        (_, i) => store.save(`t${i}`, encoder.encode(`${i}`), expiry),
      ),
    );
    await client.set("other:key", "not a session");
    const all = await store.all();
    assert.equal(all.size, 100);
    assert.deepEqual(all.get("t42"), encoder.encode("42"));
    const stats = await client.info("commandstats");
    const scans = Number(/cmdstat_scan:calls=(\d+)/.exec(stats)?.[1]);
    assert.ok(scans > 1, `expected several SCAN calls, got ${scans}`);
    assert.doesNotMatch(stats, /cmdstat_keys:/);
  } finally {
    await client.close();
  }
});

Deno.test("RedisStore.close() leaves a client passed to the constructor open", async () => {
  await using server = await startRedisServer();
  const client = await createClient({ url: server.url }).connect();
  try {
    const store = new RedisStore(client, { prefix: "app:" });
    await store.save(
      "t",
      new Uint8Array([0, 255]),
      new Date(Date.now() + 60_000),
    );
    assert.deepEqual(await store.find("t"), new Uint8Array([0, 255]));
    await store.close();
    await assert.rejects(store.find("t"), StoreClosedError);
    assert.equal(client.isOpen, true);
    assert.equal(await client.exists("app:t"), 1);
  } finally {
    await client.close();
  }
});

Deno.test("RedisStore constructor rejects bad options", () => {
  // deno-lint-ignore no-explicit-any
  assert.throws(() => new RedisStore({} as any), TypeError);
  const client = { sendCommand: () => Promise.resolve(null) };
  // deno-lint-ignore no-explicit-any
  assert.throws(() => new RedisStore(client, { prefix: 1 as any }), TypeError);
  assert.throws(() => new RedisStore(client, { scanCount: 0 }), RangeError);
  assert.throws(() => new RedisStore(client, { scanCount: 1.5 }), RangeError);
});

Deno.test("RedisStore.connect() rejects when nothing listens", async () => {
  const port = freePort();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error("connect() neither resolved nor rejected in 5 s")),
      5000,
    );
  });
  try {
    await assert.rejects(
      Promise.race([
        RedisStore.connect(`redis://127.0.0.1:${port}`, {
          onConnectionError: () => {},
        }),
        timeout,
      ]),
      /ECONNREFUSED/,
    );
  } finally {
    clearTimeout(timer);
  }
});

Deno.test("RedisStore rejects commands while Redis is down and recovers", async () => {
  let server = await startRedisServer();
  const errors: Error[] = [];
  const store = await RedisStore.connect(server.url, {
    onConnectionError: (error) => errors.push(error),
  });
  try {
    const expiry = new Date(Date.now() + 60_000);
    await store.save("t", encoder.encode("before"), expiry);
    await server.stop();
    await assert.rejects(store.find("t"));
    assert.ok(errors.length > 0, "the connection error must be reported");
    server = await startRedisServer(server.port);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await store.save("t", encoder.encode("after"), expiry);
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    assert.deepEqual(await store.find("t"), encoder.encode("after"));
  } finally {
    await store.close();
    await server.stop();
  }
});

Deno.test("RedisStore.close() resolves while Redis is down", async () => {
  const server = await startRedisServer();
  const store = await RedisStore.connect(server.url, {
    onConnectionError: () => {},
  });
  try {
    await server.stop();
    await assert.rejects(store.find("t"));
  } finally {
    await store.close();
  }
  await assert.rejects(store.find("t"), StoreClosedError);
});

/** Calls of `command` since the last CONFIG RESETSTAT, from INFO. */
async function calls(
  client: { info(section: string): Promise<unknown> },
  command: string,
): Promise<number> {
  const stats = String(await client.info("commandstats"));
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats);
  return Number(match?.[1] ?? 0);
}

Deno.test("RedisStore.save() with an owner keeps the session key in <prefix>\\0owner\\0<owner> scored by expiry", async () => {
  await using server = await startRedisServer();
  const client = await createClient({ url: server.url }).connect();
  try {
    await using store = await RedisStore.connect(server.url);
    const ada = "session:\0owner\0ada";
    const bob = "session:\0owner\0bob";
    const now = Date.now();
    const long = new Date(now + 120_000);
    const short = new Date(now + 60_000);
    await store.save("t", encoder.encode("1"), long, { owner: "ada" });
    assert.equal(await client.zScore(ada, "session:t"), long.getTime());
    assert.equal(await client.pExpireTime(ada), long.getTime());
    // A shorter save keeps the higher score (ZADD GT) and the set's expiry.
    await store.save("t", encoder.encode("2"), short, { owner: "ada" });
    await store.save("u", encoder.encode("3"), short, { owner: "ada" });
    assert.equal(await client.zScore(ada, "session:t"), long.getTime());
    assert.equal(await client.zScore(ada, "session:u"), short.getTime());
    assert.equal(await client.pExpireTime(ada), long.getTime());
    assert.equal(await client.pExpireTime("session:t"), short.getTime());
    // A later one raises both.
    const later = new Date(now + 180_000);
    await store.save("u", encoder.encode("4"), later, { owner: "ada" });
    assert.equal(await client.zScore(ada, "session:u"), later.getTime());
    assert.equal(await client.pExpireTime(ada), later.getTime());
    // Moving both away empties ada's set, which Redis then removes.
    await store.save("t", encoder.encode("5"), long, {
      owner: "bob",
      previousOwner: "ada",
    });
    await store.delete("u", { owner: "ada" });
    assert.equal(await client.exists(ada), 0);
    assert.equal(await client.exists("session:u"), 0);
    assert.deepEqual(await client.zRange(bob, 0, -1), ["session:t"]);
    // A save whose expiry has passed deletes the key and its index member.
    await store.save("t", encoder.encode("6"), new Date(0), { owner: "bob" });
    assert.equal(await client.exists(bob), 0);
    assert.equal(await client.exists("session:t"), 0);
  } finally {
    await client.close();
  }
});

Deno.test("RedisStore.findByOwner() prunes expired members and members whose session is gone", async () => {
  await using server = await startRedisServer();
  const client = await createClient({ url: server.url }).connect();
  try {
    await using store = await RedisStore.connect(server.url, { prefix: "p:" });
    const index = "p:\0owner\0ada";
    const expiry = new Date(Date.now() + 60_000);
    await store.save("live", encoder.encode("1"), expiry, { owner: "ada" });
    await store.save("gone", encoder.encode("2"), expiry, { owner: "ada" });
    await client.del("p:gone");
    // An expired member whose key Redis has not removed yet.
    await client.set("p:old", "3");
    await client.zAdd(index, { score: Date.now() - 1000, value: "p:old" });
    assert.deepEqual(
      await store.findByOwner("ada"),
      new Map([["live", encoder.encode("1")]]),
    );
    assert.deepEqual(await client.zRange(index, 0, -1), ["p:live"]);
    await store.delete("live");
    assert.deepEqual(await store.findByOwner("ada"), new Map());
    assert.equal(await client.exists(index), 0);
  } finally {
    await client.close();
  }
});

Deno.test("RedisStore.findByOwner() reads only that owner's set, in one script and batches of 1000", async () => {
  await using server = await startRedisServer();
  const client = await createClient({ url: server.url }).connect();
  try {
    await using store = await RedisStore.connect(server.url);
    const expiry = new Date(Date.now() + 60_000);
    const saves = [];
    for (let i = 0; i < 2500; i++) {
      saves.push(
        store.save(`a${i}`, encoder.encode(`${i}`), expiry, { owner: "ada" }),
      );
    }
    for (let i = 0; i < 500; i++) {
      saves.push(store.save(`o${i}`, encoder.encode("x"), expiry, {
        owner: `other${i % 50}`,
      }));
    }
    await Promise.all(saves);
    await client.configResetStat();
    const found = await store.findByOwner("ada");
    assert.equal(found.size, 2500);
    assert.deepEqual(found.get("a1234"), encoder.encode("1234"));
    assert.equal(await calls(client, "evalsha"), 1);
    assert.equal(await calls(client, "zrange"), 1);
    assert.equal(await calls(client, "mget"), 3);
    assert.equal(await calls(client, "scan"), 0);
    assert.equal(await calls(client, "keys"), 0);
  } finally {
    await client.close();
  }
});

Deno.test("RedisStore runs its scripts again after SCRIPT FLUSH", async () => {
  await using server = await startRedisServer();
  const client = await createClient({ url: server.url }).connect();
  try {
    await using store = await RedisStore.connect(server.url);
    const expiry = new Date(Date.now() + 60_000);
    await store.save("t", encoder.encode("1"), expiry, { owner: "ada" });
    await client.scriptFlush();
    await client.configResetStat();
    await store.save("u", encoder.encode("2"), expiry, { owner: "ada" });
    assert.equal((await store.findByOwner("ada")).size, 2);
    await store.delete("t", { owner: "ada" });
    assert.deepEqual([...(await store.findByOwner("ada")).keys()], ["u"]);
    // Each of the three scripts: EVALSHA answered NOSCRIPT, then EVAL
    // once; the second findByOwner() runs by SHA-1 alone.
    assert.equal(await calls(client, "eval"), 3);
    assert.equal(await calls(client, "evalsha"), 4);
  } finally {
    await client.close();
  }
});

Deno.test("RedisStore refuses tokens starting with the owner index's reserved prefix", async () => {
  await using server = await startRedisServer();
  const client = await createClient({ url: server.url }).connect();
  try {
    // With an empty prefix the index of "ada" is the key "\0owner\0ada".
    await using store = await RedisStore.connect(server.url, { prefix: "" });
    const expiry = new Date(Date.now() + 60_000);
    await store.save("t", encoder.encode("1"), expiry, { owner: "ada" });
    const reserved = "\0owner\0ada";
    await assert.rejects(
      store.save(reserved, encoder.encode("x"), expiry),
      RangeError,
    );
    await assert.rejects(store.find(reserved), RangeError);
    await assert.rejects(store.delete(reserved), RangeError);
    assert.deepEqual(await client.zRange(reserved, 0, -1), ["t"]);
    assert.deepEqual(await store.all(), new Map([["t", encoder.encode("1")]]));
    // A NUL elsewhere in a token is fine.
    await store.save("\0own", encoder.encode("2"), expiry);
    assert.deepEqual(await store.find("\0own"), encoder.encode("2"));
  } finally {
    await client.close();
  }
});

Deno.test("RedisStore rejects owners that are not strings and writes nothing", async () => {
  await using server = await startRedisServer();
  const client = await createClient({ url: server.url }).connect();
  try {
    await using store = await RedisStore.connect(server.url);
    const expiry = new Date(Date.now() + 60_000);
    // deno-lint-ignore no-explicit-any
    const loose = store as any;
    const data = encoder.encode("x");
    await assert.rejects(
      loose.save("t", data, expiry, { owner: 7 }),
      TypeError,
    );
    await assert.rejects(
      loose.save("t", data, expiry, { previousOwner: null }),
      TypeError,
    );
    await assert.rejects(loose.save("t", data, expiry, "ada"), TypeError);
    await assert.rejects(loose.delete("t", { owner: ["ada"] }), TypeError);
    await assert.rejects(loose.findByOwner(undefined), TypeError);
    assert.equal(await client.dbSize(), 0);
  } finally {
    await client.close();
  }
});
