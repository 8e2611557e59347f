import assert from "node:assert/strict";
import { BuntStore } from "../store.ts";
import { RecordWriter } from "../aof.ts";
import { encode, json, run, runProcess } from "./_cli_helpers.ts";
import { bytes, tempDir } from "./_fixtures.ts";

/** Far enough ahead that a subprocess with the real clock sees it live. */
const FAR = Date.UTC(2100, 0, 1);

Deno.test("the cli.ts process exits 0, 1 and 2 with one-line errors", async () => {
  await using tmp = await tempDir();
  const sound = `${tmp.dir}/sound.db`;
  const damaged = `${tmp.dir}/damaged.db`;
  const log = encode((r) => {
    r.set("a", bytes("1"), FAR);
    r.set("b", bytes("2"), FAR);
  });
  await Deno.writeFile(sound, log);
  const broken = log.slice();
  broken[broken.length - 3] = 0x58;
  await Deno.writeFile(damaged, broken);
  const [ok, bad, usage, missing] = await Promise.all([
    runProcess(["verify", sound]),
    runProcess(["verify", damaged]),
    runProcess(["verify"]),
    runProcess(["get", `${tmp.dir}/none.db`, "a"]),
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /OK: no damaged records/);
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /^buntstore: ".*damaged\.db" is damaged at byte \d+: /,
  );
  assert.equal(usage.code, 2);
  assert.match(
    usage.stderr,
    /^buntstore: missing FILE: run "buntstore verify --help"/,
  );
  assert.equal(missing.code, 1);
  for (const result of [bad, usage, missing]) {
    assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    assert.doesNotMatch(result.stderr, /\bat file:/);
  }
});

Deno.test("the cli.ts process refuses to change a file another process holds", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  {
    await using store = await BuntStore.open(path);
    await store.save("live", bytes("v"), new Date(FAR));
    const [del, shrink, stats] = await Promise.all([
      runProcess(["del", path, "live"]),
      runProcess(["shrink", path]),
      runProcess(["stats", "--json", path]),
    ]);
    for (const refused of [del, shrink]) {
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr,
        /^buntstore: Cannot .* file is locked by another process \(a running server\?\): stop it and retry/,
      );
    }
    assert.equal(stats.code, 0, stats.stderr);
    assert.equal(json(stats).liveSessions, 1);
    assert.equal(await store.find("live").then((v) => v?.length), 1);
  }
  const del = await runProcess(["del", path, "live"]);
  assert.equal(del.code, 0, del.stderr);
});

Deno.test("dump on the real stdout streams JSON Lines that load reads back", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const records = new RecordWriter();
  for (let i = 0; i < 2000; i++) {
    records.set(`t${i}`, crypto.getRandomValues(new Uint8Array(256)), FAR);
  }
  const original = records.view().slice();
  await Deno.writeFile(path, original);
  const dump = await runProcess(["dump", "--quiet", path]);
  assert.equal(dump.code, 0, dump.stderr);
  assert.equal(dump.stderr, "");
  const result = await run(["load", `${tmp.dir}/copy.db`], {
    stdin: dump.stdoutBytes,
    now: Date.now(),
  });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(await Deno.readFile(`${tmp.dir}/copy.db`), original);
});
