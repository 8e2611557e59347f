import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import {
  BuntStore,
  type BuntStoreOptions,
  LogBrokenError,
  MemoryStore,
  StoreClosedError,
  StoreLockedError,
} from "../mod.ts";
import type { StoreHooks } from "../_store/hooks.ts";
import { logFile, openHooked, tempDir, withLiveLoop } from "./_fixtures.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HOUR = 3600_000;

/** A store in a fresh temp dir, removed on dispose. */
async function tempStore(
  options: BuntStoreOptions & StoreHooks = {},
): Promise<
  { store: BuntStore; path: string; dir: string } & AsyncDisposable
> {
  const tmp = await tempDir();
  try {
    const store = await openHooked(tmp.path, options);
    return {
      store,
      path: tmp.path,
      dir: tmp.dir,
      async [Symbol.asyncDispose]() {
        try {
          await store.close();
        } finally {
          await tmp[Symbol.asyncDispose]();
        }
      },
    };
  } catch (error) {
    await tmp[Symbol.asyncDispose]();
    throw error;
  }
}

function text(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : decoder.decode(bytes);
}

Deno.test("BuntStore.find() returns what save() stored, after a reopen", async () => {
  await using t = await tempStore();
  const expiry = new Date(Date.now() + HOUR);
  await t.store.save("a", encoder.encode("one"), expiry);
  await t.store.save("b", encoder.encode("two"), expiry);
  await t.store.save("a", encoder.encode("three"), expiry);
  await t.store.delete("b");
  assert.equal(text(await t.store.find("a")), "three");
  await t.store.close();

  await using reopened = await BuntStore.open(t.path);
  assert.equal(text(await reopened.find("a")), "three");
  assert.equal(await reopened.find("b"), undefined);
  assert.equal(reopened.size, 1);
  assert.equal(reopened.stats().recordsLoaded, 4);
});

Deno.test("BuntStore.save() writes buntdb's record format with whole seconds", async () => {
  await using t = await tempStore();
  await t.store.save(
    "key",
    encoder.encode("v\r\n"),
    new Date(1_900_000_000_999),
  );
  await t.store.delete("key");
  await t.store.close();
  const bytes = await Deno.readTextFile(t.path);
  assert.equal(
    bytes,
    "*5\r\n$3\r\nset\r\n$3\r\nkey\r\n$3\r\nv\r\n\r\n$2\r\nae\r\n$10\r\n1900000000\r\n" +
      "*2\r\n$3\r\ndel\r\n$3\r\nkey\r\n",
  );
});

Deno.test("BuntStore.open() loads a log written by Go buntdb", async () => {
  await using tmp = await tempDir();
  const path = tmp.path;
  const future = Math.floor(Date.now() / 1000) + 3600;
  await Deno.writeTextFile(
    path,
    "*3\r\n$3\r\nset\r\n$4\r\nkeep\r\n$2\r\nno\r\n" +
      `*5\r\n$3\r\nSET\r\n$3\r\nttl\r\n$3\r\nyes\r\n$2\r\nAE\r\n$10\r\n${future}\r\n` +
      "*3\r\n$3\r\nset\r\n$4\r\ngone\r\n$1\r\nx\r\n" +
      "*2\r\n$3\r\nDel\r\n$4\r\ngone\r\n",
  );
  await using store = await BuntStore.open(path);
  assert.equal(text(await store.find("keep")), "no");
  assert.equal(text(await store.find("ttl")), "yes");
  assert.equal(await store.find("gone"), undefined);
  assert.equal(store.size, 2);
});

Deno.test("BuntStore.find() returns undefined after expiry, before any sweep", async () => {
  let now = 1_000_000;
  await using store = await BuntStore.open(":memory:", { now: () => now });
  await store.save("t", encoder.encode("x"), new Date(now + 1000));
  assert.equal(store.size, 1);
  now += 999;
  assert.equal(text(await store.find("t")), "x");
  now += 1;
  assert.equal(await store.find("t"), undefined);
  assert.equal(store.size, 0);
  assert.deepEqual(await store.all(), new Map());
  assert.equal(store.stats().expiredPending, 1);
});

