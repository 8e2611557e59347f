/**
 * Fuzzing the loader: thousands of mutated logs (bit flips, insertions,
 * deletions, truncations, zero fills, splices, garbage). `BuntStore.open`
 * must either succeed or throw `CorruptLogError`, never anything else, and
 * agree with the independent reference parser below on the outcome, the
 * offset of the damage, the contents and the truncation point. `scanLog`
 * is also run with tiny read chunks and must agree record by record.
 *
 * Rerun a failure with `BUNTSTORE_SEED=<seed>`.
 */

import assert from "node:assert/strict";
import { BuntStore, CorruptLogError } from "../mod.ts";
import { scanLog } from "../aof.ts";
import {
  concat,
  FIXED_NOW,
  prng,
  resp,
  seedFromEnv,
  sorted,
  tempDir,
} from "./_fixtures.ts";

const FILES_PER_MUTATOR = 300;
const now = () => FIXED_NOW;

// ---------------------------------------------------------------------------
// The reference parser: the whole file in one buffer, no chunking.

/** One record as the reference reads it. */
interface RefRecord {
  command: "set" | "del" | "flushdb";
  key: string;
  value: Uint8Array;
  expiresAt: number;
  legacy: boolean;
}

type Outcome =
  | { kind: "complete"; next: number; record: RefRecord | undefined }
  | { kind: "incomplete" }
  | { kind: "damaged" };

type RefResult =
  | { ok: true; records: RefRecord[]; count: number; validEnd: number }
  | { ok: false; offset: number };

const INCOMPLETE: Outcome = { kind: "incomplete" };
const DAMAGED: Outcome = { kind: "damaged" };
const keyDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

/** `<digits>\r\n` at `p`: a number, or why not. */
function refNumber(
  b: Uint8Array,
  p: number,
): { value: number; next: number } | Outcome {
  let q = p;
  while (q < b.length && b[q] !== 0x0d) {
    if (!isDigit(b[q])) return DAMAGED;
    if (q - p + 1 > 15) return DAMAGED;
    q++;
  }
  if (q >= b.length) return INCOMPLETE;
  if (q === p) return DAMAGED;
  if (q + 1 >= b.length) return INCOMPLETE;
  if (b[q + 1] !== 0x0a) return DAMAGED;
  return {
    value: Number(new TextDecoder().decode(b.subarray(p, q))),
    next: q + 2,
  };
}

function lower(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) {
    text += String.fromCharCode(byte >= 65 && byte <= 90 ? byte + 32 : byte);
  }
  return text;
}

function validName(name: string, parts: number): boolean {
  return (name === "set" && (parts === 3 || parts === 5)) ||
    (name === "del" && parts === 2) || (name === "flushdb" && parts === 1);
}

/** One record at `p`, judged on the whole buffer. */
function refRecord(b: Uint8Array, p: number, mtimeMs: number): Outcome {
  if (b[p] !== 0x2a) return DAMAGED;
  const count = refNumber(b, p + 1);
  if ("kind" in count) return count;
  if (count.value > 5) return DAMAGED;
  const parts: Uint8Array[] = [];
  let q = count.next;
  for (let i = 0; i < count.value; i++) {
    if (q >= b.length) return INCOMPLETE;
    if (b[q] !== 0x24) return DAMAGED;
    const length = refNumber(b, q + 1);
    if ("kind" in length) return length;
    const bodyEnd = length.next + length.value;
    if (i === 0 && bodyEnd <= b.length) {
      const name = lower(b.subarray(length.next, bodyEnd));
      if (!validName(name, count.value)) return DAMAGED;
    }
    if (bodyEnd + 2 > b.length) return INCOMPLETE;
    if (b[bodyEnd] !== 0x0d || b[bodyEnd + 1] !== 0x0a) return DAMAGED;
    parts.push(b.subarray(length.next, bodyEnd));
    q = bodyEnd + 2;
  }
  if (parts.length === 0) {
    return { kind: "complete", next: q, record: undefined };
  }
  const name = lower(parts[0]!) as RefRecord["command"];
  const record: RefRecord = {
    command: name,
    key: name === "flushdb" ? "" : keyDecoder.decode(parts[1]),
    value: parts[2] ?? new Uint8Array(0),
    expiresAt: Infinity,
    legacy: false,
  };
  if (parts.length === 5) {
    const seconds = new TextDecoder().decode(parts[4]);
    if (!/^-?[0-9]{1,15}$/.test(seconds)) return DAMAGED;
    const kind = lower(parts[3]!);
    if (kind === "ae") record.expiresAt = Number(seconds) * 1000;
    else if (kind === "ex") {
      record.expiresAt = mtimeMs + Number(seconds) * 1000;
      record.legacy = true;
    } else return DAMAGED;
  }
  return { kind: "complete", next: q, record };
}

