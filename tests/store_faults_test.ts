/**
 * Fault injection through the internal `wrapFile` test hook: failing writes
 * and fsyncs, group commit, the everysecond fsync (on housekeeping ticks the
 * test drives) and the fsync at close.
 */

import assert from "node:assert/strict";
import { BuntStore } from "../mod.ts";
import type { LogFile } from "../aof.ts";
import {
  bytes,
  contents,
  FIXED_NOW,
  logFile,
  ManualHousekeeping,
  openHooked,
  prng,
  seedFromEnv,
  sleep,
  sorted,
  tempDir,
  tick,
} from "./_fixtures.ts";

const now = () => FIXED_NOW;
const expiry = new Date(FIXED_NOW + 3_600_000);

type WriteFault = "none" | "throw" | "partial-then-throw" | "short-then-throw";

/** Wraps the log's handle, counting calls and failing on demand. */
class Faults {
  writeCalls = 0;
  syncCalls = 0;
  writeFault: WriteFault = "none";
  syncFault = false;
  /** Fsyncs settle at once (no real fdatasync), for tests that count them. */
  instantSync = false;
  errors: Error[] = [];
  #shortDone = false;

  readonly wrap = (file: Deno.FsFile): LogFile =>
    logFile({
      writeSync: (data: Uint8Array) => {
        this.writeCalls++;
        switch (this.writeFault) {
          case "throw":
            throw new Error("injected ENOSPC");
          case "partial-then-throw":
            // Some bytes reach the file, then the call fails.
            file.writeSync(data.subarray(0, Math.ceil(data.length / 2)));
            throw new Error("injected EIO after a partial write");
          case "short-then-throw":
            if (!this.#shortDone) {
              this.#shortDone = true;
              return file.writeSync(
                data.subarray(0, Math.ceil(data.length / 2)),
              );
            }
            throw new Error("injected ENOSPC after a short write");
        }
        return file.writeSync(data);
      },
      syncData: async () => {
        this.syncCalls++;
        if (this.syncFault) throw new Error("injected EIO on fsync");
        if (!this.instantSync) await file.syncData();
      },
      truncateSync: (size: number) => file.truncateSync(size),
    });

  readonly onError = (error: Error) => {
    this.errors.push(error);
  };

  clear(): void {
    this.writeFault = "none";
    this.syncFault = false;
    this.#shortDone = false;
  }
}

async function reopenContents(path: string): Promise<[string, string][]> {
  const store = await BuntStore.open(path, { now });
  try {
    return sorted(await contents(store));
  } finally {
    await store.close();
  }
}

for (
  const fault of [
    "throw",
    "partial-then-throw",
    "short-then-throw",
  ] as const
) {
  for (const sync of ["always", "everysecond", "never"] as const) {
    Deno.test(`BuntStore.save() rolls back on a failing write (${fault}, sync "${sync}")`, async () => {
      await using tmp = await tempDir();
      const faults = new Faults();
      const store = await openHooked(tmp.path, {
        sync,
        now,
        wrapFile: faults.wrap,
        onError: faults.onError,
      });
      try {
        await store.save("a", bytes("a1"), expiry);
        await store.save("gone", bytes("g"), expiry);
        const sizeBefore = store.stats().fileBytes;
        faults.writeFault = fault;
        const results = await Promise.allSettled([
          store.save("a", bytes("a2"), expiry),
          store.save("b", bytes("b1"), expiry),
          store.delete("gone"),
        ]);
        for (const result of results) {
          assert.equal(result.status, "rejected");
          assert.match(String(result.reason), /injected/);
        }
        assert.deepEqual(await store.find("a"), bytes("a1"));
        assert.equal(await store.find("b"), undefined);
        assert.deepEqual(await store.find("gone"), bytes("g"));
        assert.equal(store.size, 2);
        assert.match(String(store.stats().lastError?.message), /injected/);
        assert.equal(faults.errors.length, 1);
        assert.equal(store.stats().fileBytes, sizeBefore);
        assert.equal((await Deno.stat(tmp.path)).size, sizeBefore);
        // The store keeps working once the fault clears.
        faults.clear();
        await store.save("c", bytes("c1"), expiry);
        await store.delete("gone");
        assert.deepEqual(sorted(await contents(store)), [
          ["a", "a1"],
          ["c", "c1"],
        ]);
      } finally {
        await store.close();
      }
      assert.deepEqual(await reopenContents(tmp.path), [
        ["a", "a1"],
        ["c", "c1"],
      ]);
    });
  }
}

