import assert from "node:assert/strict";
import { RecordWriter } from "../aof.ts";
import { HOUR, json, NOW, run } from "./_cli_helpers.ts";
import { tempDir } from "./_fixtures.ts";

const SESSIONS = 100_000;

/** The session workload: 43-character tokens, 256-byte values, 1 h TTL. */
function sessionLog(): Uint8Array {
  const records = new RecordWriter();
  const value = new Uint8Array(256);
  for (let i = 0; i < SESSIONS; i++) {
    value[i % 256] = i & 0xff;
    records.set(
      `${String(i).padStart(10, "0")}${"s".repeat(33)}`,
      value,
      NOW + HOUR / 2,
    );
  }
  return records.view().slice();
}

Deno.test("100k sessions: stats, verify with a progress bar, dump and load byte for byte", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/big.db`;
  const original = sessionLog();
  await Deno.writeFile(path, original);
  const stats = json(await run(["stats", "--json", path]));
  assert.equal(stats.liveSessions, SESSIONS);
  assert.equal(stats.compactedBytes, original.length);
  assert.equal(stats.reclaimableBytes, 0);
  assert.deepEqual(stats.expiryHistogram, {
    "< 1m": 0,
    "1m-1h": SESSIONS,
    "1h-1d": 0,
    "1d-7d": 0,
    "7d-30d": 0,
    ">= 30d": 0,
    "never": 0,
  });
  // On a terminal the bar is drawn (stderr is captured, so it shows here).
  const verify = await run(["verify", path], { terminal: true });
  assert.equal(verify.code, 0);
  assert.match(verify.stderr, /^\rverify \[.*ETA/);
  assert.ok(verify.stderr.endsWith("\r\x1b[K"));
  const quiet = await run(["verify", "--quiet", path], { terminal: true });
  assert.equal(quiet.stderr, "");
  const piped = await run(["verify", path]);
  assert.equal(piped.stderr, "");
  const dump = await run(["dump", "-q", path]);
  assert.equal(dump.code, 0);
  const load = await run(["load", "-q", `${tmp.dir}/copy.db`], {
    stdin: dump.stdoutBytes,
  });
  assert.equal(load.code, 0, load.stderr);
  assert.deepEqual(await Deno.readFile(`${tmp.dir}/copy.db`), original);
});

Deno.test("bench measures the workload in a temp dir it removes", async () => {
  await using tmp = await tempDir();
  const result = await run(["bench", "--json", "-n", "300", "--dir", tmp.dir]);
  assert.equal(result.code, 0, result.stderr);
  const report = json(result);
  const rows = report.rows as {
    name: string;
    ops: number;
    opsPerSecond: number;
  }[];
  assert.deepEqual(rows.map((row) => row.name), [
    'save, sync "never"',
    'save, sync "everysecond"',
    "find",
    'save, sync "always"',
    "reopen",
  ]);
  for (const row of rows) assert.ok(row.opsPerSecond > 0, row.name);
  assert.ok((report.fileBytes as number) > 300 * 256);
  assert.deepEqual(await Array.fromAsync(Deno.readDir(tmp.dir)), []);
  const text = await run(["bench", "-n", "100", "--dir", tmp.dir]);
  assert.match(text.stdout, /find\s+[\d,]+ ops\/s\n/);
});