/**
 * Whether complete records follow a record that runs to EOF: then its
 * length is damaged rather than torn.
 */
function hidesRecords(b: Uint8Array, start: number): boolean {
  for (let at = start + 1; at < b.length; at++) {
    if (b[at] !== 0x2a || b[at - 1] !== 0x0a) continue;
    // Complete records from here on, until the bytes end or are damaged.
    let q = at;
    let complete = 0;
    while (q < b.length) {
      const outcome = refRecord(b, q, 0);
      if (outcome.kind !== "complete") break;
      complete++;
      q = outcome.next;
    }
    if (complete > 0) return true;
  }
  return false;
}

/**
 * Whether the damaged record at `p` is a valid start of a record followed
 * by NUL bytes to the end of the file (a power cut's torn tail).
 */
function tornBeforeZeros(b: Uint8Array, p: number): boolean {
  let dataEnd = b.length;
  while (dataEnd > p && b[dataEnd - 1] === 0) dataEnd--;
  if (dataEnd === b.length) return false;
  const data = b.subarray(0, dataEnd);
  return refRecord(data, p, 0).kind === "incomplete" && !hidesRecords(data, p);
}

function refParse(b: Uint8Array, mtimeMs: number): RefResult {
  const records: RefRecord[] = [];
  let count = 0;
  let p = 0;
  while (true) {
    while (p < b.length && b[p] === 0) p++;
    if (p >= b.length) return { ok: true, records, count, validEnd: p };
    const outcome = refRecord(b, p, mtimeMs);
    if (outcome.kind === "damaged") {
      if (tornBeforeZeros(b, p)) {
        return { ok: true, records, count, validEnd: p };
      }
      return { ok: false, offset: p };
    }
    if (outcome.kind === "incomplete") {
      if (hidesRecords(b, p)) return { ok: false, offset: p };
      return { ok: true, records, count, validEnd: p };
    }
    count++;
    if (outcome.record !== undefined) records.push(outcome.record);
    p = outcome.next;
  }
}

/** What a store holds after replaying `records` at {@linkcode FIXED_NOW}. */
function refState(records: RefRecord[]): Map<string, Uint8Array> {
  const state = new Map<string, Uint8Array>();
  for (const record of records) {
    if (record.command === "flushdb") state.clear();
    else if (record.command === "del" || record.expiresAt <= FIXED_NOW) {
      state.delete(record.key);
    } else state.set(record.key, record.value);
  }
  return state;
}

// ---------------------------------------------------------------------------
// Valid logs and their mutations.

type Random = () => number;

function int(random: Random, n: number): number {
  return Math.floor(random() * n);
}

function pick<T>(random: Random, items: readonly T[]): T {
  return items[int(random, items.length)]!;
}

function randomBytes(random: Random, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = int(random, 256);
  return out;
}

const KEYS = ["a", "b", "tok-ü", "k3", "session:42", "\u{1F511}"];
const LATER = String(FIXED_NOW / 1000 + 3600);
const PAST = String(FIXED_NOW / 1000 - 5);

function caseOf(random: Random, word: string): string {
  if (random() < 0.8) return word;
  return [...word].map((c) => random() < 0.5 ? c.toUpperCase() : c).join("");
}

function randomValue(random: Random): Uint8Array {
  switch (int(random, 4)) {
    case 0:
      return new TextEncoder().encode("v".repeat(int(random, 20)));
    case 1:
      return randomBytes(random, int(random, 40));
    case 2:
      // A whole record inside a value, to tempt the hidden-record check.
      return concat(
        new TextEncoder().encode("x\r\n"),
        resp("set", pick(random, KEYS), "inner"),
      );
    default:
      return new TextEncoder().encode("\r\n*2\r\n$3\r\ndel\r\n$1\r\na\r\n");
  }
}

