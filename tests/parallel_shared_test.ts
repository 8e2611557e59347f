/**
 * Shared stores under `deno serve --parallel` and beside a second process:
 * KvStore on one local file holds under concurrent load, and the session
 * layer sees every worker's changes (logout, listBy, destroyBy) on KvStore
 * and RedisStore.
 *
 * @module
 */

import assert from "node:assert/strict";
import { KvStore } from "../kv_store.ts";
import { tempDir } from "./_fixtures.ts";
import { load, serveParallel } from "./_serve_parallel.ts";

const SERVER = new URL("./_worker_server.ts", import.meta.url).pathname;

/** A KV whose commits fail with "database is locked" `failures` times. */
function lockedKv(kv: Deno.Kv, failures: { left: number }): Deno.Kv {
  return new Proxy(kv, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property !== "atomic") {
        return typeof value === "function" ? value.bind(target) : value;
      }
      return () => {
        const op = target.atomic();
        const commit = op.commit.bind(op);
        op.commit = () => {
          if (failures.left-- > 0) {
            return Promise.reject(new TypeError("database is locked"));
          }
          return commit();
        };
        return op;
      };
    },
  });
}

Deno.test("KvStore retries a commit that found the database locked", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const failures = { left: 5 };
    const store = new KvStore(lockedKv(kv, failures));
    const expiry = new Date(Date.now() + 60_000);
    await store.save("t", new Uint8Array([1]), expiry);
    assert.deepEqual(await store.find("t"), new Uint8Array([1]));
    assert.equal(failures.left, -1);
    await store.close();
  } finally {
    kv.close();
  }
});

Deno.test("KvStore says what happened when the database stays locked past lockTimeout", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvStore(lockedKv(kv, { left: Infinity }), {
      lockTimeout: 30,
    });
    await assert.rejects(
      store.save("t", new Uint8Array([1]), new Date(Date.now() + 60_000)),
      (error: Error) => {
        assert.match(
          error.message,
          /^Cannot write to KV database "kv": it stayed locked by other writers for \d+ ms \(\d+ attempts; other processes or workers write to the same file\); raise KvStore's lockTimeout option, or move many writers to RedisStore$/,
        );
        assert.ok(error.cause instanceof TypeError);
        return true;
      },
    );
    const off = new KvStore(lockedKv(kv, { left: 1 }), { lockTimeout: 0 });
    await assert.rejects(
      off.save("t", new Uint8Array([1]), new Date(Date.now() + 60_000)),
      /^TypeError: database is locked$/,
    );
  } finally {
    kv.close();
  }
});

Deno.test("KvStore refuses an unknown option or a bad lockTimeout, naming it", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    assert.throws(
      // @ts-expect-error: the typo is the point
      () => new KvStore(kv, { lockTimeOut: 10 }),
      new TypeError(
        'Cannot create KvStore: unknown option "lockTimeOut" (known: prefix, now, lockTimeout)',
      ),
    );
    assert.throws(() => new KvStore(kv, { lockTimeout: -1 }), RangeError);
    // @ts-expect-error: the wrong type is the point
    assert.throws(() => new KvStore(kv, { lockTimeout: "1s" }), TypeError);
  } finally {
    kv.close();
  }
});

Deno.test("KvStore on one file answers every request from two workers and from two processes", async (t) => {
  await using tmp = await tempDir();
  const env = { SESSION_STORE: `kv:${tmp.dir}/kv.sqlite3` };
  const options = { requests: 1000, concurrency: 20, path: "/" };
  await t.step("deno serve --parallel, 2 workers", async () => {
    await using server = await serveParallel(SERVER, env, 2);
    const result = await load([server.url], options);
    assert.deepEqual([...result.statuses], [[200, 1000]], result.firstFailure);
    assert.equal(result.workers.size, 2);
  });
  await t.step("2 processes", async () => {
    await using a = await serveParallel(SERVER, env, 1);
    await using b = await serveParallel(SERVER, env, 1);
    const result = await load([a.url, b.url], options);
    assert.deepEqual([...result.statuses], [[200, 1000]], result.firstFailure);
    assert.equal(result.workers.size, 2);
  });
});