Deno.test("BuntStore sweep removes expired entries and reports them", async () => {
  let now = 1_000_000;
  const expired: string[] = [];
  const swept = Promise.withResolvers<void>();
  await using store = await BuntStore.open(":memory:", {
    now: () => now,
    sweepInterval: 5,
    onExpired: (tokens) => {
      expired.push(...tokens);
      swept.resolve();
    },
  });
  await store.save("early", encoder.encode("1"), new Date(now + 10));
  await store.save("late", encoder.encode("2"), new Date(now + HOUR));
  now += 10;
  await withLiveLoop(swept.promise);
  assert.deepEqual(expired, ["early"]);
  assert.equal(store.stats().expiredPending, 0);
  assert.equal(text(await store.find("late")), "2");
});

Deno.test("BuntStore sweep of many expirations runs in slices", async () => {
  let now = 1_000_000;
  let calls = 0;
  let total = 0;
  const done = Promise.withResolvers<void>();
  const count = 200_000;
  await using store = await BuntStore.open(":memory:", {
    now: () => now,
    sweepInterval: 5,
    onExpired: (tokens) => {
      calls++;
      total += tokens.length;
      if (total === count) done.resolve();
    },
  });
  const value = new Uint8Array(8);
  for (let i = 0; i < count; i++) {
    store.save(`k${i}`, value, new Date(now + 1 + (i % 1000)));
  }
  await store.save("live", value, new Date(now + HOUR));
  now += 2000;
  await withLiveLoop(done.promise);
  assert.equal(total, count);
  assert.ok(calls > 1, `expected several sweep slices, got ${calls}`);
  assert.equal(store.size, 1);
});

Deno.test("BuntStore.save() with a past expiry deletes the entry", async () => {
  await using t = await tempStore();
  await t.store.save("t", encoder.encode("x"), new Date(Date.now() + HOUR));
  await t.store.save("t", encoder.encode("y"), new Date(Date.now() - 1));
  assert.equal(await t.store.find("t"), undefined);
  await t.store.close();
  await using reopened = await BuntStore.open(t.path);
  assert.equal(await reopened.find("t"), undefined);
});

Deno.test("BuntStore.delete() is idempotent and writes nothing for a missing key", async () => {
  await using t = await tempStore();
  await t.store.delete("missing");
  await t.store.delete("missing");
  assert.equal(t.store.stats().fileBytes, 0);
});

Deno.test("BuntStore.save() keeps a copy: later changes to the buffer do not leak in", async () => {
  await using store = await BuntStore.open(":memory:");
  const data = encoder.encode("abc");
  await store.save("t", data, new Date(Date.now() + HOUR));
  data[0] = 120;
  const found = (await store.find("t"))!;
  assert.equal(text(found), "abc");
  found[0] = 121;
  assert.equal(text(await store.find("t")), "abc");
});

Deno.test("BuntStore rejects bad arguments and changes nothing", async () => {
  await using t = await tempStore();
  const expiry = new Date(Date.now() + HOUR);
  const store = t.store;
  const bad: [() => Promise<unknown>, ErrorConstructor][] = [
    [() => store.save("", new Uint8Array(1), expiry), RangeError],
    [
      () => store.save(1 as unknown as string, new Uint8Array(1), expiry),
      TypeError,
    ],
    [() => store.save("x".repeat(1025), new Uint8Array(1), expiry), RangeError],
    [() => store.save("é".repeat(513), new Uint8Array(1), expiry), RangeError],
    [() => store.save("a\uD800b", new Uint8Array(1), expiry), RangeError],
    [() => store.save("t", "text" as unknown as Uint8Array, expiry), TypeError],
    [
      () => store.save("t", new Uint8Array(1), Date.now() as unknown as Date),
      TypeError,
    ],
    [() => store.save("t", new Uint8Array(1), new Date(NaN)), RangeError],
    [() => store.find(undefined as unknown as string), TypeError],
    // The find path checks ASCII tokens by hashing them: the same rules.
    [() => store.find(""), RangeError],
    [() => store.find("x".repeat(1025)), RangeError],
    [() => store.find("é".repeat(513)), RangeError],
    [() => store.find("a\uD800b"), RangeError],
    [() => store.delete(""), RangeError],
  ];
  for (const [call, kind] of bad) await assert.rejects(call, kind);
  assert.equal(store.size, 0);
  assert.equal(store.stats().fileBytes, 0);
  await store.save("x".repeat(1024), new Uint8Array(1), expiry);
  assert.equal(store.size, 1);
  assert.deepEqual(await store.find("x".repeat(1024)), new Uint8Array(1));
  await store.save("é".repeat(341), new Uint8Array([2]), expiry);
  assert.deepEqual(await store.find("é".repeat(341)), new Uint8Array([2]));
});