function validLog(random: Random): Uint8Array {
  const chunks: Uint8Array[] = [];
  const n = 1 + int(random, 12);
  for (let i = 0; i < n; i++) {
    const key = pick(random, KEYS);
    const r = random();
    if (r < 0.35) {
      chunks.push(
        resp(
          caseOf(random, "set"),
          key,
          randomValue(random),
          caseOf(random, "ae"),
          random() < 0.8 ? LATER : PAST,
        ),
      );
    } else if (r < 0.55) {
      chunks.push(resp(caseOf(random, "set"), key, randomValue(random)));
    } else if (r < 0.6) {
      chunks.push(resp("set", key, randomValue(random), "ex", "3600"));
    } else if (r < 0.8) chunks.push(resp(caseOf(random, "del"), key));
    else if (r < 0.84) chunks.push(resp(caseOf(random, "flushdb")));
    else if (r < 0.88) chunks.push(new TextEncoder().encode("*0\r\n"));
    else chunks.push(new Uint8Array(1 + int(random, 5)));
  }
  return concat(...chunks);
}

const SPECIAL = [0x2a, 0x24, 0x0d, 0x0a, 0x30, 0x31, 0x39, 0x00, 0x2d];

type Mutator = (random: Random, log: Uint8Array) => Uint8Array;

const MUTATORS: Record<string, Mutator> = {
  bitFlips(random, log) {
    const out = log.slice();
    const flips = 1 + int(random, 3);
    for (let i = 0; i < flips && out.length > 0; i++) {
      out[int(random, out.length)]! ^= 1 << int(random, 8);
    }
    return out;
  },
  insertions(random, log) {
    let out = log;
    const times = 1 + int(random, 3);
    for (let i = 0; i < times; i++) {
      const at = int(random, out.length + 1);
      const inserted = random() < 0.6
        ? Uint8Array.of(pick(random, SPECIAL))
        : randomBytes(random, 1 + int(random, 8));
      out = concat(out.subarray(0, at), inserted, out.subarray(at));
    }
    return out;
  },
  deletions(random, log) {
    let out = log;
    const times = 1 + int(random, 3);
    for (let i = 0; i < times && out.length > 0; i++) {
      const at = int(random, out.length);
      const n = 1 + int(random, Math.min(10, out.length - at));
      out = concat(out.subarray(0, at), out.subarray(at + n));
    }
    return out;
  },
  truncation(random, log) {
    return log.slice(0, int(random, log.length + 1));
  },
  zeroFill(random, log) {
    const out = log.slice();
    const at = int(random, out.length + 1);
    out.fill(0, at, at + 1 + int(random, 64));
    return out;
  },
  splice(random, log) {
    const other = validLog(random);
    return concat(
      log.subarray(0, int(random, log.length + 1)),
      other.subarray(int(random, other.length + 1)),
    );
  },
  duplicate(random, log) {
    const at = int(random, log.length + 1);
    const n = int(random, log.length - at + 1);
    const to = int(random, log.length + 1);
    return concat(
      log.subarray(0, to),
      log.subarray(at, at + n),
      log.subarray(to),
    );
  },
  garbage(random) {
    if (random() < 0.5) return randomBytes(random, int(random, 200));
    // RESP-ish tokens in random order.
    const tokens = [
      "*",
      "$",
      "\r\n",
      "3",
      "5",
      "12",
      "set",
      "del",
      "ae",
      "ex",
      "flushdb",
      "\0",
      "key",
      "-",
    ];
    const parts: string[] = [];
    for (let i = int(random, 40); i > 0; i--) parts.push(pick(random, tokens));
    return new TextEncoder().encode(parts.join(""));
  },
};

// ---------------------------------------------------------------------------

