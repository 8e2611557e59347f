import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import {
  RecordWriter,
  type ResilientScan,
  scanLog,
  scanResilient,
  setRecordBytes,
} from "../aof.ts";
import { CorruptLogError } from "../errors.ts";
import {
  Progress,
  PROGRESS_MIN_BYTES,
  renderProgress,
} from "../_cli/progress.ts";
import { encode, HOUR, NOW } from "./_cli_helpers.ts";
import { bytes, concat } from "./_fixtures.ts";

/**
 * A read-only file over bytes in memory, enough for both scanners; it
 * notes the largest buffer a scanner read into.
 */
function memoryFile(
  data: Uint8Array,
  reads: { largestBuffer: number } = { largestBuffer: 0 },
): Deno.FsFile {
  let position = 0;
  const file = {
    seek(offset: number) {
      position = offset;
      return Promise.resolve(offset);
    },
    read(buffer: Uint8Array) {
      reads.largestBuffer = Math.max(
        reads.largestBuffer,
        buffer.buffer.byteLength,
      );
      if (position >= data.length) return Promise.resolve(null);
      const count = Math.min(buffer.length, data.length - position);
      buffer.set(data.subarray(position, position + count));
      position += count;
      return Promise.resolve(count);
    },
    stat() {
      return Promise.resolve({ size: data.length } as Deno.FileInfo);
    },
  };
  return file as unknown as Deno.FsFile;
}

const decoder = new TextDecoder();

type Verdict =
  | { kind: "ok"; validEnd: number; records: number }
  | { kind: "damaged"; offset: number };

async function engineVerdict(data: Uint8Array): Promise<Verdict> {
  try {
    const scan = await scanLog(memoryFile(data), {
      path: "x",
      mtimeMs: NOW,
      onRecord: () => {},
      chunkSize: 16,
    });
    return { kind: "ok", validEnd: scan.validEnd, records: scan.records };
  } catch (error) {
    if (!(error instanceof CorruptLogError)) throw error;
    return { kind: "damaged", offset: error.offset };
  }
}

function cliVerdict(scan: ResilientScan): Verdict {
  const first = scan.damaged[0];
  if (first !== undefined) return { kind: "damaged", offset: first.offset };
  return {
    kind: "ok",
    validEnd: scan.torn?.offset ?? scan.fileSize,
    records: scan.records,
  };
}

const BASE = concat(
  encode((records) => {
    records.set("alpha", bytes("one"), NOW + HOUR);
    records.set("beta", new Uint8Array([0, 13, 10, 42]), Infinity);
    records.del("alpha");
  }),
  bytes("*5\r\n$3\r\nSET\r\n$1\r\ng\r\n$1\r\nv\r\n$2\r\nex\r\n$2\r\n60\r\n"),
  bytes("*1\r\n$7\r\nflushdb\r\n*0\r\n"),
  encode((records) => records.set("gamma", bytes("three"), NOW + HOUR)),
);

Deno.test("scanResilient() agrees with scanLog() on every one-byte change and every truncation", async () => {
  const cases: Uint8Array[] = [];
  for (let at = 0; at < BASE.length; at++) {
    cases.push(BASE.subarray(0, at));
    for (const byte of [0x00, 0x58, 0x2a, 0x0a, 0x0d, 0x39]) {
      if (BASE[at] === byte) continue;
      const changed = BASE.slice();
      changed[at] = byte;
      cases.push(changed);
    }
  }
  let damaged = 0;
  for (const data of cases) {
    const engine = await engineVerdict(data);
    for (const chunkSize of [16, 4096]) {
      const scan = await scanResilient(memoryFile(data), {
        mtimeMs: NOW,
        chunkSize,
      });
      const verdict = cliVerdict(scan);
      if (!isDeepStrictEqual(verdict, engine)) {
        assert.deepEqual(verdict, engine, JSON.stringify(decoder.decode(data)));
      }
    }
    if (engine.kind === "damaged") damaged++;
  }
  assert.ok(damaged > 100, `only ${damaged} damaged cases`);
});

Deno.test("scanResilient() covers the file with records, damage, padding and tail", async () => {
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 500; round++) {
    const data = concat(BASE, BASE, BASE);
    for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
      data[Math.floor(random() * data.length)] = Math.floor(random() * 256);
    }
    let recordBytes = 0;
    const scan = await scanResilient(memoryFile(data), {
      mtimeMs: NOW,
      chunkSize: 32,
      onRecord: (_record, _offset, view) => recordBytes += view.length,
    });
    const damagedBytes = scan.damaged.reduce((sum, r) => sum + r.length, 0);
    assert.equal(
      recordBytes + damagedBytes + scan.nulBytes + (scan.torn?.length ?? 0),
      data.length,
    );
    let end = 0;
    for (const range of scan.damaged) {
      assert.ok(range.offset >= end && range.length > 0);
      end = range.offset + range.length;
    }
  }
});

