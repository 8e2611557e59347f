// Smoke tests of the benchmark harness at tiny scale: the pieces run, and
// their result checks can fail. No test judges a time.

import assert from "node:assert/strict";
import { BenchCheckError, summarize } from "../bench/_common.ts";
import {
  type BenchStore,
  MapStore,
  STORE_TARGETS,
  type StoreTarget,
} from "../bench/_stores.ts";
import { PHASES, runStoreBench } from "../bench/store_bench.ts";
import {
  HTTP_TARGETS,
  parseWrk,
  runHttpBench,
  withBefore,
} from "../bench/http_bench.ts";
import { runScaleBench } from "../bench/scale_bench.ts";
import { renderChart, usesLogScale } from "../bench/_chart.ts";
import { checkHonoTargets, checkTargets } from "../bench/all.ts";

const TINY = { sessions: 300, slowCapMs: 50, runs: 1, concurrency: 8 };
const quiet = () => {};

async function hasWrk(): Promise<boolean> {
  try {
    await new Deno.Command("wrk", { args: ["-v"] }).output();
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
const WRK = await hasWrk();
if (!WRK) {
  console.warn("Skipping the HTTP bench smoke test: wrk is not installed");
}

function target(id: string): StoreTarget {
  const found = STORE_TARGETS.find((t) => t.id === id);
  assert.ok(found, id);
  return found;
}

/** A store that silently drops every 7th save: fast and wrong. */
class LossyStore extends MapStore {
  #saves = 0;
  override save(token: string, data: Uint8Array, expiry: Date) {
    if (++this.#saves % 7 === 0) return Promise.resolve();
    return super.save(token, data, expiry);
  }
}

Deno.test("runStoreBench() measures every phase on BuntStore, sqlite and Map", async () => {
  const results = await runStoreBench(
    [target("bunt-everysecond"), target("sqlite"), target("map")],
    TINY,
    quiet,
  );
  assert.equal(results.length, 3);
  for (const result of results) {
    for (const phase of PHASES) {
      assert.ok(result.rates[phase].median > 0, `${result.id} ${phase}`);
      assert.ok(result.ops[phase] > 0, `${result.id} ${phase} ops`);
    }
  }
  const bunt = results[0]!;
  assert.equal(bunt.reopen?.sessions, TINY.sessions);
  assert.ok(bunt.shrink !== undefined && bunt.shrink.afterBytes > 0);
  assert.equal(results[2]!.reopen, undefined);
});

Deno.test("runStoreBench() rejects a store that loses saves", async () => {
  const lossy: StoreTarget = {
    ...target("map"),
    id: "lossy",
    open: () => Promise.resolve(new LossyStore() as BenchStore),
  };
  await assert.rejects(
    runStoreBench([lossy], TINY, quiet),
    BenchCheckError,
  );
});

Deno.test("runStoreBench() rejects a store whose count is wrong", async () => {
  const miscounting: StoreTarget = {
    ...target("map"),
    id: "miscount",
    open() {
      const store = new MapStore();
      store.count = () => Promise.resolve(0);
      return Promise.resolve(store);
    },
  };
  await assert.rejects(
    runStoreBench([miscounting], TINY, quiet),
    /counts 0 sessions/,
  );
});

Deno.test({
  name: "runHttpBench() loads bare, floor and BuntStore servers with wrk",
  ignore: !WRK,
}, async () => {
  const results = await runHttpBench(
    [
      { id: "bare", label: "bare", runtime: "deno", sessions: false },
      { id: "floor", label: "floor", runtime: "deno", sessions: false },
      {
        id: "bunt-everysecond",
        label: "BuntStore",
        runtime: "deno",
        sessions: true,
      },
    ],
    {
      runs: 2,
      seconds: 1,
      warmupSeconds: 1,
      warmupRead: false,
      shapes: [{ threads: 1, connections: 4 }, { threads: 2, connections: 4 }],
      cookies: 8,
    },
    quiet,
  );
  assert.deepEqual(results.map((r) => r.id), [
    "bare",
    "floor",
    "bunt-everysecond",
  ]);
  for (const r of results) {
    assert.deepEqual(r.shapes.map((s) => s.shape), ["-t1 -c4", "-t2 -c4"]);
    for (const s of r.shapes) {
      assert.equal(s.rps.read.runs.length, 2, r.id);
      assert.ok(s.rps.read.median > 0 && s.rps.write.median > 0, r.id);
      assert.ok(s.p99Ms.read > 0 && s.p99Ms.write > 0, r.id);
      assert.ok(s.cpuUs.read.min > 0 && s.cpuUs.write.min > 0, r.id);
    }
  }
  // Ratios are per round, bare's (or the floor's) run of that round as the
  // divisor.
  const [bare, floor, bunt] = results;
  const shape = bunt!.shapes[0]!;
  assert.equal(bare!.shapes[0]!.vsBare, undefined);
  assert.equal(floor!.shapes[0]!.vsFloor, undefined);
  assert.deepEqual(
    shape.vsBare!.read.runs,
    shape.rps.read.runs.map((rps, i) =>
      rps / bare!.shapes[0]!.rps.read.runs[i]!
    ),
  );
  assert.deepEqual(
    shape.vsFloor!.write.runs,
    shape.rps.write.runs.map((rps, i) =>
      rps / floor!.shapes[0]!.rps.write.runs[i]!
    ),
  );
  assert.ok(bunt!.writeRequests > 0);
});

Deno.test("parseWrk() rejects error answers and socket errors", () => {
  const ok = "  Latency   1.20ms  0.5ms  9ms  90%\n" +
    "  1000 requests in 1.00s, 100KB read\nRequests/sec:   1000.00\n";
  assert.deepEqual(parseWrk(ok), {
    rps: 1000,
    requests: 1000,
    latencyMs: 1.2,
    p99Ms: NaN,
  });
  const withLatency = ok.replace(
    "  1000 requests",
    "  Latency Distribution\n     50%  1.00ms\n     99%  850.00us\n  1000 requests",
  );
  assert.equal(parseWrk(withLatency).p99Ms, 0.85);
  assert.throws(
    () => parseWrk(ok + "  Non-2xx or 3xx responses: 5\n"),
    BenchCheckError,
  );
  assert.throws(
    () => parseWrk(ok + "  Socket errors: connect 0, read 3\n"),
    BenchCheckError,
  );
  assert.throws(() => parseWrk("garbage"), BenchCheckError);
});

Deno.test("runScaleBench() reopens, weighs and shrinks a small store", async () => {
  const [result] = await runScaleBench([2000], 1, quiet);
  assert.ok(result !== undefined);
  assert.equal(result.sessions, 2000);
  assert.ok(result.fileBytes > 2000 * 256);
  assert.ok(result.heapBytesPerSession.median > 0);
  assert.ok(result.reopenMs.median > 0);
});

Deno.test("renderChart() draws every bar and switches to a log scale", () => {
  const bars = [
    { label: "ours <1>", value: 100_000, kind: "ours" as const },
    { label: "peer", value: 1_000, kind: "peer" as const },
  ];
  assert.ok(usesLogScale(bars));
  assert.ok(!usesLogScale([bars[0]!, { ...bars[1]!, value: 50_000 }]));
  const svg = renderChart({
    title: "t",
    subtitle: "s",
    panels: [{ title: "Find", unit: "ops/s", bars }],
  });
  assert.match(svg, /^<svg /);
  assert.match(svg, /ours &lt;1&gt;/);
  assert.match(svg, /log scale/);
  assert.match(svg, /×100/);
});

Deno.test("runStoreBench() puts BuntStore beside Go buntdb round by round", async () => {
  const pick = (id: string) => STORE_TARGETS.find((t) => t.id === id)!;
  const [bunt, go] = await runStoreBench(
    [pick("bunt-everysecond"), pick("go-buntdb")],
    { ...TINY, runs: 2 },
    quiet,
  );
  assert.equal(go!.ops.find, 300);
  assert.ok(go!.heapBytesPerSession! > 0);
  const vs = bunt!.vsGo!;
  assert.deepEqual(
    vs.seqSave.runs,
    bunt!.rates.seqSave.runs.map((x, i) => x / go!.rates.seqSave.runs[i]!),
  );
  assert.deepEqual(
    vs.reopen.runs.length,
    2,
  );
  const checks = checkTargets([bunt!, go!], []);
  assert.ok(checks.some((c) => c.target === "BuntStore find vs Go buntdb"));
});

Deno.test("checkTargets() reports missed targets as missed", () => {
  const rate = (x: number) => summarize([x]);
  const store = (id: string, x: number) => ({
    id,
    label: id,
    durability: "",
    rates: {
      seqSave: rate(x),
      concSave: rate(x),
      find: rate(x),
      mixed: rate(x),
      delete: rate(x),
    },
    ops: { seqSave: 1, concSave: 1, find: 1, mixed: 1, delete: 1 },
  });
  const checks = checkTargets(
    [store("bunt-everysecond", 40), store("sqlite", 10)],
    [],
  );
  const find = checks.find((c) => c.target === "BuntStore find vs node:sqlite");
  assert.deepEqual(find, {
    target: "BuntStore find vs node:sqlite",
    ratio: 4,
    required: 5,
    met: false,
  });
});

Deno.test("checkTargets() judges the HTTP routes by the median of per-round ratios to the floor", () => {
  const shape = (
    read: number[],
    write: number[],
    vs?: [number[], number[]],
  ) => ({
    shape: "-t1 -c32",
    rps: { read: summarize(read), write: summarize(write) },
    ...(vs
      ? { vsFloor: { read: summarize(vs[0]), write: summarize(vs[1]) } }
      : {}),
    p99Ms: { read: 1, write: 1 },
    cpuUs: { read: summarize([1]), write: summarize([1]) },
  });
  const http = (id: string, s: ReturnType<typeof shape>) => ({
    id,
    label: id,
    rps: s.rps,
    latencyMs: { read: 1, write: 1 },
    shapes: [s],
    writeRequests: 0,
  });
  const checks = checkTargets([], [
    http("bare", shape([100, 50, 100], [100, 50, 100])),
    http("floor", shape([100, 50, 100], [100, 50, 100])),
    // Medians of req/s would say 1.0x; the rounds say 0.8x and 0.6x.
    http(
      "bunt-everysecond",
      shape([80, 100, 80], [60, 100, 60], [[0.8, 2, 0.8], [0.6, 2, 0.6]]),
    ),
  ]);
  const read = checks.find((c) => c.target.startsWith("HTTP read route"));
  const write = checks.find((c) => c.target.startsWith("HTTP writing route"));
  assert.deepEqual(
    [read?.ratio, read?.met, write?.ratio, write?.met],
    [0.8, false, 0.6, false],
  );
});

Deno.test({
  name: "deno task bench --quick runs every part end to end",
  ignore: !WRK,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "bench_quick_" });
    try {
      const out = `${dir}/quick.json`;
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          "--unstable-kv",
          new URL("../bench/all.ts", import.meta.url).pathname,
          "--quick",
          "--out",
          out,
        ],
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      const report = JSON.parse(await Deno.readTextFile(out));
      assert.equal(report.quick, true);
      for (
        const part of ["store", "http", "hono", "scale", "parallel", "targets"]
      ) {
        assert.ok(report[part]?.length > 0, `no ${part} results`);
      }
      assert.match(await Deno.readTextFile(`${dir}/quick.svg`), /^<svg/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("checkHonoTargets() judges ours against each peer's fastest configuration, round by round", () => {
  const result = (id: string, read: number[], write = read) => {
    const rps = { read: summarize(read), write: summarize(write) };
    return {
      id,
      label: id,
      rps,
      latencyMs: { read: 1, write: 1 },
      shapes: [{
        shape: "-t1 -c32",
        rps,
        p99Ms: { read: 1, write: 1 },
        cpuUs: { read: summarize([1]), write: summarize([1]) },
      }],
      writeRequests: 0,
    };
  };
  const checks = checkHonoTargets([
    result("hono-floor", [100, 100]),
    result("hono-bunt", [90, 50], [60, 60]),
    // The fastest configuration differs between rounds: 40, then 30.
    result("hono-sessions-memory", [40, 10]),
    result("hono-sessions-cookie", [20, 30]),
  ]);
  const find = (target: string) => checks.find((c) => c.target === target);
  // Rounds: 90/40 = 2.25 and 50/30 = 1.67, median 1.96.
  const peer = find("Hono read: hono-bunt vs hono-sessions");
  assert.ok(peer !== undefined && Math.abs(peer.ratio - 1.9583) < 1e-3);
  assert.equal(peer.met, false);
  assert.deepEqual(find("Hono read: hono-bunt vs hono-floor"), {
    target: "Hono read: hono-bunt vs hono-floor",
    ratio: 0.7,
    required: 0.8,
    met: false,
  });
  assert.equal(find("Hono write: hono-bunt vs hono-floor")?.met, true);
  // No @hono/session results, no @hono/session targets.
  assert.ok(!checks.some((c) => c.target.includes("@hono/session")));
});

Deno.test("withBefore() adds each Deno session target once more, run from the other tree", () => {
  const picked = HTTP_TARGETS.filter((t) =>
    ["bare", "floor", "bunt-everysecond", "map-encrypted", "express-file"]
      .includes(t.id)
  );
  const added = withBefore(picked, "/tmp/old/").slice(picked.length);
  assert.deepEqual(
    added.map((t) => [t.id, t.serves, t.baseline, t.script]),
    [[
      "bunt-everysecond@before",
      "bunt-everysecond",
      "bunt-everysecond",
      "/tmp/old/bench/_http_server.ts",
    ]],
  );
});

Deno.test("the bench's BuntStore and Deno KV targets pass on replace(), shared and copiesOnSave", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bench_targets_" });
  try {
    const seen = [];
    for (const id of ["bunt-everysecond", "kv"]) {
      const target = STORE_TARGETS.find((t) => t.id === id)!;
      const store = await target.open(dir);
      try {
        seen.push([
          id,
          typeof store.replace,
          store.shared === true,
          store.copiesOnSave === true,
        ]);
      } finally {
        await store.close();
      }
    }
    assert.deepEqual(seen, [
      ["bunt-everysecond", "function", false, true],
      ["kv", "function", true, true],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