Deno.test('BuntStore.save() with sync "always" rolls back memory and file on a failing fsync', async () => {
  await using tmp = await tempDir();
  const faults = new Faults();
  const store = await openHooked(tmp.path, {
    sync: "always",
    now,
    wrapFile: faults.wrap,
    onError: faults.onError,
  });
  try {
    await store.save("a", bytes("a1"), expiry);
    await store.save("d", bytes("d1"), expiry);
    const durable = store.stats().fileBytes;
    faults.syncFault = true;
    const first = Promise.allSettled([
      store.save("a", bytes("a2"), expiry),
      store.save("b", bytes("b1"), expiry),
    ]);
    // A later batch written while the failing fsync runs is rolled back too.
    await Promise.resolve();
    const second = Promise.allSettled([
      store.save("a", bytes("a3"), expiry),
      store.delete("d"),
    ]);
    for (const result of [...await first, ...await second]) {
      assert.equal(result.status, "rejected");
      assert.match(String(result.reason), /fsync/);
    }
    assert.deepEqual(await store.find("a"), bytes("a1"));
    assert.equal(await store.find("b"), undefined);
    assert.deepEqual(await store.find("d"), bytes("d1"));
    assert.match(String(store.stats().lastError?.message), /injected EIO/);
    assert.ok(faults.errors.length >= 1);
    assert.equal(store.stats().fileBytes, durable);
    assert.equal((await Deno.stat(tmp.path)).size, durable);
    faults.clear();
    await store.save("c", bytes("c1"), expiry);
    assert.deepEqual(sorted(await contents(store)), [
      ["a", "a1"],
      ["c", "c1"],
      ["d", "d1"],
    ]);
  } finally {
    await store.close();
  }
  assert.deepEqual(await reopenContents(tmp.path), [
    ["a", "a1"],
    ["c", "c1"],
    ["d", "d1"],
  ]);
});

Deno.test('BuntStore.sync() with sync "everysecond" reports a failing fsync and keeps acknowledged data', async () => {
  await using tmp = await tempDir();
  const faults = new Faults();
  const store = await openHooked(tmp.path, {
    sync: "everysecond",
    now,
    wrapFile: faults.wrap,
    onError: faults.onError,
  });
  try {
    await store.save("a", bytes("a1"), expiry);
    faults.syncFault = true;
    await assert.rejects(store.sync(), /injected EIO/);
    assert.match(String(store.stats().lastError?.message), /injected EIO/);
    assert.deepEqual(await store.find("a"), bytes("a1"));
    faults.clear();
    await store.sync();
    assert.equal(store.stats().syncs, 1);
  } finally {
    await store.close();
  }
  assert.deepEqual(await reopenContents(tmp.path), [["a", "a1"]]);
});

Deno.test('BuntStore.sync() with sync "always" rejects when the fsync it waits for fails', async () => {
  await using tmp = await tempDir();
  const faults = new Faults();
  const store = await openHooked(tmp.path, {
    sync: "always",
    now,
    wrapFile: faults.wrap,
    onError: faults.onError,
  });
  try {
    await store.save("a", bytes("a1"), expiry);
    faults.syncFault = true;
    const saving = store.save("b", bytes("b1"), expiry);
    const [saved, synced] = await Promise.allSettled([saving, store.sync()]);
    assert.equal(saved.status, "rejected");
    assert.equal(synced.status, "rejected", "sync() resolved");
    assert.match(String(synced.reason), /fsync.*injected EIO/);
    assert.equal(await store.find("b"), undefined);
    faults.clear();
    // Nothing left to fsync: resolves, and works again once the fault clears.
    await store.sync();
    await store.save("c", bytes("c1"), expiry);
    await store.sync();
  } finally {
    await store.close();
  }
  assert.deepEqual(await reopenContents(tmp.path), [["a", "a1"], ["c", "c1"]]);
});

