/**
 * Recovery: what `BuntStore.open` makes of the bytes it finds. Logs are
 * written byte by byte here (not through the engine's encoder), then
 * opened, compared and reopened.
 */

import assert from "node:assert/strict";
import { BuntStore, CorruptLogError } from "../mod.ts";
import {
  bytes,
  concat,
  contents,
  FIXED_NOW,
  LATER_SECONDS,
  prng,
  resp,
  seedFromEnv,
  sorted,
  tempDir,
} from "./_fixtures.ts";

const LATER = String(LATER_SECONDS);
const PAST = String(FIXED_NOW / 1000 - 10);
const now = () => FIXED_NOW;

/** A record of the test log with the state it leads to. */
interface Step {
  record: Uint8Array;
  apply: (state: Map<string, string>) => void;
}

function set(key: string, value: string, ae?: string): Step {
  return {
    record: ae === undefined
      ? resp("set", key, value)
      : resp("set", key, value, "ae", ae),
    apply: (state) => {
      state.set(key, value);
    },
  };
}

function del(key: string): Step {
  return {
    record: resp("del", key),
    apply: (state) => {
      state.delete(key);
    },
  };
}

function flushdb(): Step {
  return { record: resp("flushdb"), apply: (state) => state.clear() };
}

/** A log with every kind of record, binary-ish values and a UTF-8 key. */
const STEPS: Step[] = [
  set("gone", "flushed away", LATER),
  flushdb(),
  set("alpha", "one", LATER),
  set("bravo", "no expiry"),
  set("alpha", "one, again", LATER),
  del("bravo"),
  set("clé-ü", "value with \r\n and \0 inside", LATER),
  set("delta", "", LATER),
  del("never-existed"),
  set("echo", "x".repeat(40), LATER),
];

Deno.test("BuntStore.open() keeps saves and deletes across reopen", async () => {
  const seed = seedFromEnv();
  const random = prng(seed);
  await using tmp = await tempDir();
  const expected = new Map<string, Uint8Array>();
  try {
    for (const sync of ["always", "everysecond", "never"] as const) {
      const store = await BuntStore.open(tmp.path, { sync, now });
      try {
        assert.deepEqual(sorted(await store.all()), sorted(expected));
        const pending: Promise<void>[] = [];
        for (let i = 0; i < 300; i++) {
          const key = `k${Math.floor(random() * 60)}-ü`;
          if (random() < 0.25) {
            expected.delete(key);
            pending.push(store.delete(key));
          } else {
            const value = new Uint8Array(Math.floor(random() * 80) + 20);
            for (let b = 0; b < value.length; b++) {
              value[b] = Math.floor(random() * 256);
            }
            // Something that looks like a record inside a value.
            if (random() < 0.2) value.set(bytes("\r\n*2\r\n$3\r\ndel\r\n"));
            if (random() < 0.1) value.fill(0);
            expected.set(key, value);
            pending.push(
              store.save(key, value, new Date(FIXED_NOW + 3_600_000)),
            );
          }
          if (random() < 0.3) await Promise.all(pending.splice(0));
        }
        await Promise.all(pending);
        assert.deepEqual(sorted(await store.all()), sorted(expected));
      } finally {
        await store.close();
      }
    }
    const store = await BuntStore.open(tmp.path, { now });
    try {
      assert.deepEqual(sorted(await store.all()), sorted(expected));
    } finally {
      await store.close();
    }
  } catch (error) {
    console.error(`seed ${seed} (rerun with BUNTSTORE_SEED=${seed})`);
    throw error;
  }
});