Deno.test("BuntStore.open() on mutated logs succeeds as the reference parser says or throws CorruptLogError", async () => {
  const seed = seedFromEnv();
  const random = prng(seed);
  await using tmp = await tempDir();
  const tally = { files: 0, opened: 0, corrupt: 0, truncated: 0 };
  let slowest = 0;
  let current = "";
  try {
    for (const [name, mutate] of Object.entries(MUTATORS)) {
      for (let i = 0; i < FILES_PER_MUTATOR; i++) {
        current = `${name} #${i}`;
        let log = mutate(random, validLog(random));
        // Sometimes stack a second mutation.
        if (random() < 0.2) {
          log = pick(random, Object.values(MUTATORS))(random, log);
        }
        await Deno.writeFile(tmp.path, log);
        const mtimeMs = (await Deno.stat(tmp.path)).mtime!.getTime();
        const expected = refParse(log, mtimeMs);
        const started = performance.now();
        await checkStore(tmp.path, log, expected);
        await checkScan(tmp.path, log, mtimeMs, expected, 1 + int(random, 16));
        const took = performance.now() - started;
        slowest = Math.max(slowest, took);
        tally.files++;
        if (!expected.ok) tally.corrupt++;
        else {
          tally.opened++;
          if (expected.validEnd < log.length) tally.truncated++;
        }
      }
    }
  } catch (error) {
    console.error(
      `fuzz failed on ${current}; rerun with BUNTSTORE_SEED=${seed}`,
    );
    throw error;
  }
  console.log(
    `seed ${seed}: ${tally.files} files, ${tally.opened} opened ` +
      `(${tally.truncated} with a torn tail cut), ${tally.corrupt} ` +
      `CorruptLogError; slowest ${slowest.toFixed(1)} ms`,
  );
  assert.ok(tally.files >= 2000);
  // The mutators must produce all three outcomes, or the test proves little.
  assert.ok(tally.opened > 100 && tally.corrupt > 100 && tally.truncated > 100);
});

async function checkStore(
  path: string,
  log: Uint8Array,
  expected: RefResult,
): Promise<void> {
  let store: BuntStore;
  try {
    store = await BuntStore.open(path, { now, sync: "never" });
  } catch (error) {
    if (!(error instanceof CorruptLogError)) throw error;
    assert.equal(expected.ok, false, `store threw ${error.message}`);
    if (!expected.ok) assert.equal(error.offset, expected.offset);
    assert.deepEqual(await Deno.readFile(path), log, "file changed");
    return;
  }
  try {
    assert.ok(expected.ok, "store opened a log the reference rejects");
    assert.deepEqual(
      sorted(await store.all()),
      sorted(refState(expected.records)),
    );
    assert.equal(store.stats().recordsLoaded, expected.count);
  } finally {
    await store.close();
  }
  if (!expected.records.some((record) => record.legacy)) {
    assert.deepEqual(
      await Deno.readFile(path),
      log.subarray(0, expected.validEnd),
    );
    return;
  }
  // Legacy `ex` records are rewritten as `ae` at open: same contents.
  const reopened = await BuntStore.open(path, { now, sync: "never" });
  try {
    assert.deepEqual(
      sorted(await reopened.all()),
      sorted(refState(expected.records)),
    );
  } finally {
    await reopened.close();
  }
}

async function checkScan(
  path: string,
  log: Uint8Array,
  mtimeMs: number,
  expected: RefResult,
  chunkSize: number,
): Promise<void> {
  // The store truncated a torn tail; scan the original bytes again.
  await Deno.writeFile(path, log);
  const records: RefRecord[] = [];
  using file = await Deno.open(path, { read: true });
  try {
    const result = await scanLog(file, {
      path,
      mtimeMs,
      chunkSize,
      onRecord: (record) => {
        // Field by field: the record is a reused parse target whose key
        // is decoded on read (a getter) and which also has the key bytes.
        records.push({
          command: record.command,
          key: record.key,
          value: record.value.slice(),
          expiresAt: record.expiresAt,
          legacy: record.legacy,
        });
      },
    });
    assert.ok(expected.ok, `scanLog (chunk ${chunkSize}) accepted`);
    assert.equal(result.validEnd, expected.validEnd, `chunk ${chunkSize}`);
    assert.equal(result.records, expected.count);
    assert.equal(result.fileSize, log.length);
    assert.deepEqual(records, expected.records);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    assert.ok(error instanceof CorruptLogError, `scanLog threw ${error}`);
    assert.equal(expected.ok, false, `chunk ${chunkSize}: ${error.message}`);
    if (!expected.ok) assert.equal(error.offset, expected.offset);
  }
}