Deno.test('BuntStore.save() with sync "always" shares fsyncs between concurrent saves', async (t) => {
  await t.step("saves issued in one tick", async () => {
    await using tmp = await tempDir();
    const faults = new Faults();
    const store = await openHooked(tmp.path, {
      sync: "always",
      now,
      wrapFile: faults.wrap,
    });
    try {
      const saves = [];
      for (let i = 0; i < 50; i++) {
        saves.push(store.save(`k${i}`, bytes(`v${i}`), expiry));
      }
      await Promise.all(saves);
      console.log(`50 saves in one tick: ${faults.syncCalls} fsync(s)`);
      assert.ok(faults.syncCalls >= 1 && faults.syncCalls < 50);
      assert.equal(store.stats().syncs, faults.syncCalls);
    } finally {
      await store.close();
    }
  });
  await t.step("saves arriving while an fsync runs", async () => {
    await using tmp = await tempDir();
    let syncCalls = 0;
    let writeCalls = 0;
    const gate = Promise.withResolvers<void>();
    const store = await openHooked(tmp.path, {
      sync: "always",
      now,
      wrapFile: (file) =>
        logFile({
          writeSync: (data) => {
            writeCalls++;
            return file.writeSync(data);
          },
          syncData: async () => {
            syncCalls++;
            // The first fsync lasts until every save has been issued.
            await gate.promise;
            await file.syncData();
          },
          truncateSync: (size) => file.truncateSync(size),
        }),
    });
    try {
      const saves = [];
      for (let i = 0; i < 50; i++) {
        saves.push(store.save(`k${i}`, bytes(`v${i}`), expiry));
        await tick();
      }
      assert.equal(syncCalls, 1);
      gate.resolve();
      await Promise.all(saves);
      console.log(
        `50 saves in 50 macrotasks: ${writeCalls} writes, ${syncCalls} fsyncs`,
      );
      // One fsync for the first save, one shared by the 49 that waited.
      assert.equal(syncCalls, 2);
      assert.equal(writeCalls, 50);
      assert.equal(store.size, 50);
    } finally {
      await store.close();
    }
  });
});

Deno.test('BuntStore with sync "everysecond" fsyncs once per housekeeping tick, only when dirty', async () => {
  await using tmp = await tempDir();
  const faults = new Faults();
  // Each tick's fsync then settles before the next macrotask, however
  // loaded the machine.
  faults.instantSync = true;
  const housekeeping = new ManualHousekeeping();
  const store = await openHooked(tmp.path, {
    sync: "everysecond",
    now,
    wrapFile: faults.wrap,
    startHousekeeping: housekeeping.start,
  });
  try {
    assert.ok(housekeeping.running, "open() started no housekeeping");
    await housekeeping.tickAndWait();
    assert.equal(faults.syncCalls, 0, "fsynced a clean log");
    for (let i = 0; i < 20; i++) {
      await store.save(`k${i}`, bytes(`v${i}`), expiry);
    }
    assert.equal(faults.syncCalls, 0, "a save waited for an fsync");
    await housekeeping.tickAndWait();
    assert.equal(faults.syncCalls, 1, "20 dirty saves, one tick");
    await housekeeping.tickAndWait();
    await housekeeping.tickAndWait();
    assert.equal(faults.syncCalls, 1, "fsynced while clean");
    await store.save("k0", bytes("again"), expiry);
    await housekeeping.tickAndWait();
    assert.equal(faults.syncCalls, 2);
  } finally {
    await store.close();
  }
  assert.ok(!housekeeping.running, "close() left the timer running");
  assert.equal(faults.syncCalls, 2, "close() fsynced a clean log");
});