Deno.test("BuntStore.open() cuts a log torn at every byte offset back to its last complete record", async () => {
  await using tmp = await tempDir();
  const log = concat(...STEPS.map((step) => step.record));
  const ends: number[] = [];
  let at = 0;
  for (const step of STEPS) ends.push(at += step.record.length);
  for (let cut = 0; cut <= log.length; cut++) {
    await Deno.writeFile(tmp.path, log.subarray(0, cut));
    const complete = ends.filter((end) => end <= cut).length;
    const validEnd = complete === 0 ? 0 : ends[complete - 1]!;
    const expected = new Map<string, string>();
    for (const step of STEPS.slice(0, complete)) step.apply(expected);
    const store = await BuntStore.open(tmp.path, { now });
    try {
      assert.deepEqual(
        sorted(await contents(store)),
        sorted(expected),
        `cut at ${cut}`,
      );
      assert.equal(store.stats().recoveredBytes, cut - validEnd);
      assert.equal(store.stats().fileBytes, validEnd);
      assert.equal((await Deno.stat(tmp.path)).size, validEnd, `cut ${cut}`);
      await store.save("after", bytes(`cut ${cut}`), new Date(FIXED_NOW + 1e6));
    } finally {
      await store.close();
    }
    // The next append landed right after the last complete record.
    const after = resp(
      "set",
      "after",
      `cut ${cut}`,
      "ae",
      String(Math.floor((FIXED_NOW + 1e6) / 1000)),
    );
    assert.deepEqual(
      await Deno.readFile(tmp.path),
      concat(log.subarray(0, validEnd), after),
      `cut ${cut}`,
    );
    const reopened = await BuntStore.open(tmp.path, { now });
    try {
      expected.set("after", `cut ${cut}`);
      assert.deepEqual(sorted(await contents(reopened)), sorted(expected));
    } finally {
      await reopened.close();
    }
  }
});

Deno.test("BuntStore.open() cuts a log written by the store itself at every byte offset", async () => {
  await using tmp = await tempDir();
  const later = new Date(FIXED_NOW + 3_600_000);
  const ops: ((store: BuntStore) => Promise<void>)[] = [
    (store) => store.save("a", bytes("1"), later),
    (store) => store.save("b", bytes("two\r\n*2\r\n"), later),
    (store) => store.delete("a"),
    (store) => store.save("c", new Uint8Array([0, 13, 10, 0]), later),
    (store) => store.save("b", bytes(""), later),
    (store) => store.save("ü-key", bytes("ü"), later),
    (store) => store.delete("c"),
    (store) => store.save("d", bytes("d".repeat(30)), later),
  ];
  const ends: number[] = [];
  const states: [string, string][][] = [];
  const writer = await BuntStore.open(tmp.path, { now, sync: "never" });
  try {
    for (const op of ops) {
      await op(writer);
      ends.push(writer.stats().fileBytes);
      states.push(sorted(await contents(writer)));
    }
  } finally {
    await writer.close();
  }
  const log = await Deno.readFile(tmp.path);
  assert.equal(log.length, ends.at(-1));
  for (let cut = 0; cut <= log.length; cut++) {
    await Deno.writeFile(tmp.path, log.subarray(0, cut));
    const done = ends.filter((end) => end <= cut).length;
    const store = await BuntStore.open(tmp.path, { now });
    try {
      assert.deepEqual(
        sorted(await contents(store)),
        done === 0 ? [] : states[done - 1],
        `cut at ${cut}`,
      );
    } finally {
      await store.close();
    }
    const size = (await Deno.stat(tmp.path)).size;
    assert.equal(size, done === 0 ? 0 : ends[done - 1], `cut at ${cut}`);
  }
});

Deno.test("BuntStore.open() skips NUL padding and appends at the right offset", async (t) => {
  const a = resp("set", "a", "1", "ae", LATER);
  const b = resp("set", "b", "2");
  const nul = (n: number) => new Uint8Array(n);
  const cases: [string, Uint8Array, Map<string, string>][] = [
    ["at the start", concat(nul(7), a, b), new Map([["a", "1"], ["b", "2"]])],
    ["in the middle", concat(a, nul(5), b), new Map([["a", "1"], ["b", "2"]])],
    ["at the end", concat(a, b, nul(9)), new Map([["a", "1"], ["b", "2"]])],
    [
      "everywhere",
      concat(nul(1), a, nul(4096), b, nul(3)),
      new Map([["a", "1"], ["b", "2"]]),
    ],
    ["only", nul(100), new Map()],
    [
      "before a torn record",
      concat(a, nul(6), b.subarray(0, 9)),
      new Map([["a", "1"]]),
    ],
  ];
  for (const [name, log, expected] of cases) {
    await t.step(name, async () => {
      await using tmp = await tempDir();
      await Deno.writeFile(tmp.path, log);
      const kept = name === "before a torn record"
        ? log.length - 9
        : log.length;
      const store = await BuntStore.open(tmp.path, { now });
      try {
        assert.deepEqual(sorted(await contents(store)), sorted(expected));
        assert.equal(store.stats().fileBytes, kept);
        await store.save("new", bytes("3"), new Date(FIXED_NOW + 5000));
      } finally {
        await store.close();
      }
      const record = resp(
        "set",
        "new",
        "3",
        "ae",
        String(FIXED_NOW / 1000 + 5),
      );
      assert.deepEqual(
        await Deno.readFile(tmp.path),
        concat(log.subarray(0, kept), record),
      );
      const reopened = await BuntStore.open(tmp.path, { now });
      try {
        expected.set("new", "3");
        assert.deepEqual(sorted(await contents(reopened)), sorted(expected));
      } finally {
        await reopened.close();
      }
    });
  }
});

