import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { BuntStore } from "../store.ts";
import { COMMANDS } from "../_cli/commands.ts";
import { encode, HOUR, json, NOW, run, soundLog } from "./_cli_helpers.ts";
import { bytes, concat, tempDir } from "./_fixtures.ts";

const REPORTING = ["stats", "get", "del", "verify", "repair", "shrink", "load"];

Deno.test("main() prints help for every command with exit 0", async () => {
  const top = await run(["--help"]);
  assert.equal(top.code, 0);
  for (const name of Object.keys(COMMANDS)) {
    assert.match(top.stdout, new RegExp(`\\n  ${name} `));
    const help = await run([name, "--help"]);
    assert.equal(help.code, 0, name);
    assert.match(help.stdout, new RegExp(`^Usage: buntstore ${name} `));
    assert.match(help.stdout, /--json/);
    assert.equal((await run(["help", name])).stdout, help.stdout);
  }
  for (const name of REPORTING) assert.ok(name in COMMANDS);
});

Deno.test("main() exits 2 with one line on usage errors", async () => {
  for (
    const args of [
      [],
      ["frobnicate"],
      ["stats"],
      ["stats", "a.db", "extra"],
      ["verify", "--nope", "a.db"],
      ["bench", "-n", "zero"],
    ]
  ) {
    const result = await run(args);
    assert.equal(result.code, 2, args.join(" "));
    if (args.length > 0) {
      assert.equal(result.stderr.trim().split("\n").length, 1);
      assert.match(result.stderr, /^buntstore: .*--help/);
    }
  }
});

Deno.test("main() names the missing file in one line with exit 1", async () => {
  for (
    const command of ["stats", "verify", "dump", "del", "repair", "shrink"]
  ) {
    const args = command === "del"
      ? [command, "/nonexistent/s.db", "t"]
      : [command, "/nonexistent/s.db"];
    const result = await run(args);
    assert.equal(result.code, 1, command);
    assert.match(result.stderr, /"\/nonexistent\/s\.db": no such file\n$/);
    assert.doesNotMatch(result.stderr, /\n\s+at /);
  }
});

Deno.test("stats reports sessions, sizes, reclaimable bytes and expiries", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  await Deno.writeFile(
    path,
    encode((records) => {
      records.set("a", bytes("x".repeat(10)), NOW + 30_000);
      records.set("b", bytes("old"), NOW + HOUR);
      records.set("b", bytes("new"), NOW + 2 * HOUR);
      records.set("c", bytes("gone"), NOW + HOUR);
      records.del("c");
      records.set("d", bytes("expired"), NOW - 1000);
      records.set("e", bytes("forever"), Infinity);
      records.set("f", bytes("week"), NOW + 3 * 24 * HOUR);
    }),
  );
  const result = await run(["stats", "--json", path]);
  assert.equal(result.code, 0, result.stderr);
  const report = json(result);
  assert.equal(report.liveSessions, 4);
  assert.equal(report.expiredPresent, 1);
  assert.equal(report.records, 8);
  assert.equal(report.sets, 7);
  assert.equal(report.dels, 1);
  assert.equal(report.fileBytes, (await Deno.stat(path)).size);
  assert.equal(report.oldestExpiry, NOW + 30_000);
  assert.equal(report.newestExpiry, NOW + 3 * 24 * HOUR);
  assert.deepEqual(report.expiryHistogram, {
    "< 1m": 1,
    "1m-1h": 0,
    "1h-1d": 1,
    "1d-7d": 1,
    "7d-30d": 0,
    ">= 30d": 0,
    "never": 1,
  });
  const text = await run(["stats", path]);
  assert.match(text.stdout, /live sessions\s+4\n/);
  assert.match(text.stdout, /expired, still in file\s+1\n/);
  assert.match(text.stdout, /never\s+1 {2}#+\n/);
  // The compacted size is exact: shrink with the same clock and compare.
  const store = await BuntStore.open(path, { now: () => NOW });
  await store.shrink();
  await store.close();
  assert.equal(report.compactedBytes, (await Deno.stat(path)).size);
  assert.equal(
    report.reclaimableBytes,
    (report.fileBytes as number) - (report.compactedBytes as number),
  );
});

