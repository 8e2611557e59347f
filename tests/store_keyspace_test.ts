/**
 * The keyspace's typed-array engine (hash table of slots, value arena,
 * expiry heap) against a plain `Map` model: random sets, deletes, undone
 * changes, releases and sweeps, with keys that collide in the table, values
 * of every size class and standalone big values.
 *
 * Rerun a failure with `BUNTSTORE_SEED=<seed>`.
 */

import assert from "node:assert/strict";
import { Keyspace, type Previous } from "../_store/keyspace.ts";
import { ValueArena } from "../_store/value_arena.ts";
import { prng, seedFromEnv } from "./_fixtures.ts";

interface ModelEntry {
  value: Uint8Array;
  expiresAt: number;
}

function valueOf(random: () => number, tag: number): Uint8Array {
  const r = random();
  // Mostly small, some at class edges, a few standalone (> 16 KiB).
  const length = r < 0.05
    ? 16 * 1024 + 1 + Math.floor(random() * 4096)
    : r < 0.2
    ? [0, 1, 16, 17, 20, 21, 32, 33, 255, 256, 257, 4096][
      Math.floor(random() * 12)
    ]!
    : Math.floor(random() * 600);
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (tag * 31 + i) & 0xff;
  return bytes;
}

function assertSame(
  keyspace: Keyspace,
  model: Map<string, ModelEntry>,
  now: number,
  keys: string[],
): void {
  for (const key of keys) {
    const expected = model.get(key);
    const live = expected !== undefined && expected.expiresAt > now;
    assert.equal(keyspace.has(key, now), live, `has(${key})`);
    assert.deepEqual(
      keyspace.copy(key, now),
      live ? expected.value : undefined,
      `copy(${key})`,
    );
  }
  assert.equal(keyspace.rawSize, model.size);
  const seen = new Map<string, number>();
  for (const { key, value, expiresAt } of keyspace.entries()) {
    assert.deepEqual(value, model.get(key)?.value, `entries() value of ${key}`);
    seen.set(key, expiresAt);
  }
  assert.deepEqual(
    seen,
    new Map([...model].map(([k, e]) => [k, e.expiresAt])),
  );
}

Deno.test("Keyspace matches a Map under random changes, undos and sweeps", () => {
  const seed = seedFromEnv();
  const random = prng(seed);
  const keyspace = new Keyspace();
  const model = new Map<string, ModelEntry>();
  // Few keys, so overwrites and deletes hit existing entries; some share
  // prefixes, one is non-ASCII, one starts with U+FEFF, one is empty.
  const keys = Array.from({ length: 300 }, (_, i) => `k${i % 7}:${i}`);
  keys.push("\uFEFFtok", "é", "日本", "");
  let now = 1_000;
  try {
    for (let step = 0; step < 20_000; step++) {
      const key = keys[Math.floor(random() * keys.length)]!;
      const r = random();
      if (r < 0.55) {
        const value = valueOf(random, step);
        const expiresAt = random() < 0.1
          ? Infinity
          : now + Math.floor(random() * 500);
        const previous = keyspace.set(key, value, expiresAt);
        const before = model.get(key);
        model.set(key, { value, expiresAt });
        // A tenth of the writes fail and are undone.
        if (random() < 0.1) {
          keyspace.restore(key, previous);
          if (before === undefined) model.delete(key);
          else model.set(key, before);
        } else keyspace.release(previous);
      } else if (r < 0.75) {
        const previous: Previous = keyspace.delete(key);
        const before = model.get(key);
        model.delete(key);
        if (random() < 0.1) {
          keyspace.restore(key, previous);
          if (before !== undefined) model.set(key, before);
        } else keyspace.release(previous);
      } else if (r < 0.8) {
        now += Math.floor(random() * 200);
        const { expired, more } = keyspace.sweep(now, 1000);
        assert.equal(more, false);
        for (const gone of expired) {
          assert.ok(model.get(gone)!.expiresAt <= now, `swept ${gone} early`);
          model.delete(gone);
        }
        for (const [k, e] of model) {
          assert.ok(e.expiresAt > now, `${k} not swept`);
        }
      }
      if (step % 997 === 0) assertSame(keyspace, model, now, keys);
    }
    assertSame(keyspace, model, now, keys);
    const live = [...model].filter(([, e]) => e.expiresAt > now).length;
    assert.equal(keyspace.liveSize(now), live);
    keyspace.clear();
    model.clear();
    assertSame(keyspace, model, now, keys);
  } catch (error) {
    throw new Error(`Failed with BUNTSTORE_SEED=${seed}`, { cause: error });
  }
});

Deno.test("Keyspace keeps many keys that share a table probe run", () => {
  const keyspace = new Keyspace();
  const n = 50_000;
  const key = (i: number) => `t${i.toString(36).padStart(8, "0")}`;
  for (let i = 0; i < n; i++) {
    keyspace.release(keyspace.set(key(i), new Uint8Array([i & 255]), 10));
  }
  // Delete every other key: backward shifts must keep the rest findable.
  for (let i = 0; i < n; i += 2) keyspace.release(keyspace.delete(key(i)));
  for (let i = 0; i < n; i++) {
    assert.deepEqual(
      keyspace.copy(key(i), 0),
      i % 2 === 0 ? undefined : new Uint8Array([i & 255]),
    );
  }
  assert.equal(keyspace.rawSize, n / 2);
});

Deno.test("ValueArena gives a size class's chunks back once it is empty", () => {
  const arena = new ValueArena();
  const empty = new Uint8Array(0);
  const cells = [];
  for (let i = 0; i < 10_000; i++) {
    cells.push(arena.store(empty, new Uint8Array(256).fill(i & 255)));
  }
  assert.ok(arena.bytes >= 10_000 * 256);
  for (const cell of cells) arena.free(cell, 256);
  assert.equal(arena.bytes, 0);
  const big = arena.store(empty, new Uint8Array(1 << 20));
  arena.free(big, 1 << 20);
  assert.equal(arena.bytes, 0);
});

Deno.test("ValueArena reuses freed cells before growing", () => {
  const arena = new ValueArena();
  const empty = new Uint8Array(0);
  const keep = arena.store(empty, new Uint8Array(100));
  const cells = [];
  for (let i = 0; i < 5_000; i++) {
    cells.push(arena.store(empty, new Uint8Array(100)));
  }
  const peak = arena.bytes;
  for (let round = 0; round < 10; round++) {
    for (const cell of cells.splice(0)) arena.free(cell, 100);
    for (let i = 0; i < 5_000; i++) {
      cells.push(arena.store(empty, new Uint8Array(100)));
    }
  }
  assert.equal(arena.bytes, peak);
  assert.deepEqual(arena.view(keep, 100), new Uint8Array(100));
});

Deno.test("Keyspace.sweep() counts the caller's per-key work in its budget", () => {
  const keyspace = new Keyspace();
  for (let i = 0; i < 1000; i++) {
    keyspace.release(keyspace.set(`k${i}`, new Uint8Array(8), 100));
  }
  const forgotten: string[] = [];
  // Each key's cleanup takes at least 0.2 ms, so 64 keys are well past a
  // 5 ms budget by the first look at the clock.
  const slow = (key: string) => {
    forgotten.push(key);
    const until = performance.now() + 0.2;
    while (performance.now() < until);
  };
  const { expired, more } = keyspace.sweep(200, 5, slow);
  assert.equal(more, true);
  assert.equal(expired.length, 64);
  assert.deepEqual(forgotten, expired);
  assert.equal(keyspace.rawSize, 1000 - 64);
});