/** Replaces the first occurrence of `from` at or after `start`. */
function patch(
  log: Uint8Array,
  start: number,
  from: string,
  to: string,
): Uint8Array {
  const needle = bytes(from);
  let at = start;
  while (
    at + needle.length <= log.length &&
    !needle.every((byte, i) => log[at + i] === byte)
  ) at++;
  assert.ok(at + needle.length <= log.length, `"${from}" not found`);
  return concat(
    log.subarray(0, at),
    bytes(to),
    log.subarray(at + needle.length),
  );
}

Deno.test("BuntStore.open() throws CorruptLogError at a damaged record and leaves the file unchanged", async (t) => {
  const records = [
    resp("set", "first", "1", "ae", LATER),
    resp("set", "second", "22222", "ae", LATER),
    resp("del", "first"),
    resp("set", "third", "3"),
    resp("set", "fourth", "4", "ae", LATER),
  ];
  const log = concat(...records);
  const offsets: number[] = [];
  let at = 0;
  for (const record of records) {
    offsets.push(at);
    at += record.length;
  }
  const [, second, third, fourth, fifth] = offsets as [
    number,
    number,
    number,
    number,
    number,
  ];
  const cases: [string, Uint8Array, number][] = [
    ["bad prefix", patch(log, second, "*5", "+5"), second],
    [
      "bad length digits",
      patch(log, second, "$6\r\nsecond", "$x\r\nsecond"),
      second,
    ],
    ["empty length", patch(log, second, "$6\r\nsecond", "$\r\nsecond"), second],
    ["CR without LF", patch(log, second, "*5\r\n", "*5\r\r"), second],
    [
      "missing CRLF after a value",
      patch(log, second, "22222\r\n", "22222"),
      second,
    ],
    [
      "length too short",
      patch(log, second, "$5\r\n22222", "$3\r\n22222"),
      second,
    ],
    ["unknown command", patch(log, second, "set", "sex"), second],
    ["wrong part count for set", patch(log, second, "*5", "*4"), second],
    ["wrong part count for del", patch(log, third, "*2", "*3"), third],
    ["too many parts", patch(log, second, "*5", "*9"), second],
    ["unknown expiry kind", patch(log, second, "$2\r\nae", "$2\r\nzz"), second],
    [
      "expiry not a number",
      patch(
        log,
        second,
        `$${LATER.length}\r\n${LATER}`,
        `$${LATER.length}\r\n12345x7890`,
      ),
      second,
    ],
    [
      "length running to EOF past complete records",
      patch(log, second, "$5\r\n22222", "$9999\r\n22222"),
      second,
    ],
    [
      "command length running to EOF past complete records",
      patch(log, fourth, "$3\r\nset", "$300\r\nset"),
      fourth,
    ],
    [
      "length running to EOF past complete records and more damage",
      concat(
        patch(log, second, "$5\r\n22222", "$9999\r\n22222"),
        bytes("garbage\r\n"),
      ),
      second,
    ],
    ["garbage as the last record", concat(log, bytes("hello\r\n")), log.length],
    ["damage in the last record", patch(log, fifth, "*5", "#5"), fifth],
  ];
  for (const [name, damagedLog, offset] of cases) {
    await t.step(name, async () => {
      await using tmp = await tempDir();
      await Deno.writeFile(tmp.path, damagedLog);
      const error = await assertRejectsCorrupt(tmp.path);
      assert.equal(error.offset, offset);
      assert.equal(error.path, tmp.path);
      assert.match(error.message, new RegExp(`at byte ${offset}`));
      assert.deepEqual(await Deno.readFile(tmp.path), damagedLog);
      // The failed open released the lock and the file.
      const tryAgain = await assertRejectsCorrupt(tmp.path);
      assert.equal(tryAgain.offset, offset);
    });
  }
});

