/**
 * Compaction: data kept through a `shrink()` racing writers, the file
 * shrinking, auto-shrink, the lock on the swapped-in file, and the longest
 * event-loop pause while 200k sessions are compacted (printed, with only a
 * generous sanity bound).
 *
 * Rerun a failure with `BUNTSTORE_SEED=<seed>`.
 */

import assert from "node:assert/strict";
import { BuntStore, StoreLockedError } from "../mod.ts";
import {
  bytes,
  contents,
  FIXED_NOW,
  LATER_SECONDS,
  ManualHousekeeping,
  openHooked,
  prng,
  resp,
  seedFromEnv,
  sorted,
  tempDir,
  tick,
} from "./_fixtures.ts";

const now = () => FIXED_NOW;
const expiry = new Date(FIXED_NOW + 3_600_000);

Deno.test("BuntStore.shrink() keeps writes and deletes made while it runs", async () => {
  const seed = seedFromEnv();
  const random = prng(seed);
  await using tmp = await tempDir();
  const expected = new Map<string, string>();
  const store = await BuntStore.open(tmp.path, {
    now,
    sync: "everysecond",
    autoShrinkDisabled: true,
  });
  try {
    // Every key written three times, so most of the log is garbage.
    for (let round = 0; round < 3; round++) {
      const saves = [];
      for (let i = 0; i < 20_000; i++) {
        const value = `r${round}-${i}-${"x".repeat(i % 50)}`;
        expected.set(`k${i}`, value);
        saves.push(store.save(`k${i}`, bytes(value), expiry));
      }
      await Promise.all(saves);
    }
    const sizeBefore = (await Deno.stat(tmp.path)).size;
    const writtenBefore = store.stats().bytesWritten;
    let settled = false;
    const shrinking = store.shrink().finally(() => settled = true);
    let during = 0;
    while (!settled) {
      const batch = [];
      for (let j = 0; j < 20; j++) {
        const key = `k${Math.floor(random() * 25_000)}`;
        if (random() < 0.3) {
          expected.delete(key);
          batch.push(store.delete(key));
        } else {
          // Some large values, so the log outgrows the catch-up threshold.
          const value = `during-${during}-${
            "y".repeat(random() < 0.3 ? 8_000 : 10)
          }`;
          expected.set(key, value);
          batch.push(store.save(key, bytes(value), expiry));
        }
        during++;
      }
      await Promise.all(batch);
      await tick();
    }
    await shrinking;
    assert.ok(during > 0, "no write raced the compaction");
    assert.equal(store.stats().compactions, 1);
    assert.deepEqual(sorted(await contents(store)), sorted(expected));
    // Writes after the swap go to the new file.
    await store.save("after", bytes("swap"), expiry);
    expected.set("after", "swap");
    const sizeAfter = (await Deno.stat(tmp.path)).size;
    // The new file holds a third of the old one plus, at most, what was
    // appended meanwhile (more on a loaded machine, where more writes race).
    const appended = store.stats().bytesWritten - writtenBefore;
    console.log(
      `${during} writes (${appended} bytes) raced the shrink; file ` +
        `${sizeBefore} -> ${sizeAfter} bytes`,
    );
    assert.ok(
      sizeAfter < sizeBefore / 2 + appended,
      `${sizeBefore} -> ${sizeAfter} with ${appended} appended`,
    );
    assert.equal(store.stats().fileBytes, sizeAfter);
  } catch (error) {
    console.error(`seed ${seed} (rerun with BUNTSTORE_SEED=${seed})`);
    throw error;
  } finally {
    await store.close();
  }
  await assert.rejects(Deno.stat(`${tmp.path}.tmp`), Deno.errors.NotFound);
  const reopened = await BuntStore.open(tmp.path, { now });
  try {
    assert.deepEqual(sorted(await contents(reopened)), sorted(expected));
  } finally {
    await reopened.close();
  }
});

Deno.test("BuntStore.shrink() drops deleted and expired entries from the file", async () => {
  await using tmp = await tempDir();
  let clock = FIXED_NOW;
  const store = await BuntStore.open(tmp.path, { now: () => clock });
  try {
    await store.save("kept", bytes("1"), expiry);
    await store.save("deleted", bytes("2"), expiry);
    await store.save("expires", bytes("3"), new Date(FIXED_NOW + 5_000));
    await store.delete("deleted");
    clock += 10_000;
    await store.shrink();
  } finally {
    await store.close();
  }
  assert.deepEqual(
    await Deno.readFile(tmp.path),
    resp("set", "kept", "1", "ae", String(LATER_SECONDS)),
  );
});

