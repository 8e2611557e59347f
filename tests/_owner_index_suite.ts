/**
 * The owner index section of the store conformance suite: what every store
 * with `findByOwner` must do, registered as one `Deno.test` per case.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Clock, StoreUnderTest } from "./_store_conformance_suite.ts";
import { bytes, sleep } from "./_fixtures.ts";

/** A store under test whose state may outlive the store object. */
export interface OwnerStoreUnderTest extends StoreUnderTest {
  /**
   * Closes the current store and opens a new one on the same data; later
   * calls to `cleanup` close the new one. Required when the suite is
   * registered with `persistent: true`.
   */
  reopen?(): Promise<StoreUnderTest["store"]>;
}

/** Options for {@linkcode testOwnerIndexConformance}. */
export interface OwnerIndexOptions {
  /**
   * The store cannot take an injected clock (its expiry runs on a server's
   * clock): expiry cases use real time with short waits.
   */
  realClock?: boolean;
  /** The data outlives the store object: the factory returns `reopen`. */
  persistent?: boolean;
}

/** Short enough to wait for, long enough to read back on a busy machine. */
const REAL_TTL_MS = 500;

/** Owners that a naive key scheme would confuse with each other. */
const AWKWARD_OWNERS = [
  "ada",
  "ad",
  "ada:",
  "ada:1",
  "a:da",
  "ada lovelace",
  " ada",
  "ada/1",
  "a/da",
  "Ådå 🙂",
  "ユーザー",
  "*",
  "[a]",
  "entry",
  "owner",
];

/**
 * Registers the owner index cases for one store.
 *
 * @param name The store's name in test names, such as `"RedisStore"`.
 * @param open Makes a fresh, empty store on the given clock.
 * @param options Whether the store runs on real time and persists.
 */