Deno.test("BuntStore.open() finds a damaged length hidden across read chunks", async () => {
  await using tmp = await tempDir();
  const big = "v".repeat(10_000);
  const records: Uint8Array[] = [resp("set", "k0", "small")];
  for (let i = 1; i < 300; i++) records.push(resp("set", `k${i}`, big));
  const log = concat(...records);
  const damaged = patch(log, records[0]!.length, "$10000\r\n", "$90000000\r\n");
  await Deno.writeFile(tmp.path, damaged);
  const error = await assertRejectsCorrupt(tmp.path);
  assert.equal(error.offset, records[0]!.length);
  assert.deepEqual(await Deno.readFile(tmp.path), damaged);
});

async function assertRejectsCorrupt(path: string): Promise<CorruptLogError> {
  try {
    const store = await BuntStore.open(path, { now });
    await store.close();
  } catch (error) {
    assert.ok(error instanceof CorruptLogError, `got ${error}`);
    return error;
  }
  assert.fail("open succeeded on a damaged log");
}

Deno.test("BuntStore.open() reads legacy ex records relative to the file's mtime", async () => {
  await using tmp = await tempDir();
  const mtimeSeconds = FIXED_NOW / 1000 - 100;
  await Deno.writeFile(
    tmp.path,
    concat(
      resp("set", "lives", "a", "ex", "3600"),
      resp("set", "expired", "b", "ex", "50"),
      resp("SET", "upper", "c", "EX", "200"),
    ),
  );
  await Deno.utime(tmp.path, mtimeSeconds, mtimeSeconds);
  const at = async (clock: number) => {
    const store = await BuntStore.open(tmp.path, { now: () => clock });
    try {
      return sorted(await contents(store));
    } finally {
      await store.close();
    }
  };
  assert.deepEqual(await at(FIXED_NOW), [["lives", "a"], ["upper", "c"]]);
  const livesUntil = (mtimeSeconds + 3600) * 1000;
  const upperUntil = (mtimeSeconds + 200) * 1000;
  assert.deepEqual(await at(upperUntil - 1), [["lives", "a"], ["upper", "c"]]);
  assert.deepEqual(await at(upperUntil), [["lives", "a"]]);
  assert.deepEqual(await at(livesUntil - 1), [["lives", "a"]]);
  assert.deepEqual(await at(livesUntil), []);
  // The first open rewrote the relative expiries as absolute ones.
  assert.deepEqual(
    await Deno.readFile(tmp.path),
    concat(
      resp("set", "lives", "a", "ae", String(mtimeSeconds + 3600)),
      resp("set", "upper", "c", "ae", String(mtimeSeconds + 200)),
    ),
  );
});

Deno.test("BuntStore.save() to a legacy log does not move its ex expiries", async () => {
  await using tmp = await tempDir();
  const mtimeSeconds = FIXED_NOW / 1000 - 100;
  await Deno.writeFile(
    tmp.path,
    concat(
      resp("set", "expired", "a", "ex", "10"),
      resp("set", "lives", "b", "ex", "3600"),
    ),
  );
  await Deno.utime(tmp.path, mtimeSeconds, mtimeSeconds);
  const store = await BuntStore.open(tmp.path, { now });
  try {
    assert.deepEqual(sorted(await contents(store)), [["lives", "b"]]);
    // Appending changes the file's mtime, which anchored the ex records.
    await store.save("new", bytes("c"), new Date(FIXED_NOW + 1e9));
  } finally {
    await store.close();
  }
  const livesUntil = (mtimeSeconds + 3600) * 1000;
  for (const clock of [FIXED_NOW + 1000, livesUntil - 1, livesUntil]) {
    const reopened = await BuntStore.open(tmp.path, { now: () => clock });
    try {
      assert.equal(await reopened.find("expired"), undefined, `at ${clock}`);
      assert.equal(
        (await reopened.find("lives")) !== undefined,
        clock < livesUntil,
        `at ${clock}`,
      );
    } finally {
      await reopened.close();
    }
  }
});

Deno.test("BuntStore.open() lets a past ae expiry delete an older value (#112)", async () => {
  await using tmp = await tempDir();
  await Deno.writeFile(
    tmp.path,
    concat(
      resp("set", "no-expiry", "old"),
      resp("set", "no-expiry", "new", "ae", PAST),
      resp("set", "long", "old", "ae", LATER),
      resp("set", "long", "new", "ae", PAST),
      resp("set", "kept", "old", "ae", PAST),
      resp("set", "kept", "new", "ae", LATER),
    ),
  );
  const store = await BuntStore.open(tmp.path, { now });
  try {
    assert.deepEqual(sorted(await contents(store)), [["kept", "new"]]);
    assert.equal(await store.find("long"), undefined);
    assert.equal(store.size, 1);
  } finally {
    await store.close();
  }
});

