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