Deno.test("read-only commands leave a torn file alone and call it a write in progress", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const sound = soundLog(5);
  const torn = concat(
    sound,
    bytes("*3\r\n$3\r\nset\r\n$4\r\ntok9\r\n$9\r\nval"),
  );
  await Deno.writeFile(path, torn);
  const stats = await run(["stats", "--json", path]);
  assert.equal(stats.code, 0);
  assert.equal(json(stats).writeInProgressBytes, torn.length - sound.length);
  assert.equal(json(stats).liveSessions, 5);
  const verify = await run(["verify", path]);
  assert.equal(verify.code, 0, verify.stderr);
  assert.match(verify.stdout, /write in progress/);
  assert.match(verify.stdout, /OK: no damaged records/);
  assert.equal((await run(["get", path, "tok1"])).code, 0);
  const dump = await run(["dump", path]);
  assert.equal(dump.stdout.trim().split("\n").length, 5);
  assert.match(dump.stderr, /write in progress/);
  assert.deepEqual(await Deno.readFile(path), torn);
});

Deno.test("read-only commands work while a store holds the lock", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  await using store = await BuntStore.open(path);
  await store.save("live", bytes("here"), new Date(Date.now() + HOUR));
  const now = Date.now();
  assert.equal(
    json(await run(["stats", "--json", path], { now })).liveSessions,
    1,
  );
  assert.equal((await run(["verify", path], { now })).code, 0);
  assert.match((await run(["get", path, "live"], { now })).stdout, /here\n$/);
  assert.match((await run(["dump", path], { now })).stdout, /"token":"live"/);
});

Deno.test("mutating commands refuse a locked file with one clear line", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  await Deno.writeFile(path, soundLog(3));
  const before = await Deno.readFile(path);
  {
    await using _store = await BuntStore.open(path);
    for (
      const args of [
        ["del", path, "tok1"],
        ["repair", path],
        ["repair", "--skip", path],
        ["shrink", path],
        ["load", path],
      ]
    ) {
      const result = await run(args);
      assert.equal(result.code, 1, args.join(" "));
      assert.match(result.stderr, /file is locked by another process/);
      assert.match(result.stderr, /stop it and retry/);
      assert.equal(result.stderr.trim().split("\n").length, 1);
    }
  }
  assert.deepEqual(await Deno.readFile(path), before);
  assert.equal((await run(["del", path, "tok1"])).code, 0);
});

Deno.test("get shows UTF-8 text, base64 for binary, and exits 1 when missing", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const token = "raw-cookie-token";
  const hashed = createHash("sha256").update(token).digest("base64url");
  await Deno.writeFile(
    path,
    encode((records) => {
      records.set("text", bytes('héllo {"a":1}'), NOW + HOUR);
      records.set("bin", new Uint8Array([0, 255, 1, 2]), NOW + HOUR);
      records.set("old", bytes("x"), NOW - 1);
      records.set(hashed, bytes("by hash"), Infinity);
    }),
  );
  const text = await run(["get", path, "text"]);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /encoding\s+utf-8\n/);
  assert.match(text.stdout, /\nhéllo \{"a":1\}\n$/);
  const bin = json(await run(["get", "--json", path, "bin"]));
  assert.equal(bin.encoding, "base64");
  assert.deepEqual(
    Uint8Array.fromBase64(bin.value as string),
    new Uint8Array([0, 255, 1, 2]),
  );
  assert.equal(bin.expires, NOW + HOUR);
  const byHash = json(await run(["get", "--json", "--hashed", path, token]));
  assert.equal(byHash.key, hashed);
  assert.equal(byHash.value, "by hash");
  assert.equal(byHash.expires, null);
  const missing = await run(["get", path, "nope"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no such session/);
  const expired = await run(["get", "--json", path, "old"]);
  assert.equal(expired.code, 1);
  assert.equal(json(expired).found, false);
  assert.match(expired.stderr, /session expired/);
});

