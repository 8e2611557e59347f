/**
 * Compaction under writers that never stop: it must finish while they
 * write, whatever they write per event-loop turn, and keep every write.
 * Progress is counted in the writers' turns, never in wall time.
 */

import assert from "node:assert/strict";
import { BuntStore } from "../mod.ts";
import { contents, FIXED_NOW, sorted, tempDir, tick } from "./_fixtures.ts";

const now = () => FIXED_NOW;
const expiry = new Date(FIXED_NOW + 3_600_000);
const decoder = new TextDecoder();

/** Keys the writer cycles through: more than a compaction's final batch. */
const KEYS = 6000;
/** Saves per writer turn: about 1.2 MB, more than a turn of tail copying. */
const SAVES_PER_TURN = 600;
/** Turns after which the writer gives up waiting for the compaction. */
const MAX_TURNS = 400;

function valueOf(key: number, turn: number): Uint8Array {
  const bytes = new Uint8Array(2048).fill(key % 251);
  new DataView(bytes.buffer).setUint32(0, turn);
  return bytes;
}

Deno.test("BuntStore.shrink() finishes while writers change keys on every turn", async () => {
  await using tmp = await tempDir();
  const expected = new Map<string, Uint8Array>();
  const store = await BuntStore.open(tmp.path, {
    now,
    sync: "never",
    autoShrinkDisabled: true,
  });
  let turns = 0;
  try {
    for (let k = 0; k < KEYS; k++) {
      expected.set(`k${k}`, valueOf(k, 0));
      await store.save(`k${k}`, valueOf(k, 0), expiry);
    }
    let done = false;
    const shrinking = store.shrink().finally(() => done = true);
    let next = 0;
    while (!done && turns < MAX_TURNS) {
      turns++;
      const saves = [];
      for (let s = 0; s < SAVES_PER_TURN; s++) {
        const k = next++ % KEYS;
        // Every tenth write is a delete, so the final state has holes.
        if (s % 10 === 9) {
          expected.delete(`k${k}`);
          saves.push(store.delete(`k${k}`));
        } else {
          expected.set(`k${k}`, valueOf(k, turns));
          saves.push(store.save(`k${k}`, valueOf(k, turns), expiry));
        }
      }
      await Promise.all(saves);
      await tick();
    }
    const finishedWhileWriting = done;
    await shrinking;
    console.log(`compaction finished after ${turns} writer turns`);
    assert.ok(
      finishedWhileWriting,
      `the compaction had not finished after ${turns} turns of writes`,
    );
    assert.equal(store.stats().compactions, 1);
    // The compacted log, which the next auto-compaction is measured
    // against, follows the live records rather than the writes. Every key
    // changes during this compaction, so many are written twice (about 2x;
    // the tail copy reached 40x before giving up).
    const live = expected.size * (2048 + 80);
    const { lastCompactedBytes } = store.stats();
    console.log(`compacted to ${lastCompactedBytes} bytes, ${live} live`);
    assert.ok(lastCompactedBytes <= 3 * live, `${lastCompactedBytes}`);
    assert.deepEqual(
      sorted(await contents(store)),
      sorted(new Map([...expected].map(([k, v]) => [k, decoder.decode(v)]))),
    );
  } finally {
    await store.close();
  }
  const reopened = await BuntStore.open(tmp.path, { now });
  try {
    assert.equal(reopened.size, expected.size);
    for (const [key, value] of expected) {
      assert.deepEqual(await reopened.find(key), value, key);
    }
  } finally {
    await reopened.close();
  }
});