Deno.test("BuntStore.close() fsyncs written data", async (t) => {
  for (const sync of ["never", "everysecond"] as const) {
    await t.step(sync, async () => {
      await using tmp = await tempDir();
      const faults = new Faults();
      const store = await openHooked(tmp.path, {
        sync,
        now,
        wrapFile: faults.wrap,
      });
      try {
        await store.save("a", bytes("1"), expiry);
        assert.equal(faults.syncCalls, 0);
      } finally {
        await store.close();
      }
      assert.equal(faults.syncCalls, 1);
      assert.deepEqual(await reopenContents(tmp.path), [["a", "1"]]);
    });
  }
  await t.step("a failing final fsync rejects close()", async () => {
    await using tmp = await tempDir();
    const faults = new Faults();
    const store = await openHooked(tmp.path, {
      sync: "never",
      now,
      wrapFile: faults.wrap,
      onError: faults.onError,
    });
    await store.save("a", bytes("1"), expiry);
    faults.syncFault = true;
    await assert.rejects(store.close(), /injected EIO/);
  });
});

Deno.test('BuntStore.shrink() does not keep writes rolled back by a failed fsync (sync "always")', async () => {
  await using tmp = await tempDir();
  let hold = false;
  const held: PromiseWithResolvers<void>[] = [];
  const errors: Error[] = [];
  const store = await openHooked(tmp.path, {
    sync: "always",
    now,
    autoShrinkDisabled: true,
    onError: (error) => errors.push(error),
    wrapFile: (file) =>
      logFile({
        writeSync: (data) => file.writeSync(data),
        syncData: async () => {
          if (!hold) return await file.syncData();
          const gate = Promise.withResolvers<void>();
          held.push(gate);
          await gate.promise;
        },
        truncateSync: (size) => file.truncateSync(size),
      }),
  });
  try {
    const saves = [];
    for (let i = 0; i < 2000; i++) {
      saves.push(store.save(`k${i}`, bytes(`v${i}`), expiry));
    }
    saves.push(store.save("victim", bytes("old"), expiry));
    await Promise.all(saves);
    // The next fsync hangs until the test fails it.
    hold = true;
    const victim = store.save("victim", bytes("new"), expiry);
    const rejected = assert.rejects(victim, /fsync/);
    // Its write waits for the end of the turn (setImmediate), which a
    // loaded machine may run after the tick's timer: wait a few turns.
    for (let turns = 0; held.length === 0 && turns < 100; turns++) {
      await tick();
    }
    assert.equal(held.length, 1);
    const shrinking = store.shrink().then(() => "done", (error) => error);
    // Let the snapshot (which sees "new" in memory) reach the temp file.
    let size = -1;
    for (let stable = 0; stable < 3;) {
      await sleep(10);
      // The compaction creates the temp file asynchronously: 0 until then.
      const now = await sizeOrZero(`${tmp.path}.tmp`);
      stable = now === size && now > 0 ? stable + 1 : 0;
      size = now;
    }
    held[0]!.reject(new Error("injected EIO on fsync"));
    await rejected;
    hold = false;
    const outcome = await shrinking;
    assert.deepEqual(await store.find("victim"), bytes("old"));
    // Whether it gave up or not, the compacted log must match memory.
    if (outcome !== "done") assert.ok(store.stats().lastError !== undefined);
    // The store keeps working after the failed fsync and compaction.
    await store.save("after", bytes("ok"), expiry);
  } finally {
    // A failed assertion must not leave close() waiting on a held fsync.
    for (const gate of held) gate.reject(new Error("test over"));
    await store.close();
  }
  const reopened = await BuntStore.open(tmp.path, { now });
  try {
    assert.deepEqual(await reopened.find("victim"), bytes("old"));
    assert.deepEqual(await reopened.find("after"), bytes("ok"));
    assert.equal(reopened.size, 2002);
  } finally {
    await reopened.close();
  }
});