Deno.test("get reads legacy ex records relative to the file's mtime", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  await Deno.writeFile(
    path,
    bytes(
      "*5\r\n$3\r\nSET\r\n$6\r\nlegacy\r\n$2\r\nok\r\n$2\r\nEX\r\n$4\r\n7200\r\n" +
        "*5\r\n$3\r\nset\r\n$5\r\nshort\r\n$1\r\nx\r\n$2\r\nex\r\n$1\r\n1\r\n" +
        "*1\r\n$7\r\nFLUSHDB\r\n".repeat(0),
    ),
  );
  const mtime = new Date(NOW - HOUR);
  await Deno.utime(path, mtime, mtime);
  const legacy = json(await run(["get", "--json", path, "legacy"]));
  assert.equal(legacy.expires, NOW - HOUR + 7200_000);
  assert.equal(legacy.value, "ok");
  const stats = json(await run(["stats", "--json", path]));
  assert.equal(stats.liveSessions, 1);
  assert.equal(stats.expiredPresent, 1);
  assert.equal((await run(["verify", path])).code, 0);
});

Deno.test("del deletes under the lock and exits 1 for a missing session", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const token = "cookie";
  const hashed = createHash("sha256").update(token).digest("base64url");
  await Deno.writeFile(
    path,
    concat(soundLog(3), encode((r) => r.set(hashed, bytes("h"), NOW + HOUR))),
  );
  const result = await run(["del", "--json", path, "tok1"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(json(result).deleted, true);
  assert.equal((await run(["del", "--hashed", path, token])).code, 0);
  const again = await run(["del", path, "tok1"]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no such session/);
  const stats = json(await run(["stats", "--json", path]));
  assert.equal(stats.liveSessions, 2);
  assert.equal(stats.dels, 2);
});

Deno.test("dump and load round-trip byte for byte", async () => {
  await using tmp = await tempDir();
  const original = encode((records) => {
    for (let i = 0; i < 50; i++) {
      const value = crypto.getRandomValues(new Uint8Array(i * 7));
      records.set(
        `tok-${i}-ü`,
        value,
        i % 10 === 0 ? Infinity : NOW + i * HOUR,
      );
    }
  });
  await Deno.writeFile(`${tmp.dir}/a.db`, original);
  const dump = await run(["dump", "--quiet", `${tmp.dir}/a.db`]);
  assert.equal(dump.code, 0);
  assert.equal(dump.stderr, "");
  const lines = dump.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 50);
  assert.deepEqual(Object.keys(lines[1]), ["token", "expires", "value"]);
  assert.equal(lines[0].expires, null);
  const load = await run(["load", "--json", `${tmp.dir}/b.db`], {
    stdin: dump.stdoutBytes,
  });
  assert.equal(load.code, 0, load.stderr);
  assert.equal(json(load).loaded, 50);
  assert.deepEqual(await Deno.readFile(`${tmp.dir}/b.db`), original);
  // Through files too, and a second dump is identical to the first.
  const out = await run([
    "dump",
    "-q",
    "--out",
    `${tmp.dir}/d.jsonl`,
    `${tmp.dir}/b.db`,
  ]);
  assert.equal(out.code, 0);
  assert.deepEqual(await Deno.readFile(`${tmp.dir}/d.jsonl`), dump.stdoutBytes);
  assert.equal((await Deno.stat(`${tmp.dir}/d.jsonl`)).mode! & 0o777, 0o600);
  await run(["load", "-q", "--in", `${tmp.dir}/d.jsonl`, `${tmp.dir}/c.db`]);
  assert.deepEqual(await Deno.readFile(`${tmp.dir}/c.db`), original);
});

Deno.test("dump writes only the live state: last writes, no deleted or expired", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  await Deno.writeFile(
    path,
    encode((records) => {
      records.set("a", bytes("1"), NOW + HOUR);
      records.set("b", bytes("1"), NOW + HOUR);
      records.set("a", bytes("2"), NOW + HOUR);
      records.del("b");
      records.set("c", bytes("1"), NOW - HOUR);
    }),
  );
  const dump = await run(["dump", path]);
  assert.deepEqual(dump.stdout.trim().split("\n").map((l) => JSON.parse(l)), [
    { token: "a", expires: NOW + HOUR, value: bytes("2").toBase64() },
  ]);
});

