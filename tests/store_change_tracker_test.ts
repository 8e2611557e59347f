/**
 * The compaction's change tracking: each key noted once, across the sets
 * it splits into, and only while tracking.
 */

import assert from "node:assert/strict";
import { ChangeTracker } from "../_store/change_tracker.ts";

const EMPTY = new Uint8Array(0);

Deno.test("ChangeTracker notes each key written once, past one set's size", () => {
  const tracker = new ChangeTracker();
  tracker.set("before", EMPTY, Infinity);
  tracker.track();
  const keys = 150_000;
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < keys; i++) {
      if (i % 3 === 0) tracker.del(`k${i}`);
      else tracker.set(`k${i}`, EMPTY, Infinity);
      tracker.reset();
    }
  }
  assert.equal(tracker.changed, keys);
  const sets = tracker.take();
  assert.ok(sets.length > 1, "all keys in one set");
  const all = sets.flatMap((set) => [...set]);
  assert.equal(all.length, keys);
  assert.equal(new Set(all).size, keys);
  assert.ok(!all.includes("before"));
  // take() starts afresh; stop() ends the noting.
  assert.equal(tracker.changed, 0);
  tracker.del("k1");
  assert.deepEqual(tracker.take().map((set) => [...set]), [["k1"]]);
  tracker.stop();
  tracker.del("k2");
  assert.equal(tracker.changed, 0);
  assert.deepEqual(tracker.take(), []);
});
