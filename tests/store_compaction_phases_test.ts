/**
 * Compaction racing writes at each of its phases: saves, overwrites,
 * deletes, owner changes and expiries made at that point, and failed
 * writes and fsyncs there, all end with memory equal to the acknowledged
 * writes and to the reopened file.
 */

import assert from "node:assert/strict";
import { BuntStore } from "../mod.ts";
import type { CompactionPhase } from "../_store/hooks.ts";
import {
  bytes,
  contents,
  FIXED_NOW,
  logFile,
  openHooked,
  sorted,
  tempDir,
} from "./_fixtures.ts";

const PHASES: CompactionPhase[] = [
  "snapshot",
  "rounds",
  "synced",
  "paused",
  "renamed",
  "swapped",
];
/** More keys than a compaction writes with writes paused. */
const FILLER = 2500;

/** What the store must hold: the acknowledged writes. */
class Model {
  readonly values = new Map<string, string>();
  readonly owners = new Map<string, string>();
  readonly #pending: Promise<void>[] = [];
  readonly #expired = new Set<string>();

  /** Issues a save and applies it once acknowledged. */
  save(
    store: BuntStore,
    key: string,
    value: string,
    expiry: Date,
    owner?: string,
  ): void {
    const options = owner === undefined ? undefined : { owner };
    this.#track(store.save(key, bytes(value), expiry, options), () => {
      if (this.#expired.has(key)) return;
      this.values.set(key, value);
      if (owner === undefined) this.owners.delete(key);
      else this.owners.set(key, owner);
    });
  }

  /** Issues a delete and applies it once acknowledged. */
  delete(store: BuntStore, key: string): void {
    this.#track(store.delete(key), () => {
      this.values.delete(key);
      this.owners.delete(key);
    });
  }

  /** Notes that `keys` have expired (a later acknowledgement included). */
  expire(...keys: string[]): void {
    for (const key of keys) {
      this.#expired.add(key);
      this.values.delete(key);
    }
  }

  /** Waits for every write; returns how many were rejected. */
  async settle(): Promise<number> {
    const results = await Promise.allSettled(this.#pending.splice(0));
    return results.filter((r) => r.status === "rejected").length;
  }

  /** Asserts that `store` holds exactly the model, owners included. */
  async check(store: BuntStore, now: number, when: string): Promise<void> {
    assert.deepEqual(sorted(await contents(store)), sorted(this.values), when);
    for (const owner of ["ada", "bob"]) {
      const keys = [...(await store.findByOwner(owner)).keys()].sort();
      const want = [...this.owners].filter(([k, o]) =>
        o === owner && this.values.has(k)
      ).map(([k]) => k).sort();
      assert.deepEqual(keys, want, `${when}: ${owner}'s sessions`);
    }
    assert.ok(now > 0);
  }

  #track(write: Promise<void>, apply: () => void): void {
    // Applied in order of acknowledgement; keys of one phase are distinct.
    const applied = write.then(apply);
    // Rejections are counted by settle(); not unhandled meanwhile.
    applied.catch(() => {});
    this.#pending.push(applied);
  }
}

/** Checks the model against the log at `path`, reopened. */
async function checkReopened(
  path: string,
  model: Model,
  now: number,
): Promise<void> {
  await using reopened = await BuntStore.open(path, { now: () => now });
  await model.check(reopened, now, "reopened");
}

/** A store with a manual clock and a few entries of every kind. */
async function setUp(
  path: string,
  hooks: Parameters<typeof openHooked>[1],
  model: Model,
  clock: { now: number },
): Promise<BuntStore> {
  const store = await openHooked(path, {
    now: () => clock.now,
    autoShrinkDisabled: true,
    ...hooks,
  });
  const hour = new Date(clock.now + 3_600_000);
  for (let i = 0; i < 50; i++) model.save(store, `base${i}`, `b${i}`, hour);
  // Garbage to compact away.
  for (let i = 0; i < 50; i++) model.save(store, `base${i}`, `c${i}`, hour);
  model.save(store, "short", "expires", new Date(clock.now + 2_000));
  model.save(store, "owned", "o", hour, "bob");
  model.save(store, "switch", "s", hour, "bob");
  await model.settle();
  return store;
}