Deno.test("BuntStore.save() with a shorter expiry does not resurrect the older value after reopen", async () => {
  await using tmp = await tempDir();
  let clock = FIXED_NOW;
  const store = await BuntStore.open(tmp.path, { now: () => clock });
  try {
    await store.save("t", bytes("v1"), new Date(FIXED_NOW + 3_600_000));
    await store.save("t", bytes("v2"), new Date(FIXED_NOW + 2_000));
  } finally {
    await store.close();
  }
  clock = FIXED_NOW + 10_000;
  const reopened = await BuntStore.open(tmp.path, { now: () => clock });
  try {
    assert.equal(await reopened.find("t"), undefined);
    assert.deepEqual(await contents(reopened), new Map());
  } finally {
    await reopened.close();
  }
});

Deno.test("BuntStore.open() applies flushdb and reads commands in any case", async () => {
  await using tmp = await tempDir();
  await Deno.writeFile(
    tmp.path,
    concat(
      resp("set", "a", "1"),
      resp("SET", "b", "2", "AE", LATER),
      resp("FlushDB"),
      resp("Set", "c", "3", "Ae", LATER),
      resp("sEt", "d", "4"),
      resp("set", "e", "5"),
      resp("DEL", "d"),
      resp("dEl", "e"),
      resp("SET", "f", "6", "aE", PAST),
    ),
  );
  const store = await BuntStore.open(tmp.path, { now });
  try {
    assert.deepEqual(sorted(await contents(store)), [["c", "3"]]);
    assert.equal(store.stats().recordsLoaded, 9);
  } finally {
    await store.close();
  }
  await Deno.writeFile(tmp.path, resp("flushdb"), { append: true });
  const flushed = await BuntStore.open(tmp.path, { now });
  try {
    assert.deepEqual(await contents(flushed), new Map());
  } finally {
    await flushed.close();
  }
});

Deno.test("BuntStore.open() removes a compaction temp file left by a crash", async () => {
  await using tmp = await tempDir();
  const log = concat(resp("set", "a", "1"), resp("set", "b", "2"));
  await Deno.writeFile(tmp.path, log);
  // A half-written snapshot, as a crash during compaction leaves it.
  await Deno.writeFile(`${tmp.path}.tmp`, resp("set", "a", "stale").slice(5));
  const store = await BuntStore.open(tmp.path, { now });
  try {
    await assert.rejects(Deno.stat(`${tmp.path}.tmp`), Deno.errors.NotFound);
    assert.deepEqual(sorted(await contents(store)), [["a", "1"], ["b", "2"]]);
  } finally {
    await store.close();
  }
  assert.deepEqual(await Deno.readFile(tmp.path), log);
});

Deno.test("BuntStore.open() reads keys byte for byte: a leading U+FEFF stays part of the key", async () => {
  await using tmp = await tempDir();
  {
    await using store = await BuntStore.open(tmp.path, { now });
    await store.save("\uFEFFtok", bytes("with"), new Date(FIXED_NOW + 60_000));
    await store.save("tok", bytes("without"), new Date(FIXED_NOW + 60_000));
    await store.save("\uFEFF", bytes("only"), new Date(FIXED_NOW + 60_000));
  }
  await using reopened = await BuntStore.open(tmp.path, { now });
  assert.deepEqual(sorted(await contents(reopened)), [
    ["tok", "without"],
    ["\uFEFF", "only"],
    ["\uFEFFtok", "with"],
  ]);
  assert.deepEqual(await reopened.find("\uFEFFtok"), bytes("with"));
  assert.deepEqual(await reopened.find("tok"), bytes("without"));
});

Deno.test("BuntStore.open() does not load an empty key (Go buntdb allows one) as a session", async () => {
  await using tmp = await tempDir();
  await Deno.writeFile(
    tmp.path,
    concat(
      resp("set", "", "go wrote this", "ae", LATER),
      resp("set", "a", "1", "ae", LATER),
    ),
  );
  await using store = await BuntStore.open(tmp.path, { now });
  // Tokens are never empty: find("") refuses, so all() must not list it.
  await assert.rejects(store.find(""), RangeError);
  assert.deepEqual(sorted(await contents(store)), [["a", "1"]]);
  assert.equal(store.size, 1);
  await store.shrink();
  assert.deepEqual(
    await Deno.readFile(tmp.path),
    resp("set", "a", "1", "ae", LATER),
  );
});