Deno.test("scanLog() and scanResilient() do not buffer the rest of a log behind a length that runs past its end", async (t) => {
  const good = encode((records) => records.set("a", bytes("1"), NOW + HOUR));
  // A flipped digit made the value's length larger than the whole file.
  const runaway = bytes(
    "*3\r\n$3\r\nset\r\n$1\r\nk\r\n$999999999999\r\nxx\r\n",
  );
  const rest = encode((records) => {
    for (let i = 0; i < 2000; i++) {
      records.set(`k${i}`, new Uint8Array(2048).fill(65), NOW + HOUR);
    }
  });
  const chunkSize = 4096;
  await t.step("damage: complete records follow", async () => {
    const data = concat(good, runaway, rest);
    const engine = { largestBuffer: 0 };
    await assert.rejects(
      scanLog(memoryFile(data, engine), {
        path: "x",
        mtimeMs: NOW,
        onRecord: () => {},
        chunkSize,
      }),
      (error) =>
        error instanceof CorruptLogError && error.offset === good.length,
    );
    const cli = { largestBuffer: 0 };
    const scan = await scanResilient(memoryFile(data, cli), {
      mtimeMs: NOW,
      chunkSize,
    });
    assert.equal(scan.damaged[0]?.offset, good.length);
    assert.equal(scan.records, 2001);
    for (
      const [name, reads] of [["scanLog", engine], [
        "scanResilient",
        cli,
      ]] as const
    ) {
      assert.ok(
        reads.largestBuffer <= 4 * chunkSize,
        `${name} buffered ${reads.largestBuffer} bytes of ${data.length}`,
      );
    }
  });
  await t.step("torn: nothing complete follows", async () => {
    const data = concat(good, runaway);
    const scan = await scanLog(memoryFile(data), {
      path: "x",
      mtimeMs: NOW,
      onRecord: () => {},
      chunkSize,
    });
    assert.deepEqual([scan.validEnd, scan.fileSize], [
      good.length,
      data.length,
    ]);
    const resilient = await scanResilient(memoryFile(data), {
      mtimeMs: NOW,
      chunkSize,
    });
    assert.deepEqual(resilient.torn, {
      offset: good.length,
      length: runaway.length,
    });
  });
});

Deno.test("setRecordBytes() matches the engine's encoding", () => {
  for (
    const [key, size, expiresAt] of [["k", 0, Infinity], [
      "ü-key",
      300,
      NOW + 1234,
    ], ["x".repeat(43), 256, 1e9]] as const
  ) {
    const records = new RecordWriter();
    records.set(key, new Uint8Array(size), expiresAt);
    assert.equal(
      setRecordBytes(
        new TextEncoder().encode(key).length,
        size,
        expiresAt,
      ),
      records.length,
    );
  }
});

Deno.test("renderProgress() shows percent, bytes, rate and ETA within the width", () => {
  const MiB = 1024 * 1024;
  const line = renderProgress({
    label: "verify",
    done: 50 * MiB,
    total: 100 * MiB,
    elapsedMs: 1000,
    columns: 100,
  });
  assert.match(
    line,
    /^verify \[#{15}-{15}\] {2}50% 50\.0 MiB\/100\.0 MiB 50\.0 MiB\/s ETA 1s$/,
  );
  assert.ok(line.length <= 100);
  const done = renderProgress({
    label: "dump",
    done: 10,
    total: 10,
    elapsedMs: 0,
    columns: 80,
  });
  assert.match(done, /100% 10 B\/10 B 0 B\/s ETA \?$/);
  const narrow = renderProgress({
    label: "verify",
    done: 1,
    total: 4,
    elapsedMs: 10,
    columns: 30,
  });
  assert.equal(narrow.length, 30);
  assert.doesNotMatch(narrow, /\[/);
  const over = renderProgress({
    label: "x",
    done: 20,
    total: 10,
    elapsedMs: 5,
    columns: 80,
  });
  assert.match(over, /100%/);
});

Deno.test("Progress draws only when enabled for big inputs, and clears itself", () => {
  const frames: string[] = [];
  const write = (b: Uint8Array) => frames.push(new TextDecoder().decode(b));
  const small = new Progress(write, { enabled: true, total: 1000, label: "a" });
  small.update(10);
  small.finish();
  const off = new Progress(write, {
    enabled: false,
    total: PROGRESS_MIN_BYTES,
    label: "a",
  });
  off.update(10);
  off.finish();
  assert.deepEqual(frames, []);
  let clock = 0;
  const on = new Progress(write, {
    enabled: true,
    total: PROGRESS_MIN_BYTES,
    label: "a",
    columns: 80,
    now: () => clock,
  });
  clock = 1000;
  on.update(10);
  clock = 1050;
  on.update(20); // within 100 ms of the last draw: skipped
  on.finish();
  assert.equal(frames.length, 2);
  assert.match(frames[0]!, /^\ra \[.*ETA/);
  assert.equal(frames[1], "\r\x1b[K");
});