Deno.test("BuntStore.open() rejects bad options with clear errors", async (t) => {
  const cases: [BuntStoreOptions, ErrorConstructor, RegExp][] = [
    [{ sync: "sometimes" as "always" }, RangeError, /"sync" must be one of/],
    [{ sweepInterval: 0 }, RangeError, /"sweepInterval"/],
    [{ sweepInterval: "1" as unknown as number }, TypeError, /"sweepInterval"/],
    [{ autoShrinkPercentage: -1 }, RangeError, /"autoShrinkPercentage"/],
    [{ autoShrinkMinSize: Infinity }, RangeError, /"autoShrinkMinSize"/],
    [{ autoShrinkDisabled: 1 as unknown as boolean }, TypeError, /boolean/],
    [{ onExpired: "x" as unknown as () => void }, TypeError, /function/],
    // Fault injection is a test hook, not an option the package promises.
    [
      { wrapFile: (file: Deno.FsFile) => file } as BuntStoreOptions,
      TypeError,
      /unknown option "wrapFile"/,
    ],
    [
      { syncPolicy: "always" } as BuntStoreOptions,
      TypeError,
      /unknown option "syncPolicy"/,
    ],
  ];
  for (const [options, kind, message] of cases) {
    await t.step(JSON.stringify(options), async () => {
      await assert.rejects(BuntStore.open(":memory:", options), (error) => {
        assert.ok(error instanceof kind);
        assert.match((error as Error).message, message);
        return true;
      });
    });
  }
  await assert.rejects(BuntStore.open(""), TypeError);
});

Deno.test("MemoryStore and BuntStore.open() validate options by one rule", async (t) => {
  const values: unknown[] = [0, 0.5, -1, Infinity, NaN, "1000", null];
  for (const sweepInterval of values) {
    await t.step(`sweepInterval: ${String(sweepInterval)}`, async () => {
      const options = { sweepInterval } as BuntStoreOptions;
      let fromMemory: Error | undefined;
      try {
        await new MemoryStore(options).close();
      } catch (error) {
        fromMemory = error as Error;
      }
      const fromBunt = await BuntStore.open(":memory:", options).then(
        async (store) => void await store.close(),
        (error: Error) => error,
      );
      assert.ok(fromBunt instanceof Error, "BuntStore accepted it");
      assert.ok(fromMemory instanceof Error, "MemoryStore accepted it");
      assert.equal(fromMemory.name, fromBunt.name);
      assert.equal(
        afterColon(fromMemory.message),
        afterColon(fromBunt.message),
      );
    });
  }
  await t.step("a typo in an option name", () => {
    assert.throws(
      () => new MemoryStore({ sweepIntreval: 5 } as BuntStoreOptions),
      /unknown option "sweepIntreval"/,
    );
  });
});

Deno.test("MemoryStore and BuntStore.open() refuse a sweepInterval longer than a timer can wait", async () => {
  // Above 2^31 - 1 ms, setInterval fires every millisecond instead.
  for (const sweepInterval of [2 ** 31, 3e9]) {
    await assert.rejects(
      BuntStore.open(":memory:", { sweepInterval }),
      (error: Error) =>
        error instanceof RangeError &&
        /"sweepInterval" must be .*<= 2147483647/.test(error.message),
    );
    assert.throws(
      () => new MemoryStore({ sweepInterval }),
      /"sweepInterval" must be .*<= 2147483647/,
    );
  }
  await using longest = await BuntStore.open(":memory:", {
    sweepInterval: 2 ** 31 - 1,
  });
  await using memory = new MemoryStore({ sweepInterval: 2 ** 31 - 1 });
  assert.equal(longest.size + memory.size, 0);
});

/** The part of an error message after "Cannot <action>: ". */
function afterColon(message: string): string {
  return message.slice(message.indexOf(": ") + 2);
}

Deno.test("BuntStore.open() throws StoreLockedError while the file is open", async () => {
  await using t = await tempStore();
  await assert.rejects(BuntStore.open(t.path), StoreLockedError);
  await t.store.close();
  await using again = await BuntStore.open(t.path);
  assert.equal(again.size, 0);
});