Deno.test("dump and get read keys byte for byte, and dump leaves out an empty key as the store does", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  await Deno.writeFile(
    path,
    encode((records) => {
      records.set("\uFEFFtok", bytes("\uFEFFwith"), NOW + HOUR);
      records.set("", bytes("empty key from Go"), NOW + HOUR);
      records.set("tok", bytes("without"), NOW + HOUR);
    }),
  );
  const dump = await run(["dump", "-q", path]);
  assert.equal(dump.code, 0, dump.stderr);
  const tokens = dump.stdout.trim().split("\n").map((l) => JSON.parse(l).token);
  assert.deepEqual(tokens, ["\uFEFFtok", "tok"]);
  // What dump wrote, load takes back.
  const load = await run(["load", "-q", `${tmp.dir}/copy.db`], {
    stdin: dump.stdoutBytes,
  });
  assert.equal(load.code, 0, load.stderr);
  const get = json(await run(["get", "--json", path, "\uFEFFtok"]));
  assert.equal(get.value, "\uFEFFwith");
  const stats = json(await run(["stats", "--json", path]));
  assert.equal(stats.liveSessions, 2);
});

Deno.test("load is all or nothing and skips expired entries", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  await Deno.writeFile(path, soundLog(2));
  const before = await Deno.readFile(path);
  const good = JSON.stringify({
    token: "n",
    expires: NOW + HOUR,
    value: "AAE=",
  });
  for (
    const [bad, why] of [
      ["{not json", /Line 2: not JSON/],
      ['{"token":"","expires":null,"value":""}', /Line 2: .*empty/],
      ['{"token":"t","expires":"soon","value":""}', /Line 2: "expires"/],
      [
        '{"token":"t","expires":null,"value":"%%"}',
        /Line 2: "value" is not valid base64/,
      ],
      ["[1]", /Line 2: expected an object/],
    ] as const
  ) {
    const result = await run(["load", path], { stdin: `${good}\n${bad}\n` });
    assert.equal(result.code, 1, bad);
    assert.match(result.stderr, why);
    assert.match(result.stderr, /nothing was loaded/);
    assert.deepEqual(await Deno.readFile(path), before);
  }
  const expired = JSON.stringify({ token: "x", expires: NOW - 1, value: "" });
  const result = await run(["load", "--json", path], {
    stdin: `${good}\r\n\n${expired}`,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(json(result).loaded, 1);
  assert.equal(json(result).skippedExpired, 1);
  const get = json(await run(["get", "--json", path, "n"]));
  assert.equal(get.value, "AAE=");
});

Deno.test("shrink compacts under the lock and keeps every live session", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  await Deno.writeFile(
    path,
    encode((records) => {
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 100; i++) {
          records.set(`t${i}`, bytes(`v${round}`), NOW + HOUR);
        }
      }
      for (let i = 0; i < 50; i++) records.del(`t${i}`);
    }),
  );
  const dumpBefore = (await run(["dump", path])).stdout.split("\n").sort();
  const stats = json(await run(["stats", "--json", path]));
  const result = await run(["shrink", "--json", path]);
  assert.equal(result.code, 0, result.stderr);
  const report = json(result);
  assert.equal(report.sessions, 50);
  assert.equal(report.bytesAfter, (await Deno.stat(path)).size);
  assert.equal(report.bytesAfter, stats.compactedBytes);
  assert.ok((report.bytesAfter as number) < (report.bytesBefore as number));
  assert.deepEqual(
    (await run(["dump", path])).stdout.split("\n").sort(),
    dumpBefore,
  );
});

Deno.test("stats, get and dump refuse a damaged log with a repair hint", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const log = soundLog(5);
  log[40] = 0x58; // inside the second record's header
  await Deno.writeFile(path, log);
  for (const args of [["stats", path], ["get", path, "tok1"], ["dump", path]]) {
    const result = await run(args);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /damaged record at byte \d+: .*; to keep every intact record, run: deno run --allow-read --allow-write jsr:@x\/buntstore\/cli repair --skip "/,
    );
    assert.equal(result.stderr.trim().split("\n").length, 1);
  }
});

Deno.test("del, shrink and load refuse a damaged log and leave it alone", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const log = soundLog(5);
  log[40] = 0x58;
  await Deno.writeFile(path, log);
  for (
    const args of [["del", path, "tok1"], ["shrink", path], ["load", path]]
  ) {
    const result = await run(args);
    assert.equal(result.code, 1, args[0]);
    assert.match(
      result.stderr,
      /damaged record at byte \d+: .*; to keep every intact record, run: deno run .* repair --skip ".*" \(it keeps a \.bak copy\)\n$/,
    );
    assert.deepEqual(await Deno.readFile(path), log);
  }
  const directory = await run(["shrink", tmp.dir]);
  assert.equal(directory.code, 1);
  assert.match(directory.stderr, /not a regular file/);
});
