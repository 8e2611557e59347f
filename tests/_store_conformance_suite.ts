/**
 * The store conformance suite: the behaviour every {@linkcode SessionStore}
 * must have, registered as one `Deno.test` per case for a given store.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { SessionStore } from "../session_store.ts";
import { StoreClosedError } from "../errors.ts";
import { bytes, sleep } from "./_fixtures.ts";

/** The clock a case runs on: injected into the store, or real time. */
export interface Clock {
  /** Current time, Unix milliseconds. */
  now(): number;
  /** Moves time on: instantly for an injected clock, by sleeping otherwise. */
  advance(ms: number): Promise<void>;
}

/** A store under test and what undoes its setup. */
export interface StoreUnderTest {
  /** The store; it must also have `close()`. */
  store: SessionStore & { close(): Promise<void> };
  /** Closes the store (again) and removes what the factory made. */
  cleanup(): Promise<void>;
}

/** Options for {@linkcode testStoreConformance}. */
export interface ConformanceOptions {
  /**
   * The store cannot take an injected clock (its expiry runs on a server's
   * clock): expiry cases use real time with short waits.
   */
  realClock?: boolean;
}

/** Short enough to wait for, long enough to read back on a busy machine. */
const REAL_TTL_MS = 500;
const MIB = 1024 * 1024;
const BASE64URL =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Registers the conformance cases for one store.
 *
 * @param name The store's name in test names, such as `"MemoryStore"`.
 * @param open Makes a fresh, empty store on the given clock.
 * @param options Whether the store runs on real time.
 */