Deno.test("BuntStore.open() reports a failing stat of the log as what it is, not as a lock", async () => {
  await using tmp = await tempDir();
  const path = tmp.path;
  const realStat = Deno.stat;
  // The log opens and locks, then the check that it is still at its path
  // fails for a reason other than a swap (a directory made unreadable).
  Deno.stat = (target) =>
    target === path
      ? Promise.reject(new Deno.errors.PermissionDenied("stat denied"))
      : realStat(target);
  try {
    await assert.rejects(BuntStore.open(path), (error: Error) => {
      assert.ok(!(error instanceof StoreLockedError), error.message);
      assert.ok(error instanceof Deno.errors.PermissionDenied);
      assert.match(
        error.message,
        new RegExp(
          `^Cannot open store at "${path}": .*\\(stat denied\\); check`,
        ),
      );
      return true;
    });
  } finally {
    Deno.stat = realStat;
  }
  // Nothing stayed locked.
  await using store = await BuntStore.open(path);
  assert.equal(store.size, 0);
});

Deno.test("BuntStore rejects every call after close()", async () => {
  await using t = await tempStore();
  await t.store.close();
  await t.store.close();
  const expiry = new Date(Date.now() + HOUR);
  await assert.rejects(t.store.find("t"), StoreClosedError);
  await assert.rejects(
    t.store.save("t", new Uint8Array(1), expiry),
    StoreClosedError,
  );
  await assert.rejects(t.store.delete("t"), StoreClosedError);
  await assert.rejects(t.store.all(), StoreClosedError);
  await assert.rejects(t.store.shrink(), StoreClosedError);
});

Deno.test("BuntStore.close() writes and fsyncs what is pending", async () => {
  await using t = await tempStore({ sync: "never" });
  const pending = t.store.save(
    "t",
    encoder.encode("x"),
    new Date(Date.now() + HOUR),
  );
  await t.store.close();
  await pending;
  assert.equal(t.store.stats().syncs, 1);
  await using reopened = await BuntStore.open(t.path);
  assert.equal(text(await reopened.find("t")), "x");
});

Deno.test("BuntStore batches the writes of one tick into one write", async () => {
  await using t = await tempStore();
  const expiry = new Date(Date.now() + HOUR);
  const saves = [];
  for (let i = 0; i < 64; i++) {
    saves.push(t.store.save(`k${i}`, encoder.encode(`v${i}`), expiry));
  }
  await Promise.all(saves);
  assert.equal(t.store.stats().writes, 1);
  await t.store.save("one-more", encoder.encode("x"), expiry);
  assert.equal(t.store.stats().writes, 2);
});

Deno.test("BuntStore shares one write among saves made anywhere in one event-loop turn", async () => {
  await using t = await tempStore();
  const expiry = new Date(Date.now() + HOUR);
  // As two requests handled in one turn: the second saves only after a
  // few promise hops of its own, when a microtask flush would have run.
  const first = t.store.save("a", encoder.encode("1"), expiry);
  for (let hop = 0; hop < 8; hop++) await Promise.resolve();
  const second = t.store.save("b", encoder.encode("2"), expiry);
  await Promise.all([first, second]);
  assert.equal(t.store.stats().writes, 1);
  // A save in a later turn gets a write of its own.
  await new Promise((resolve) => setTimeout(resolve, 0));
  await t.store.save("c", encoder.encode("3"), expiry);
  assert.equal(t.store.stats().writes, 2);
  await t.store.close();
  await using reopened = await BuntStore.open(t.path);
  assert.equal(text(await reopened.find("b")), "2");
});

Deno.test("BuntStore writes a writer's awaited saves without waiting for the end of the event-loop turn", async () => {
  await using t = await tempStore();
  const expiry = new Date(Date.now() + HOUR);
  // Each save awaited through two async wrappers, as a bench or an import
  // script would: none of them needs the rest of the turn to batch with.
  const save = async (i: number) => {
    await (async () => {
      await t.store.save(`k${i}`, encoder.encode(`v${i}`), expiry);
    })();
  };
  // The first waits for the end of the turn: it cannot know it is alone.
  await save(0);
  let turnEnded = false;
  setImmediate(() => turnEnded = true);
  for (let i = 1; i < 20; i++) await save(i);
  assert.equal(turnEnded, false);
  assert.equal(t.store.stats().writes, 20);
  await t.store.close();
  await using reopened = await BuntStore.open(t.path);
  assert.equal(text(await reopened.find("k19")), "v19");
});

Deno.test("BuntStore.all() returns live entries only", async () => {
  let now = 1_000_000;
  await using store = await BuntStore.open(":memory:", { now: () => now });
  await store.save("a", encoder.encode("1"), new Date(now + 10));
  await store.save("b", encoder.encode("2"), new Date(now + 20));
  now += 10;
  const all = await store.all();
  assert.deepEqual([...all.keys()], ["b"]);
  assert.equal(text(all.get("b")), "2");
});