for (const sync of ["always", "everysecond"] as const) {
  Deno.test(`BuntStore keeps memory and file equal to the acknowledged writes under random faults (sync "${sync}")`, async () => {
    const seed = seedFromEnv();
    const random = prng(seed);
    await using tmp = await tempDir();
    const faults = { write: 0, sync: 0, injected: 0 };
    const model = new Map<string, string>();
    let clock = FIXED_NOW;
    const store = await openHooked(tmp.path, {
      sync,
      now: () => clock,
      autoShrinkDisabled: true,
      onError: () => {},
      wrapFile: (file) =>
        logFile({
          writeSync: (data) => {
            if (random() < faults.write) {
              faults.injected++;
              if (random() < 0.5) {
                file.writeSync(data.subarray(0, data.length >> 1));
              }
              throw new Error("injected write failure");
            }
            return file.writeSync(data);
          },
          syncData: async () => {
            await file.syncData();
            if (random() < faults.sync) {
              faults.injected++;
              throw new Error("injected fsync failure");
            }
          },
          truncateSync: (size) => file.truncateSync(size),
        }),
    });
    let resolved = 0;
    let rejected = 0;
    try {
      for (let round = 0; round < 250; round++) {
        faults.write = round % 50 < 40 ? 0.15 : 0;
        faults.sync = sync === "always" && round % 50 < 40 ? 0.15 : 0;
        const issued: { key: string; value: string | undefined }[] = [];
        const pending: Promise<void>[] = [];
        let shrinking: Promise<unknown> | undefined;
        const ticks = 1 + Math.floor(random() * 3);
        for (let t = 0; t < ticks; t++) {
          for (let n = Math.floor(random() * 6); n > 0; n--) {
            const key = `k${Math.floor(random() * 12)}`;
            if (random() < 0.3) {
              issued.push({ key, value: undefined });
              pending.push(store.delete(key));
            } else {
              const value = `r${round}-${t}-${n}`;
              issued.push({ key, value });
              pending.push(store.save(key, bytes(value), expiry));
            }
          }
          if (random() < 0.05) shrinking = store.shrink().catch((e) => e);
          await Promise.resolve();
        }
        const results = await Promise.allSettled(pending);
        await shrinking;
        results.forEach((result, i) => {
          if (result.status === "rejected") return rejected++;
          resolved++;
          const { key, value } = issued[i]!;
          if (value === undefined) model.delete(key);
          else model.set(key, value);
        });
        assert.deepEqual(
          sorted(await contents(store)),
          sorted(model),
          `round ${round}`,
        );
      }
      faults.write = 0;
      faults.sync = 0;
    } catch (error) {
      console.error(`seed ${seed} (rerun with BUNTSTORE_SEED=${seed})`);
      throw error;
    } finally {
      await store.close();
    }
    console.log(
      `seed ${seed}: ${resolved} writes acknowledged, ${rejected} rejected, ` +
        `${faults.injected} faults injected`,
    );
    assert.ok(rejected > 0 && resolved > 0);
    clock += 1;
    const reopened = await BuntStore.open(tmp.path, { now: () => clock });
    try {
      assert.deepEqual(sorted(await contents(reopened)), sorted(model));
    } finally {
      await reopened.close();
    }
  });
}

