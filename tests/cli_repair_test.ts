import assert from "node:assert/strict";
import { BuntStore } from "../store.ts";
import { CorruptLogError } from "../errors.ts";
import { encode, HOUR, json, NOW, run, soundLog } from "./_cli_helpers.ts";
import { bytes, concat, tempDir } from "./_fixtures.ts";

/** Five good records, one damaged record, five more good records. */
function damagedMiddle(): {
  before: Uint8Array;
  damaged: Uint8Array;
  after: Uint8Array;
  log: Uint8Array;
} {
  const before = soundLog(5);
  const damaged = encode((r) => r.set("bad", bytes("xxxxxxxx"), NOW + HOUR));
  damaged[damaged.indexOf(0x78) + 9] = 0x21; // the CR after the value
  const after = encode((records) => {
    for (let i = 0; i < 4; i++) {
      records.set(`later${i}`, bytes(`v${i}`), NOW + HOUR);
    }
    records.del("tok0");
  });
  return { before, damaged, after, log: concat(before, damaged, after) };
}

Deno.test("verify exits 1 naming the offset of the first damaged record", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const { before, damaged, log } = damagedMiddle();
  await Deno.writeFile(path, log);
  const result = await run(["verify", path]);
  assert.equal(result.code, 1);
  assert.match(
    result.stderr,
    new RegExp(
      `is damaged at byte ${before.length}: bulk string not followed by CRLF; to keep every intact record, run: deno run --allow-read --allow-write jsr:@x/buntstore/cli repair --skip "`,
    ),
  );
  assert.equal(result.stderr.trim().split("\n").length, 1);
  const report = json(await run(["verify", "--json", path]));
  assert.equal(report.ok, false);
  assert.deepEqual(report.damaged, [{
    offset: before.length,
    length: damaged.length,
    reason: "bulk string not followed by CRLF",
  }]);
  assert.equal(report.records, 10);
  assert.deepEqual(await Deno.readFile(path), log);
});

Deno.test("repair backs up, cuts at the first damage and lists what it dropped", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const { before, log } = damagedMiddle();
  await Deno.writeFile(path, log);
  const result = await run(["repair", "--json", path]);
  assert.equal(result.code, 0, result.stderr);
  const report = json(result);
  assert.equal(report.mode, "truncate");
  assert.equal(report.backup, `${path}.bak`);
  assert.equal(report.bytesAfter, before.length);
  assert.equal(report.recordsKept, 5);
  assert.deepEqual(report.droppedRecords, {
    count: 5,
    sets: 4,
    dels: 1,
    keys: ["later0", "later1", "later2", "later3", "tok0"],
  });
  assert.deepEqual(await Deno.readFile(path), before);
  assert.deepEqual(await Deno.readFile(`${path}.bak`), log);
  assert.equal((await run(["verify", path])).code, 0);
  // A second backup never overwrites the first.
  await Deno.writeFile(path, log);
  const text = await run(["repair", path]);
  assert.match(text.stdout, /backup written to .*\.bak\.1\n/);
  assert.match(
    text.stdout,
    /dropped 5 complete records after the damage \(4 set, 1 del\) for keys: later0, later1/,
  );
  assert.deepEqual(await Deno.readFile(`${path}.bak.1`), log);
});

Deno.test("repair --skip drops only the damaged record and keeps what follows", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const { before, damaged, after, log } = damagedMiddle();
  await Deno.writeFile(path, log);
  const result = await run(["repair", "--skip", "--json", path]);
  assert.equal(result.code, 0, result.stderr);
  const report = json(result);
  assert.equal(report.mode, "skip");
  assert.deepEqual(report.damaged, [{
    offset: before.length,
    length: damaged.length,
    reason: "bulk string not followed by CRLF",
  }]);
  assert.equal(report.recordsKept, 10);
  assert.equal(report.bytesAfter, log.length - damaged.length);
  assert.deepEqual(await Deno.readFile(path), concat(before, after));
  assert.deepEqual(await Deno.readFile(`${path}.bak`), log);
  assert.equal(json(await run(["stats", "--json", path])).liveSessions, 8);
  const text = await run(["repair", "--skip", path]);
  assert.match(text.stdout, /nothing to repair/);
});