export function testOwnerIndexConformance(
  name: string,
  open: (clock: Clock) => Promise<OwnerStoreUnderTest>,
  options: OwnerIndexOptions = {},
): void {
  type Store = StoreUnderTest["store"];
  type Indexed = Store & {
    findByOwner(owner: string): Promise<Map<string, Uint8Array>>;
  };

  function test(
    behaviour: string,
    body: (
      store: Indexed,
      clock: Clock,
      subject: OwnerStoreUnderTest,
    ) => Promise<void>,
  ): void {
    Deno.test(`${name} findByOwner() ${behaviour}`, async () => {
      const clock = options.realClock ? realClock() : fakeClock();
      const subject = await open(clock);
      try {
        await body(indexed(subject.store), clock, subject);
      } finally {
        await subject.cleanup();
      }
    });
  }

  function indexed(store: Store): Indexed {
    assert.equal(
      typeof store.findByOwner,
      "function",
      `${name} must implement findByOwner()`,
    );
    return store as Indexed;
  }

  const ttl = options.realClock ? REAL_TTL_MS : 1000;

  test("returns exactly the entry saved with that owner", async (store, c) => {
    await store.save("a", bytes("ada's"), later(c), { owner: "ada" });
    await store.save("plain", bytes("nobody's"), later(c));
    assert.deepEqual(
      await store.findByOwner("ada"),
      new Map([["a", bytes("ada's")]]),
    );
    // A copy: changing it changes nothing in the store.
    (await store.findByOwner("ada")).get("a")![0] = 0;
    assert.deepEqual(
      await store.findByOwner("ada"),
      new Map([["a", bytes("ada's")]]),
    );
  });

  test(
    "and save() refuse an owner that is not a string, changing nothing",
    async (store, c) => {
      for (const bad of [7, null, {}]) {
        await assert.rejects(
          store.save("a", bytes("x"), later(c), {
            owner: bad as unknown as string,
          }),
          TypeError,
        );
        await assert.rejects(
          store.findByOwner(bad as unknown as string),
          TypeError,
        );
      }
      assert.equal(await store.find("a"), undefined);
    },
  );

  test(
    "and replace() index nothing when the entry is gone",
    async (store, c) => {
      await store.save("a", bytes("1"), later(c), { owner: "ada" });
      await store.delete("a", { owner: "ada" });
      assert.equal(
        await store.replace!("a", bytes("2"), later(c), { owner: "ada" }),
        false,
      );
      assert.deepEqual(await store.findByOwner("ada"), new Map());
      await store.save("b", bytes("1"), later(c), { owner: "ada" });
      assert.equal(
        await store.replace!("b", bytes("2"), later(c), {
          owner: "bob",
          previousOwner: "ada",
        }),
        true,
      );
      assert.deepEqual(await store.findByOwner("ada"), new Map());
      assert.deepEqual(
        await store.findByOwner("bob"),
        new Map([["b", bytes("2")]]),
      );
    },
  );

  test("keeps owners apart", async (store, c) => {
    await store.save("a1", bytes("1"), later(c), { owner: "ada" });
    await store.save("b1", bytes("2"), later(c), { owner: "bob" });
    await store.save("a2", bytes("3"), later(c), { owner: "ada" });
    assert.deepEqual(
      await store.findByOwner("ada"),
      new Map([["a1", bytes("1")], ["a2", bytes("3")]]),
    );
    assert.deepEqual(
      await store.findByOwner("bob"),
      new Map([["b1", bytes("2")]]),
    );
  });

  test("of an unknown owner is an empty map", async (store, c) => {
    assert.deepEqual(await store.findByOwner("nobody"), new Map());
    await store.save("a", bytes("1"), later(c), { owner: "ada" });
    assert.deepEqual(await store.findByOwner("nobody"), new Map());
    assert.deepEqual(await store.findByOwner("ad"), new Map());
    assert.deepEqual(await store.findByOwner("Ada"), new Map());
  });

  test(
    "takes owners with ':', spaces, unicode and '/'",
    async (store, c) => {
      for (const [i, owner] of AWKWARD_OWNERS.entries()) {
        await store.save(`t${i}`, bytes(owner), later(c), { owner });
      }
      for (const [i, owner] of AWKWARD_OWNERS.entries()) {
        assert.deepEqual(
          await store.findByOwner(owner),
          new Map([[`t${i}`, bytes(owner)]]),
          `owner ${JSON.stringify(owner)}`,
        );
      }
    },
  );

  test("follows previousOwner to the new owner", async (store, c) => {
    await store.save("t", bytes("ada's"), later(c), { owner: "ada" });
    await store.save("t", bytes("bob's"), later(c), {
      owner: "bob",
      previousOwner: "ada",
    });
    assert.deepEqual(await store.findByOwner("ada"), new Map());
    assert.deepEqual(
      await store.findByOwner("bob"),
      new Map([["t", bytes("bob's")]]),
    );
  });

  test(
    "drops an entry saved again without an owner but with previousOwner",
    async (store, c) => {
      await store.save("t", bytes("ada's"), later(c), { owner: "ada" });
      await store.save("u", bytes("ada's too"), later(c), { owner: "ada" });
      await store.save("t", bytes("anonymous"), later(c), {
        previousOwner: "ada",
      });
      assert.deepEqual(
        await store.findByOwner("ada"),
        new Map([["u", bytes("ada's too")]]),
      );
      assert.deepEqual(await store.find("t"), bytes("anonymous"));
    },
  );

  test("drops an entry deleted with its owner", async (store, c) => {
    await store.save("t", bytes("1"), later(c), { owner: "ada" });
    await store.save("u", bytes("2"), later(c), { owner: "ada" });
    await store.delete("t", { owner: "ada" });
    assert.deepEqual(
      await store.findByOwner("ada"),
      new Map([["u", bytes("2")]]),
    );
    await store.delete("u", { owner: "ada" });
    assert.deepEqual(await store.findByOwner("ada"), new Map());
    // Deleting what is gone, with or without its owner, is no error.
    await store.delete("u", { owner: "ada" });
    await store.delete("never-saved", { owner: "ada" });
    assert.equal(await store.find("t"), undefined);
  });

  test("drops an entry saved with a past expiry", async (store, c) => {
    await store.save("t", bytes("1"), later(c), { owner: "ada" });
    await store.save("t", bytes("2"), new Date(c.now() - 1000), {
      owner: "ada",
    });
    assert.deepEqual(await store.findByOwner("ada"), new Map());
    assert.equal(await store.find("t"), undefined);
  });

  test("leaves out expired sessions", async (store, c) => {
    await store.save("short", bytes("s"), later(c, ttl), { owner: "ada" });
    await store.save("long", bytes("l"), later(c), { owner: "ada" });
    assert.equal((await store.findByOwner("ada")).size, 2);
    await c.advance(ttl + 50);
    assert.deepEqual(
      await store.findByOwner("ada"),
      new Map([["long", bytes("l")]]),
    );
  });

  test(
    "keeps an entry saved again with a later expiry past the first",
    async (store, c) => {
      await store.save("t", bytes("1"), later(c, ttl), { owner: "ada" });
      await store.save("t", bytes("2"), later(c), { owner: "ada" });
      // A shorter save of another entry must not cut the owner's index short.
      await store.save("u", bytes("3"), later(c, ttl), { owner: "ada" });
      await c.advance(ttl + 50);
      assert.deepEqual(
        await store.findByOwner("ada"),
        new Map([["t", bytes("2")]]),
      );
      assert.deepEqual(await store.find("t"), bytes("2"));
    },
  );

  test("adds no index entries to all()", async (store, c) => {
    const owners = ["ada", "bob", "ada", "c:d/é 🙂", "owner", "entry"];
    for (const [i, owner] of owners.entries()) {
      await store.save(`t${i}`, bytes(`${i}`), later(c), { owner });
    }
    await store.save("plain", bytes("p"), later(c));
    await store.save("t1", bytes("moved"), later(c), {
      owner: "ada",
      previousOwner: "bob",
    });
    await store.delete("t2", { owner: "ada" });
    const all = await store.all?.();
    assert.ok(all, `${name} must implement all()`);
    assert.deepEqual(
      [...all.keys()].sort(),
      ["plain", "t0", "t1", "t3", "t4", "t5"],
    );
    assert.equal(all.size, 6);
    assert.deepEqual(all.get("t1"), bytes("moved"));
  });

  test("is empty for entries saved without options", async (store, c) => {
    await store.save("t", bytes("1"), later(c));
    await store.save("u", bytes("2"), later(c), {});
    assert.deepEqual(await store.find("t"), bytes("1"));
    assert.deepEqual(await store.find("u"), bytes("2"));
    assert.deepEqual(await store.findByOwner("ada"), new Map());
    assert.equal((await store.all?.())?.size, 2);
    await store.delete("t");
    await store.delete("u", {});
    assert.equal(await store.find("t"), undefined);
    assert.equal(await store.find("u"), undefined);
  });

  if (options.persistent) {
    test("survives a reopen", async (first, c, subject) => {
      assert.ok(subject.reopen, `${name} is persistent: it must have reopen()`);
      await first.save("a", bytes("1"), later(c), { owner: "ada" });
      await first.save("b", bytes("2"), later(c), { owner: "bob" });
      await first.save("m", bytes("3"), later(c), { owner: "ada" });
      await first.save("m", bytes("4"), later(c), {
        owner: "bob",
        previousOwner: "ada",
      });
      await first.delete("b", { owner: "bob" });
      const store = indexed(await subject.reopen());
      assert.deepEqual(
        await store.findByOwner("ada"),
        new Map([["a", bytes("1")]]),
      );
      assert.deepEqual(
        await store.findByOwner("bob"),
        new Map([["m", bytes("4")]]),
      );
      assert.equal((await store.all?.())?.size, 2);
    });
  }
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
  return { now: Date.now, advance: sleep };
}

function later(clock: Clock, ms = 60_000): Date {
  return new Date(clock.now() + ms);
}