Deno.test("BuntStore.open() cuts a torn last record followed by zero-filled blocks, as a power cut leaves it", async (t) => {
  const a = resp("set", "a", "1", "ae", LATER);
  const last = resp("set", "b", "a value with \0 inside", "ae", LATER);
  const nul = (n: number) => new Uint8Array(n);
  for (const zeros of [1, 4096, 3 * 4096 + 17]) {
    await t.step(
      `${zeros} NUL bytes after every cut of the last record`,
      async () => {
        await using tmp = await tempDir();
        for (let cut = 1; cut < last.length; cut++) {
          const log = concat(a, last.subarray(0, cut), nul(zeros));
          await Deno.writeFile(tmp.path, log);
          const store = await BuntStore.open(tmp.path, { now });
          try {
            assert.deepEqual(sorted(await contents(store)), [["a", "1"]]);
            assert.equal(
              store.stats().recoveredBytes,
              cut + zeros,
              `cut ${cut}`,
            );
            assert.equal((await Deno.stat(tmp.path)).size, a.length);
            await store.save("c", bytes("3"), new Date(FIXED_NOW + 5000));
          } finally {
            await store.close();
          }
          const reopened = await BuntStore.open(tmp.path, { now });
          try {
            assert.deepEqual(sorted(await contents(reopened)), [
              ["a", "1"],
              ["c", "3"],
            ]);
          } finally {
            await reopened.close();
          }
        }
      },
    );
  }
  await t.step(
    "damage followed by a complete record stays an error",
    async () => {
      await using tmp = await tempDir();
      const log = concat(a, last.subarray(0, 20), nul(4096), a);
      await Deno.writeFile(tmp.path, log);
      await assert.rejects(
        BuntStore.open(tmp.path, { now }),
        (error) =>
          error instanceof CorruptLogError && error.offset === a.length,
      );
      assert.deepEqual(await Deno.readFile(tmp.path), log);
    },
  );
  await t.step(
    "damage followed by NULs then other bytes stays an error",
    async () => {
      await using tmp = await tempDir();
      const log = concat(a, last.subarray(0, 20), nul(4096), bytes("x"));
      await Deno.writeFile(tmp.path, log);
      await assert.rejects(BuntStore.open(tmp.path, { now }), CorruptLogError);
      assert.deepEqual(await Deno.readFile(tmp.path), log);
    },
  );
  await t.step(
    "a damaged record, not a torn one, before NULs stays an error",
    async () => {
      await using tmp = await tempDir();
      const log = concat(a, bytes("*3\r\n$3\r\nput\r\n"), nul(4096));
      await Deno.writeFile(tmp.path, log);
      await assert.rejects(BuntStore.open(tmp.path, { now }), CorruptLogError);
    },
  );
});

Deno.test("BuntStore.open() loads keys that are not ASCII as their decoded strings, invalid UTF-8 included", async () => {
  await using tmp = await tempDir();
  const expiry = String(LATER_SECONDS);
  const invalid = new Uint8Array([0x74, 0xff, 0x6b]); // "t", a bad byte, "k"
  await Deno.writeFile(
    tmp.path,
    concat(
      resp("set", "jour-été", "a", "ae", expiry),
      resp("set", invalid, "b", "ae", expiry),
      resp("set", "\uFEFFtok", "c", "ae", expiry),
      resp("set", "tok", "d", "ae", expiry),
      resp("del", "jour-été"),
      resp("set", "jour-été", "e", "ae", expiry),
    ),
  );
  await using store = await BuntStore.open(tmp.path, {
    now: () => FIXED_NOW,
  });
  // The loader hashes ASCII keys as bytes; others go through the string a
  // find() of the same key uses, so a bad byte is found as U+FFFD.
  assert.deepEqual(await store.find("jour-été"), bytes("e"));
  assert.deepEqual(await store.find("t\uFFFDk"), bytes("b"));
  assert.deepEqual(await store.find("\uFEFFtok"), bytes("c"));
  assert.deepEqual(await store.find("tok"), bytes("d"));
  assert.equal(store.size, 4);
});
