/**
 * BuntStore's owner index on disk: it survives a reopen and a compaction,
 * and a log cut at any byte never leaves a live session missing from its
 * owner's index.
 */

import assert from "node:assert/strict";
import { BuntStore } from "../mod.ts";
import { bytes, FIXED_NOW, tempDir } from "./_fixtures.ts";
import { json, run } from "./_cli_helpers.ts";

const now = () => FIXED_NOW;
const HOUR = 3_600_000;
const later = (ms = HOUR) => new Date(FIXED_NOW + ms);
const decoder = new TextDecoder();

/** Owner → sorted keys, as findByOwner reports them. */
async function ownersOf(
  store: BuntStore,
  owners: string[],
): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const owner of owners) {
    result[owner] = [...(await store.findByOwner(owner)).keys()].sort();
  }
  return result;
}

const OWNERS = ["ada", "bob", "c:d 7/é"];

/** Saves sessions whose data is their owner's name, moves and deletes some. */
async function writeHistory(store: BuntStore): Promise<void> {
  for (let i = 0; i < 6; i++) {
    const owner = OWNERS[i % OWNERS.length]!;
    await store.save(`s${i}`, bytes(owner), later(), { owner });
  }
  await store.save("s0", bytes("bob"), later(2 * HOUR), {
    owner: "bob",
    previousOwner: "ada",
  });
  await store.delete("s1");
  await store.save("s2", bytes(""), later(), { previousOwner: "c:d 7/é" });
  await store.save("plain", bytes(""), later());
}

Deno.test("BuntStore.findByOwner() survives a reopen and a compaction", async () => {
  await using dir = await tempDir();
  const path = dir.path;
  const expected = { ada: ["s3"], bob: ["s0", "s4"], "c:d 7/é": ["s5"] };
  {
    await using store = await BuntStore.open(path, { now });
    await writeHistory(store);
    assert.deepEqual(await ownersOf(store, OWNERS), expected);
  }
  {
    await using store = await BuntStore.open(path, { now });
    assert.deepEqual(await ownersOf(store, OWNERS), expected);
    assert.equal(store.size, 6);
    assert.equal((await store.all()).size, 6);
    await store.shrink();
  }
  await using store = await BuntStore.open(path, { now });
  assert.deepEqual(await ownersOf(store, OWNERS), expected);
  assert.equal((await store.all()).size, 6);
});

Deno.test("BuntStore cut at every byte never loses a live session from its owner's index", async () => {
  await using dir = await tempDir();
  const path = dir.path;
  {
    await using store = await BuntStore.open(path, { now, sync: "always" });
    await writeHistory(store);
  }
  const log = await Deno.readFile(path);
  const cut = `${dir.dir}/cut.db`;
  for (let size = 0; size <= log.length; size++) {
    await Deno.writeFile(cut, log.subarray(0, size));
    await using store = await BuntStore.open(cut, { now });
    for (const [key, data] of await store.all()) {
      const owner = decoder.decode(data);
      if (owner === "") continue;
      const found = await store.findByOwner(owner);
      assert.ok(found.has(key), `${key} of ${owner} missing at ${size} bytes`);
    }
  }
});

Deno.test("BuntStore refuses a token that starts with the owner index's prefix", async () => {
  await using store = await BuntStore.open(":memory:");
  await assert.rejects(
    store.save("\u0000owner\u00003:adas1", bytes("x"), later()),
    RangeError,
  );
  assert.equal(store.size, 0);
});

Deno.test("cli stats counts owner index keys apart from sessions", async () => {
  await using dir = await tempDir();
  {
    await using store = await BuntStore.open(dir.path, { now });
    await writeHistory(store);
  }
  const result = await run(["stats", "--json", dir.path], { now: FIXED_NOW });
  assert.equal(result.code, 0);
  const report = json(result);
  assert.equal(report.liveSessions, 6);
  assert.equal(report.ownerIndexKeys, 4);
  assert.equal(report.expiredPresent, 0);
});