Deno.test("BuntStore compacts automatically past autoShrinkMinSize", async () => {
  await using tmp = await tempDir();
  await using tmpOff = await tempDir();
  const housekeeping = new ManualHousekeeping();
  const options = {
    now,
    sync: "never",
    autoShrinkMinSize: 4096,
    startHousekeeping: housekeeping.start,
  } as const;
  const store = await openHooked(tmp.path, options);
  const disabled = await openHooked(tmpOff.path, {
    ...options,
    autoShrinkDisabled: true,
  });
  try {
    for (let i = 0; i < 200; i++) {
      const value = bytes(`value ${i} ${"z".repeat(40)}`);
      await store.save("a", value, expiry);
      await disabled.save("a", value, expiry);
    }
    const grown = store.stats().fileBytes;
    assert.ok(grown > 8192);
    assert.equal(store.stats().compactions, 0, "compacted before the check");
    // The check runs on housekeeping ticks (one a second in production);
    // this one reaches both stores, and shrink() joins what it started.
    housekeeping.tick();
    assert.ok(store.stats().compacting, "the tick started no compaction");
    assert.ok(!disabled.stats().compacting);
    await store.shrink();
    assert.equal(store.stats().compactions, 1);
    assert.ok(store.stats().fileBytes < 200, `${store.stats().fileBytes}`);
    assert.equal(disabled.stats().compactions, 0);
    assert.equal(disabled.stats().fileBytes, grown);
    assert.deepEqual(
      await store.find("a"),
      bytes(`value 199 ${"z".repeat(40)}`),
    );
  } finally {
    await store.close();
    await disabled.close();
  }
  const reopened = await BuntStore.open(tmp.path, { now });
  try {
    assert.deepEqual(sorted(await contents(reopened)), [
      ["a", `value 199 ${"z".repeat(40)}`],
    ]);
  } finally {
    await reopened.close();
  }
});

Deno.test("BuntStore.shrink() keeps the lock on the swapped-in file", async () => {
  await using tmp = await tempDir();
  const store = await BuntStore.open(tmp.path, { now });
  try {
    for (let i = 0; i < 100; i++) {
      await store.save(`k${i % 10}`, bytes(`v${i}`), expiry);
    }
    await assert.rejects(BuntStore.open(tmp.path), StoreLockedError);
    const inodeBefore = (await Deno.stat(tmp.path)).ino;
    await store.shrink();
    assert.notEqual((await Deno.stat(tmp.path)).ino, inodeBefore);
    await assert.rejects(BuntStore.open(tmp.path), StoreLockedError);
    await store.shrink();
    await assert.rejects(BuntStore.open(tmp.path), StoreLockedError);
    await store.save("k0", bytes("last"), expiry);
  } finally {
    await store.close();
  }
  const reopened = await BuntStore.open(tmp.path, { now });
  try {
    assert.equal(reopened.size, 10);
    assert.deepEqual(await reopened.find("k0"), bytes("last"));
  } finally {
    await reopened.close();
  }
});

Deno.test("BuntStore.shrink() of 200k sessions keeps the event loop responsive", async () => {
  await using tmp = await tempDir();
  const sessions = 200_000;
  const value = "s".repeat(64);
  const ae = String(LATER_SECONDS);
  // ASCII records built as text: much faster than encoding each one.
  const records: string[] = [];
  for (let i = 0; i < sessions; i++) {
    const token = `${i}`.padStart(43, "t");
    records.push(
      `*5\r\n$3\r\nset\r\n$43\r\n${token}\r\n$64\r\n${value}\r\n` +
        `$2\r\nae\r\n$${ae.length}\r\n${ae}\r\n`,
    );
  }
  await Deno.writeTextFile(tmp.path, records.join(""));
  const openStart = performance.now();
  const store = await BuntStore.open(tmp.path, { now, sync: "everysecond" });
  const openMs = performance.now() - openStart;
  try {
    assert.equal(store.size, sessions);
    let longest = 0;
    let longestSave = 0;
    let saves = 0;
    let done = false;
    const probe = (async () => {
      let last = performance.now();
      while (!done) {
        await tick();
        const at = performance.now();
        longest = Math.max(longest, at - last);
        last = at;
      }
    })();
    const writer = (async () => {
      while (!done) {
        const started = performance.now();
        await store.save(`w${saves++}`, bytes("during"), expiry);
        longestSave = Math.max(longestSave, performance.now() - started);
        await tick();
      }
    })();
    const shrinkStart = performance.now();
    await store.shrink().finally(() => done = true);
    const shrinkMs = performance.now() - shrinkStart;
    await Promise.all([probe, writer]);
    console.log(
      `200k sessions: reopen ${openMs.toFixed(0)} ms, shrink ` +
        `${shrinkMs.toFixed(0)} ms, longest event-loop pause ` +
        `${longest.toFixed(1)} ms, longest save during shrink ` +
        `${longestSave.toFixed(1)} ms (${saves} saves)`,
    );
    // A sanity bound for a shared 2-core machine, not a benchmark.
    assert.ok(longest < 200, `event loop blocked for ${longest} ms`);
    assert.equal(store.size, sessions + saves);
  } finally {
    await store.close();
  }
});