Deno.test("BuntStore.delete() of a key whose pending delete fails does not report success", async (t) => {
  await t.step('same batch, failing write (sync "everysecond")', async () => {
    await using tmp = await tempDir();
    const faults = new Faults();
    const store = await openHooked(tmp.path, {
      now,
      wrapFile: faults.wrap,
      onError: faults.onError,
    });
    try {
      await store.save("k", bytes("v"), expiry);
      faults.writeFault = "throw";
      const [first, second, pastExpiry] = await Promise.allSettled([
        store.delete("k"),
        store.delete("k"),
        store.save("k", bytes("x"), new Date(FIXED_NOW - 1)),
      ]);
      assert.equal(first.status, "rejected");
      // The key is back, so no later delete of it may have succeeded.
      assert.deepEqual(await store.find("k"), bytes("v"));
      assert.equal(second.status, "rejected");
      assert.equal(pastExpiry.status, "rejected");
    } finally {
      await store.close();
    }
  });
  await t.step('later batch, failing fsync (sync "always")', async () => {
    await using tmp = await tempDir();
    let hold = false;
    const held: PromiseWithResolvers<void>[] = [];
    const store = await openHooked(tmp.path, {
      sync: "always",
      now,
      onError: () => {},
      wrapFile: (file) =>
        logFile({
          writeSync: (data) => file.writeSync(data),
          syncData: async () => {
            if (!hold) return await file.syncData();
            const gate = Promise.withResolvers<void>();
            held.push(gate);
            await gate.promise;
          },
          truncateSync: (size) => file.truncateSync(size),
        }),
    });
    try {
      await store.save("k", bytes("v"), expiry);
      hold = true;
      const first = store.delete("k").then(() => "resolved", () => "rejected");
      await tick();
      assert.equal(held.length, 1);
      const second = store.delete("k").then(() => "resolved", () => "rejected");
      held[0]!.reject(new Error("injected EIO on fsync"));
      hold = false;
      assert.equal(await first, "rejected");
      assert.deepEqual(await store.find("k"), bytes("v"));
      assert.equal(await second, "rejected");
    } finally {
      await store.close();
    }
    const reopened = await BuntStore.open(tmp.path, { now });
    try {
      assert.deepEqual(await reopened.find("k"), bytes("v"));
    } finally {
      await reopened.close();
    }
  });
});

for (const sync of ["always", "everysecond", "never"] as const) {
  Deno.test(`BuntStore keeps the bytes a failed write's undo put back while later writes reuse memory (sync "${sync}")`, async () => {
    await using tmp = await tempDir();
    const faults = new Faults();
    faults.instantSync = true;
    const store = await openHooked(tmp.path, {
      sync,
      now,
      wrapFile: faults.wrap,
      onError: faults.onError,
    });
    try {
      // Same-sized values share a size class, so a wrongly freed cell
      // would be overwritten by the saves that follow.
      const value = (tag: string) => bytes(tag.padEnd(40, "."));
      await store.save("a", value("a1"), expiry);
      await store.save("d", value("d1"), expiry);
      faults.writeFault = "throw";
      const failed = await Promise.allSettled([
        store.save("a", value("a2"), expiry),
        store.save("a", value("a3"), expiry),
        store.delete("a"),
        store.delete("d"),
        store.save("d", value("d2"), expiry),
      ]);
      for (const result of failed) assert.equal(result.status, "rejected");
      faults.clear();
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 50; i++) {
          await store.save(`k${i}`, value(`k${i}-${round}`), expiry);
        }
        await store.delete("k0");
      }
      assert.deepEqual(await store.find("a"), value("a1"));
      assert.deepEqual(await store.find("d"), value("d1"));
      await store.save("a", value("a4"), expiry);
      await store.delete("d");
      for (let i = 0; i < 50; i++) {
        await store.save(`j${i}`, value(`j${i}`), expiry);
      }
      assert.deepEqual(await store.find("a"), value("a4"));
      assert.equal(await store.find("d"), undefined);
      assert.deepEqual(await store.find("k1"), value("k1-2"));
    } finally {
      await store.close();
    }
    const reopened = new Map(await reopenContents(tmp.path));
    assert.equal(reopened.get("a"), "a4".padEnd(40, "."));
    assert.equal(reopened.has("d"), false);
  });
}

/** The size of the file at `path`, or 0 while it does not exist. */
async function sizeOrZero(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return 0;
    throw error;
  }
}