Deno.test("BuntStore keeps expiries across a reopen, rounded down to the second", async () => {
  await using t = await tempStore();
  const expiry = Date.now() + HOUR + 999;
  await t.store.save("t", encoder.encode("x"), new Date(expiry));
  await t.store.close();
  let now = Math.floor(expiry / 1000) * 1000 - 1;
  await using reopened = await BuntStore.open(t.path, { now: () => now });
  assert.equal(text(await reopened.find("t")), "x");
  now += 1;
  assert.equal(await reopened.find("t"), undefined);
});

Deno.test("BuntStore.shrink() rewrites the log to the live entries", async () => {
  await using t = await tempStore();
  const expiry = new Date(Date.now() + HOUR);
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 50; i++) {
      await t.store.save(`k${i}`, encoder.encode(`v${round}`), expiry);
    }
  }
  await t.store.delete("k0");
  const before = t.store.stats().fileBytes;
  await t.store.shrink();
  const stats = t.store.stats();
  assert.equal(stats.compactions, 1);
  assert.ok(stats.fileBytes < before / 10, `${stats.fileBytes} vs ${before}`);
  assert.equal((await Deno.stat(t.path)).size, stats.fileBytes);
  await t.store.save("after", encoder.encode("x"), expiry);
  await t.store.close();
  await using reopened = await BuntStore.open(t.path);
  assert.equal(reopened.size, 50);
  assert.equal(await reopened.find("k0"), undefined);
  assert.equal(text(await reopened.find("k1")), "v19");
  assert.equal(text(await reopened.find("after")), "x");
});

Deno.test("BuntStore in memory needs no permissions and ignores sync and shrink", async () => {
  await using store = await BuntStore.open(":memory:", { sync: "always" });
  await store.save("t", encoder.encode("x"), new Date(Date.now() + HOUR));
  await store.sync();
  await store.shrink();
  assert.equal(store.stats().fileBytes, 0);
  assert.equal(store.path, ":memory:");
});

Deno.test("BuntStore refuses writes once a failed write cannot be cut back", async () => {
  let failing = false;
  await using t = await tempStore({
    onError: () => {},
    wrapFile: (file) =>
      logFile({
        writeSync: (bytes) => {
          if (!failing) return file.writeSync(bytes);
          file.writeSync(bytes.subarray(0, 3));
          throw new Error("disk on fire");
        },
        syncData: () => file.syncData(),
        truncateSync: (size) => {
          if (failing) throw new Error("cannot truncate");
          file.truncateSync(size);
        },
      }),
  });
  const expiry = new Date(Date.now() + HOUR);
  await t.store.save("kept", encoder.encode("1"), expiry);
  failing = true;
  await assert.rejects(
    t.store.save("lost", encoder.encode("2"), expiry),
    (error: Error) =>
      error instanceof LogBrokenError &&
      (error.cause as Error[])[0]!.message === "disk on fire",
  );
  failing = false;
  // What callers of save() and delete() get from now on: importable from
  // the package entry, naming the file.
  for (
    const call of [
      () => t.store.save("later", encoder.encode("3"), expiry),
      () => t.store.delete("kept"),
    ]
  ) {
    await assert.rejects(call(), (error: Error) => {
      assert.ok(error instanceof LogBrokenError);
      assert.equal(error.path, t.path);
      assert.match(error.message, new RegExp(`"${t.path}".*reopen the store`));
      return true;
    });
  }
  assert.equal(await t.store.find("lost"), undefined);
  assert.equal(text(await t.store.find("kept")), "1");
  assert.ok(t.store.stats().lastError instanceof LogBrokenError);
});

Deno.test("BuntStore gives back the memory of a large value once it is written and deleted", async () => {
  await using tmp = await tempDir();
  const child = new URL("./_memory_child.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--v8-flags=--expose-gc",
      "--allow-read",
      "--allow-write",
      child,
      tmp.path,
      "150",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const { before, after, size } = JSON.parse(
    new TextDecoder().decode(output.stdout),
  );
  const kept = (after - before) / 2 ** 20;
  console.log(
    `after a 150 MiB value saved and deleted: ${kept.toFixed(1)} MiB kept`,
  );
  assert.equal(size, 1);
  assert.ok(kept < 16, `${kept.toFixed(1)} MiB still allocated`);
});