/** Every kind of change, on keys of their own for `phase`. */
function race(
  store: BuntStore,
  model: Model,
  clock: { now: number },
  phase: string,
): void {
  const hour = new Date(clock.now + 3_600_000);
  model.save(store, `new-${phase}`, "n", hour);
  model.save(store, "base1", `over-${phase}`, hour);
  model.delete(store, "base2");
  model.save(store, `owned-${phase}`, "a", hour, "ada");
  model.save(store, "switch", `to-ada-${phase}`, hour, "ada");
  model.delete(store, "owned");
  model.save(store, `brief-${phase}`, "b", new Date(clock.now + 10_000));
  model.save(store, `fleeting-${phase}`, "f", new Date(clock.now + 1_000));
  // Past the expiry of "short" and "fleeting", not of "brief".
  clock.now += 2_500;
  model.expire("short", `fleeting-${phase}`);
  for (let i = 0; i < FILLER; i++) {
    model.save(store, `fill${i}`, `${phase}-${i}`, hour);
  }
}

for (const sync of ["everysecond", "always"] as const) {
  Deno.test(`BuntStore.shrink() keeps writes, deletes and expiries made at each phase (sync "${sync}")`, async (t) => {
    for (const at of PHASES) {
      await t.step(at, async () => {
        await using tmp = await tempDir();
        const model = new Model();
        const clock = { now: FIXED_NOW };
        let raced = false;
        const store = await setUp(
          tmp.path,
          {
            sync,
            compactionPhase: (phase) => {
              if (phase !== at) return;
              raced = true;
              race(store, model, clock, phase);
            },
          },
          model,
          clock,
        );
        try {
          await store.shrink();
          assert.ok(raced, `no compaction reached ${at}`);
          assert.equal(await model.settle(), 0);
          await model.check(store, clock.now, "in memory");
        } finally {
          await store.close();
        }
        await checkReopened(tmp.path, model, clock.now);
      });
    }
  });
}

for (const fault of ["write", "fsync"] as const) {
  Deno.test(`BuntStore.shrink() with a failed ${fault} at each phase keeps memory and file equal`, async (t) => {
    for (const at of PHASES) {
      await t.step(at, async () => {
        await using tmp = await tempDir();
        const model = new Model();
        const clock = { now: FIXED_NOW };
        const failing = { writes: 0, syncs: 0 };
        const errors: Error[] = [];
        const store = await setUp(
          tmp.path,
          {
            sync: "always",
            onError: (error) => errors.push(error),
            wrapFile: (file) =>
              logFile({
                writeSync: (data) => {
                  if (failing.writes > 0 && failing.writes-- > 0) {
                    throw new Error("injected write failure");
                  }
                  return file.writeSync(data);
                },
                syncData: async () => {
                  await file.syncData();
                  if (failing.syncs > 0 && failing.syncs-- > 0) {
                    throw new Error("injected fsync failure");
                  }
                },
                truncateSync: (size) => file.truncateSync(size),
              }),
            compactionPhase: (phase) => {
              if (phase !== at) return;
              if (fault === "write") failing.writes = 1;
              else failing.syncs = 1;
              race(store, model, clock, phase);
            },
          },
          model,
          clock,
        );
        try {
          const outcome = await store.shrink().then(() => "done", (e) => e);
          const rejected = await model.settle();
          assert.ok(rejected > 0, "no write failed");
          assert.ok(errors.length > 0);
          // A failed fsync before the swap makes the compaction give up.
          if (outcome !== "done") {
            assert.match(String(outcome), /rolled back/);
          }
          await model.check(store, clock.now, "in memory");
          model.save(store, "after", "ok", new Date(clock.now + 60_000));
          assert.equal(await model.settle(), 0);
        } finally {
          await store.close();
        }
        await checkReopened(tmp.path, model, clock.now);
      });
    }
  });
}
