/**
 * While the `"everysecond"` fsync runs, a write(2) to the log can wait for
 * it in the kernel (12–22 ms measured under churn at 1M sessions), so the
 * log is written off the event loop until the fsync is over. These tests
 * hold an fsync open through the `wrapFile` hook and check which write
 * path each batch takes, what a failed write undoes, and what survives.
 */

import assert from "node:assert/strict";
import type { LogFile } from "../aof.ts";
import type { BuntStore } from "../mod.ts";
import type { StoreHooks } from "../_store/hooks.ts";
import {
  bytes,
  contents,
  FIXED_NOW,
  ManualHousekeeping,
  openHooked,
  sorted,
  tempDir,
  tick,
} from "./_fixtures.ts";

const now = () => FIXED_NOW;
const expiry = new Date(FIXED_NOW + 3_600_000);

/** A log whose fsyncs wait for `release()` and whose calls are counted. */
class HeldFsync {
  syncWrites = 0;
  asyncWrites = 0;
  /**
   * Set to make the next async write wait for this promise, then write
   * half of its bytes and fail.
   */
  failNextAsyncWrite: Promise<void> | undefined;
  #gate = Promise.withResolvers<void>();
  #holding = false;
  /** Resolves when the held fsync has really finished, after release. */
  #heldSyncDone = Promise.withResolvers<void>();
  errors: Error[] = [];

  readonly wrap = (file: Deno.FsFile): LogFile => ({
    writeSync: (data) => {
      this.syncWrites++;
      return file.writeSync(data);
    },
    write: async (data) => {
      this.asyncWrites++;
      const failAfter = this.failNextAsyncWrite;
      if (failAfter !== undefined) {
        this.failNextAsyncWrite = undefined;
        await failAfter;
        await file.write(data.subarray(0, data.length >> 1));
        throw new Error("injected EIO after a partial write");
      }
      return await file.write(data);
    },
    syncData: async () => {
      const held = this.#holding;
      if (held) await this.#gate.promise;
      await file.syncData();
      if (held) this.#heldSyncDone.resolve();
    },
    truncateSync: (size) => file.truncateSync(size),
  });

  readonly onError = (error: Error) => {
    this.errors.push(error);
  };

  /** Makes fsyncs wait until {@linkcode release}. */
  hold(): void {
    this.#holding = true;
    this.#gate = Promise.withResolvers<void>();
    this.#heldSyncDone = Promise.withResolvers<void>();
  }

  /**
   * Releases the held fsync and waits until it is over and the store has
   * seen it end: a real fsync on a loaded machine outlasts one tick.
   */
  async releaseAndWait(): Promise<void> {
    this.release();
    await this.#heldSyncDone.promise;
    await tick();
  }

  release(): void {
    this.#holding = false;
    this.#gate.resolve();
  }
}

/**
 * Opens an `"everysecond"` store on a {@linkcode HeldFsync} log, saves "a",
 * starts an fsync that stays open until released, and runs `body`; then
 * closes the store and returns what a reopen finds.
 */
async function withFsyncHeld(
  body: (store: BuntStore, log: HeldFsync, path: string) => Promise<void>,
  compactionPhase?: StoreHooks["compactionPhase"],
): Promise<[string, string][]> {
  await using tmp = await tempDir();
  const log = new HeldFsync();
  const clock = new ManualHousekeeping();
  const store = await openHooked(tmp.path, {
    sync: "everysecond",
    now,
    wrapFile: log.wrap,
    onError: log.onError,
    startHousekeeping: clock.start,
    ...(compactionPhase === undefined ? {} : { compactionPhase }),
  });
  try {
    await store.save("a", bytes("1"), expiry);
    assert.equal(log.syncWrites, 1, "a save with no fsync running: writeSync");
    log.hold();
    await clock.tickAndWait();
    await body(store, log, tmp.path);
  } finally {
    log.release();
    await store.close();
  }
  await using reopened = await openHooked(tmp.path, { now });
  return sorted(await contents(reopened));
}

Deno.test("BuntStore.save() writes off the event loop while the everysecond fsync runs", async () => {
  const reopened = await withFsyncHeld(async (store, log) => {
    await Promise.all([
      store.save("b", bytes("2"), expiry),
      store.save("c", bytes("3"), expiry),
    ]);
    assert.equal(log.syncWrites, 1, "no writeSync while the fsync runs");
    assert.equal(log.asyncWrites, 1, "one async write for the turn's batch");
    await log.releaseAndWait();
    await store.save("d", bytes("4"), expiry);
    assert.equal(log.syncWrites, 2, "writeSync again once the fsync is over");
  });
  assert.deepEqual(reopened, [
    ["a", "1"],
    ["b", "2"],
    ["c", "3"],
    ["d", "4"],
  ]);
});

Deno.test("BuntStore.save() keeps batches written off the event loop in order", async () => {
  const reopened = await withFsyncHeld(async (store, log) => {
    // One batch per turn; each waits for the one before it.
    const saves = [];
    for (let i = 0; i < 5; i++) {
      saves.push(store.save("k", bytes(`v${i}`), expiry));
      await tick();
    }
    log.release();
    await Promise.all(saves);
    assert.equal(log.syncWrites, 1);
  });
  assert.deepEqual(reopened, [["a", "1"], ["k", "v4"]]);
});

Deno.test("BuntStore.save() undoes a failed off-loop write and every change after it", async () => {
  const reopened = await withFsyncHeld(async (store, log) => {
    const writeFails = Promise.withResolvers<void>();
    log.failNextAsyncWrite = writeFails.promise;
    const failed = store.save("a", bytes("lost"), expiry);
    await tick();
    assert.equal(log.asyncWrites, 1, "the failing write is in flight");
    // Made while the failing write is in flight, on top of its change.
    const after = store.save("a", bytes("lost too"), expiry);
    await tick();
    writeFails.resolve();
    const results = await Promise.allSettled([failed, after]);
    assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
    assert.match(
      String((results[0] as PromiseRejectedResult).reason),
      /Cannot write to store at ".*s\.db": injected EIO after a partial write; the failed writes were rolled back/,
    );
    assert.equal(log.errors.length, 1);
    assert.deepEqual(sorted(await contents(store)), [["a", "1"]]);
    log.release();
    await store.save("b", bytes("2"), expiry);
  });
  assert.deepEqual(reopened, [["a", "1"], ["b", "2"]]);
});

Deno.test("BuntStore.sync() covers a write still in flight off the event loop", async () => {
  await withFsyncHeld(async (store, log, path) => {
    const saved = store.save("b", bytes("2"), expiry);
    const synced = store.sync();
    log.release();
    await Promise.all([saved, synced]);
    assert.equal(store.stats().fileBytes, (await Deno.stat(path)).size);
    assert.equal(log.asyncWrites, 1);
  });
});

Deno.test("BuntStore.shrink() gives up when an off-loop write it read fails", async () => {
  const writeFails = Promise.withResolvers<void>();
  const reopened = await withFsyncHeld(async (store, log) => {
    log.failNextAsyncWrite = writeFails.promise;
    const lost = store.save("a", bytes("lost"), expiry);
    const shrinking = store.shrink();
    await assert.rejects(lost, /injected EIO/);
    log.release();
    await assert.rejects(shrinking, /writes were rolled back/);
    assert.deepEqual(sorted(await contents(store)), [["a", "1"]]);
  }, async (phase) => {
    // The snapshot has read "lost"; now its write fails and is undone.
    if (phase !== "rounds") return;
    writeFails.resolve();
    await tick();
  });
  assert.deepEqual(reopened, [["a", "1"]]);
});