export function testStoreConformance(
  name: string,
  open: (clock: Clock) => Promise<StoreUnderTest>,
  options: ConformanceOptions = {},
): void {
  function test(
    behaviour: string,
    body: (store: StoreUnderTest["store"], clock: Clock) => Promise<void>,
  ): void {
    Deno.test(`${name} ${behaviour}`, async () => {
      const clock = options.realClock ? realClock() : fakeClock();
      const { store, cleanup } = await open(clock);
      try {
        await body(store, clock);
      } finally {
        await cleanup();
      }
    });
  }

  test(".find() returns the bytes save() stored", async (store, clock) => {
    const data = bytes("hello");
    await store.save("token", data, later(clock));
    assert.deepEqual(await store.find("token"), bytes("hello"));
    assert.equal(await store.find("missing"), undefined);
  });

  test(".save() keeps a copy and find() returns one", async (store, clock) => {
    const data = bytes("abc");
    await store.save("token", data, later(clock));
    data[0] = 0;
    const found = await store.find("token");
    assert.deepEqual(found, bytes("abc"));
    found![0] = 0;
    assert.deepEqual(await store.find("token"), bytes("abc"));
  });

  test(
    "copiesOnSave: .replace() too keeps a copy, so the manager may reuse the array",
    async (store, clock) => {
      assert.equal(store.copiesOnSave, true);
      await store.save("token", bytes("abc"), later(clock));
      const data = bytes("xyz");
      assert.equal(await store.replace?.("token", data, later(clock)), true);
      data.fill(0);
      assert.deepEqual(await store.find("token"), bytes("xyz"));
    },
  );

  test(".save() overwrites an entry", async (store, clock) => {
    await store.save("token", bytes("one"), later(clock));
    await store.save("token", bytes("two"), later(clock, 120_000));
    assert.deepEqual(await store.find("token"), bytes("two"));
    assert.deepEqual(await store.all?.(), new Map([["token", bytes("two")]]));
  });

  test(
    ".all() returns tokens byte for byte: a leading U+FEFF is part of the token",
    async (store, clock) => {
      await store.save("\uFEFFtok", bytes("with"), later(clock));
      await store.save("tok", bytes("without"), later(clock));
      await store.save("\uFEFF", bytes("only"), later(clock));
      assert.deepEqual(await store.find("\uFEFFtok"), bytes("with"));
      assert.deepEqual(await store.find("tok"), bytes("without"));
      assert.deepEqual(await store.find("\uFEFF"), bytes("only"));
      assert.deepEqual(
        await store.all?.(),
        new Map([
          ["\uFEFFtok", bytes("with")],
          ["tok", bytes("without")],
          ["\uFEFF", bytes("only")],
        ]),
      );
    },
  );

  test(".delete() removes an entry and is idempotent", async (store, clock) => {
    await store.save("a", bytes("1"), later(clock));
    await store.save("b", bytes("2"), later(clock));
    await store.delete("a");
    assert.equal(await store.find("a"), undefined);
    await store.delete("a");
    await store.delete("never-saved");
    assert.deepEqual(await store.find("b"), bytes("2"));
  });

  test(".find() returns undefined after expiry", async (store, clock) => {
    const ttl = options.realClock ? REAL_TTL_MS : 1000;
    await store.save("short", bytes("s"), later(clock, ttl));
    await store.save("long", bytes("l"), later(clock));
    assert.deepEqual(await store.find("short"), bytes("s"));
    await clock.advance(ttl + 50);
    assert.equal(await store.find("short"), undefined);
    assert.deepEqual(await store.all?.(), new Map([["long", bytes("l")]]));
  });

  test(".replace() writes only over a live entry", async (store, clock) => {
    assert.equal(typeof store.replace, "function", `${name} has replace()`);
    const replace = store.replace!.bind(store);
    assert.equal(await replace("a", bytes("1"), later(clock)), false);
    assert.equal(await store.find("a"), undefined);
    await store.save("a", bytes("1"), later(clock));
    assert.equal(await replace("a", bytes("2"), later(clock)), true);
    assert.deepEqual(await store.find("a"), bytes("2"));
    await store.delete("a");
    assert.equal(await replace("a", bytes("3"), later(clock)), false);
    assert.equal(await store.find("a"), undefined);
    const ttl = options.realClock ? REAL_TTL_MS : 1000;
    await store.save("short", bytes("s"), later(clock, ttl));
    await clock.advance(ttl + 50);
    assert.equal(await replace("short", bytes("t"), later(clock)), false);
    assert.equal(await store.find("short"), undefined);
    assert.deepEqual(await store.all?.(), new Map());
  });

  test(".save() with a past expiry deletes", async (store, clock) => {
    await store.save("past", bytes("1"), later(clock));
    await store.save("now", bytes("2"), later(clock));
    await store.save("past", bytes("3"), new Date(clock.now() - 1000));
    await store.save("now", bytes("4"), new Date(clock.now()));
    await store.save("never", bytes("5"), new Date(0));
    assert.equal(await store.find("past"), undefined);
    assert.equal(await store.find("now"), undefined);
    assert.equal(await store.find("never"), undefined);
    assert.deepEqual(await store.all?.(), new Map());
  });

  test(".all() returns only live entries", async (store, clock) => {
    assert.ok(store.all, `${name} must implement all()`);
    assert.deepEqual(await store.all(), new Map());
    for (let i = 0; i < 50; i++) {
      await store.save(`t${i}`, bytes(`v${i}`), later(clock));
    }
    for (let i = 0; i < 50; i += 2) await store.delete(`t${i}`);
    await store.save("t1", bytes("gone"), new Date(clock.now() - 1));
    const expected = new Map<string, Uint8Array>();
    for (let i = 3; i < 50; i += 2) expected.set(`t${i}`, bytes(`v${i}`));
    assert.deepEqual(await store.all(), expected);
  });

  test("keeps every byte value and empty data", async (store, clock) => {
    const every = Uint8Array.from({ length: 256 }, (_, i) => i);
    const reversed = every.slice().reverse();
    await store.save("every", every, later(clock));
    await store.save("reversed", reversed, later(clock));
    await store.save("empty", new Uint8Array(0), later(clock));
    // A view into a larger buffer: only the viewed bytes are stored.
    await store.save("view", every.subarray(10, 20), later(clock));
    assert.deepEqual(await store.find("every"), every);
    assert.deepEqual(await store.find("reversed"), reversed);
    assert.deepEqual(await store.find("empty"), new Uint8Array(0));
    assert.deepEqual(await store.find("view"), every.slice(10, 20));
    const all = await store.all?.();
    assert.deepEqual(all?.get("every"), every);
    assert.deepEqual(all?.get("empty"), new Uint8Array(0));
  });

  test("keeps 1 MiB values", async (store, clock) => {
    const big = randomBytes(MIB);
    const other = randomBytes(MIB + 7);
    await store.save("big", big, later(clock));
    // node:assert's diff of 1 MiB arrays takes minutes: compare, then assert.
    assert.ok(equalBytes(await store.find("big"), big), "1 MiB value differs");
    await store.save("big", other, later(clock));
    assert.ok(equalBytes(await store.find("big"), other), "overwrite differs");
    const all = await store.all?.();
    assert.deepEqual([...all?.keys() ?? []], ["big"]);
    assert.ok(equalBytes(all?.get("big"), other), "all() value differs");
  });

  test(
    "settles concurrent writes of one key on one of them",
    async (store, clock) => {
      const values = Array.from({ length: 20 }, (_, i) => bytes(`value ${i}`));
      await Promise.all(
        values.map((value) => store.save("token", value, later(clock))),
      );
      const found = await store.find("token");
      assert.ok(found, "an entry must remain");
      assert.ok(
        values.some((value) => equalBytes(value, found)),
        `found ${new TextDecoder().decode(found)}, not one of the writes`,
      );
      assert.deepEqual((await store.all?.())?.get("token"), found);
    },
  );

  test(
    "accepts tokens with every base64url character",
    async (store, clock) => {
      const tokens = [
        BASE64URL,
        ...BASE64URL,
        "-",
        "_",
        "--__",
        "a".repeat(86),
      ];
      const unique = [...new Set(tokens)];
      for (const token of unique) {
        await store.save(token, bytes(`for ${token}`), later(clock));
      }
      for (const token of unique) {
        assert.deepEqual(await store.find(token), bytes(`for ${token}`));
      }
      const all = await store.all?.();
      assert.deepEqual([...all?.keys() ?? []].sort(), unique.sort());
      await store.delete(BASE64URL);
      assert.equal(await store.find(BASE64URL), undefined);
      assert.deepEqual(await store.find("A"), bytes("for A"));
    },
  );

  test("rejects bad arguments and changes nothing", async (store, clock) => {
    await store.save("kept", bytes("kept"), later(clock));
    const data = bytes("x");
    const expiry = later(clock);
    // deno-lint-ignore no-explicit-any
    const loose = store as any;
    const cases: [() => Promise<unknown>, ErrorConstructor][] = [
      [() => loose.save(42, data, expiry), TypeError],
      [() => loose.save(undefined, data, expiry), TypeError],
      [() => store.save("", data, expiry), RangeError],
      [() => store.save("k".repeat(1025), data, expiry), RangeError],
      [() => loose.save("kept", "text", expiry), TypeError],
      [() => loose.save("kept", [1, 2], expiry), TypeError],
      [() => loose.save("kept", data, expiry.getTime()), TypeError],
      [() => loose.save("kept", data, "2030-01-01"), TypeError],
      [() => store.save("kept", data, new Date(NaN)), RangeError],
      [() => loose.find(42), TypeError],
      [() => store.find(""), RangeError],
      [() => loose.delete(null), TypeError],
      [() => store.delete(""), RangeError],
    ];
    for (const [call, type] of cases) {
      await assert.rejects(call, type, `${call} must reject with ${type.name}`);
    }
    assert.deepEqual(await store.all?.(), new Map([["kept", bytes("kept")]]));
    assert.deepEqual(await store.find("kept"), bytes("kept"));
  });

  test(
    ".close() is idempotent and later calls reject",
    async (store, clock) => {
      await store.save("token", bytes("x"), later(clock));
      await store.close();
      await store.close();
      await assert.rejects(store.find("token"), StoreClosedError);
      await assert.rejects(
        store.save("token", bytes("y"), later(clock)),
        StoreClosedError,
      );
      await assert.rejects(store.delete("token"), StoreClosedError);
    },
  );
}

function fakeClock(): Clock {
  let now = Date.now();
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
      return Promise.resolve();
    },
  };
}

function realClock(): Clock {
  return {
    now: Date.now,
    advance: sleep,
  };
}

function later(clock: Clock, ms = 60_000): Date {
  return new Date(clock.now() + ms);
}

function randomBytes(length: number): Uint8Array {
  const data = new Uint8Array(length);
  // getRandomValues fills at most 64 KiB per call.
  for (let i = 0; i < length; i += 65_536) {
    crypto.getRandomValues(data.subarray(i, i + 65_536));
  }
  return data;
}

function equalBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length &&
    a.every((byte, i) => byte === b[i]);
}