Deno.test("repair drops a torn tail and does nothing to a sound log", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const sound = soundLog(4);
  for (const skip of [false, true]) {
    await Deno.writeFile(path, concat(sound, bytes("*3\r\n$3\r\nset\r\n$2")));
    const args = skip
      ? ["repair", "--skip", "--json", path]
      : ["repair", "--json", path];
    const report = json(await run(args));
    assert.deepEqual(report.tornTail, { offset: sound.length, length: 15 });
    assert.deepEqual(report.damaged, []);
    assert.deepEqual(await Deno.readFile(path), sound);
    await Deno.remove(`${path}.bak`);
  }
  const result = await run(["repair", path]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /nothing to repair; the file was not changed/);
  await assert.rejects(Deno.stat(`${path}.bak`), Deno.errors.NotFound);
});

Deno.test("repair --skip drops NUL padding, which truncating mode leaves alone", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const sound = soundLog(3);
  const cut = soundLog(1).length;
  const padded = concat(
    sound.subarray(0, cut),
    new Uint8Array(7),
    sound.subarray(cut),
  );
  assert.equal(sound[cut], 0x2a, "the padding sits between records");
  await Deno.writeFile(path, padded);
  assert.match((await run(["repair", path])).stdout, /nothing to repair/);
  const report = json(await run(["repair", "--skip", "--json", path]));
  assert.equal(report.nulBytesDropped, 7);
  assert.deepEqual(await Deno.readFile(path), sound);
});

Deno.test("repair handles a length that runs past later records, and damage at either end", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const first = encode((r) => r.set("first", bytes("1"), NOW + HOUR));
  const rest = soundLog(3);
  // "$1\r\n1" becomes "$9999\r\n1": the value runs past the end of the file.
  const text = new TextDecoder().decode(first).replace(
    "$1\r\n1\r\n",
    "$9999\r\n1\r\n",
  );
  await Deno.writeFile(path, concat(bytes(text), rest));
  const verify = json(await run(["verify", "--json", path]));
  assert.equal(verify.ok, false);
  assert.deepEqual(verify.damaged, [{
    offset: 0,
    length: bytes(text).length,
    reason: `record length runs past complete records at byte ${
      bytes(text).length
    }`,
  }]);
  await run(["repair", "--skip", path]);
  assert.deepEqual(await Deno.readFile(path), rest);
  // A complete but meaningless last record is damage, not a torn write.
  const bogus = bytes("*2\r\n$3\r\nxyz\r\n$1\r\nk\r\n");
  await Deno.writeFile(path, concat(rest, bogus));
  const last = json(await run(["verify", "--json", path]));
  assert.deepEqual(last.damaged, [{
    offset: rest.length,
    length: bogus.length,
    reason: 'unknown command "xyz" with 2 parts',
  }]);
  assert.equal((await run(["repair", "-q", path])).code, 0);
  assert.deepEqual(await Deno.readFile(path), rest);
});

Deno.test("verify flags a length running over complete records even when damage follows them", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const good = soundLog(2);
  const runaway = bytes("*3\r\n$3\r\nset\r\n$1\r\nk\r\n$99999\r\nv\r\n");
  const middle = soundLog(3);
  const bogus = bytes("*2\r\n$3\r\nxyz\r\n$1\r\nk\r\n");
  await Deno.writeFile(path, concat(good, runaway, middle, bogus));
  // The engine agrees (before e854268 it cut this as a torn tail).
  await assert.rejects(
    BuntStore.open(path),
    (error) => error instanceof CorruptLogError && error.offset === good.length,
  );
  const report = json(await run(["verify", "--json", path]));
  assert.equal(report.ok, false);
  assert.deepEqual(
    (report.damaged as { offset: number; length: number }[]).map((
      { offset, length },
    ) => [offset, length]),
    [
      [good.length, runaway.length],
      [good.length + runaway.length + middle.length, bogus.length],
    ],
  );
  await run(["repair", "--skip", "-q", path]);
  assert.deepEqual(await Deno.readFile(path), concat(good, middle));
});
