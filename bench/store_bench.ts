/**
 * `deno task bench:store`: the session store workload of issue 2 on every
 * store, side by side in one process and one run.
 *
 * Per store and run, on a fresh directory: sequential saves, 64 concurrent
 * saves, finds, a 90/10 find/save mix, close and reopen, deletes. Stores
 * that fsync or commit per write are capped by time per phase (the rate is
 * what counts; the op count is reported). Every run is checked: each saved
 * session is found with its latest bytes, and the counts match, so a broken
 * store cannot look fast. One warm-up run at a tenth of the size is
 * discarded; the median, min and max of the measured runs are reported.
 *
 * Usage: deno run -A --unstable-kv bench/store_bench.ts [--quick] [--runs 3]
 *        [--only bunt-everysecond,sqlite] [--out file.json]
 *
 * @module
 */

import {
  type BenchFlags,
  check,
  fmtRate,
  FULL_SESSIONS,
  machineInfo,
  measureShrink,
  parseFlags,
  readValue,
  summarize,
  type Summary,
  token,
  TTL_MS,
  value,
} from "./_common.ts";
import { type BenchStore, pickTargets, type StoreTarget } from "./_stores.ts";

/** The measured phases, in order. */
export const PHASES = [
  "seqSave",
  "concSave",
  "find",
  "mixed",
  "delete",
] as const;
/** One measured phase name. */
export type Phase = typeof PHASES[number];

/** Results of one store over all measured runs. */
export interface StoreResult {
  id: string;
  label: string;
  durability: string;
  /** Operations per second, per phase. */
  rates: Record<Phase, Summary>;
  /** Operations done per phase in the smallest run (time caps). */
  ops: Record<Phase, number>;
  /** Reopen time in ms and the sessions it loaded; absent for memory. */
  reopen?: { ms: Summary; sessions: number };
  /** BuntStore only: log bytes before and after shrink, longest pause. */
  shrink?: { beforeBytes: number; afterBytes: number; maxPauseMs: Summary };
  /**
   * BuntStore (everysecond) beside Go buntdb, per round: its rate divided
   * by Go's for saves and finds, and Go's reopen time divided by its own
   * (above 1 is faster than Go).
   */
  vsGo?: { seqSave: Summary; find: Summary; reopen: Summary };
  /** Go buntdb only: heap in use per live session after reopen. */
  heapBytesPerSession?: number;
}

/** Per-round ratios of BuntStore to Go buntdb. */
function vsGo(
  bunt: RunResult[],
  go: RunResult[],
): NonNullable<StoreResult["vsGo"]> {
  const ratio = (f: (r: RunResult) => number, g: (r: RunResult) => number) =>
    summarize(bunt.map((b, i) => f(b) / g(go[i]!)));
  return {
    seqSave: ratio((r) => r.rates.seqSave, (r) => r.rates.seqSave),
    find: ratio((r) => r.rates.find, (r) => r.rates.find),
    reopen: summarize(bunt.map((b, i) => go[i]!.reopenMs! / b.reopenMs!)),
  };
}

/** Sizes and caps of one store bench. */
export interface StoreBenchConfig {
  sessions: number;
  /** Time cap per phase for stores marked slow, in ms. */
  slowCapMs: number;
  runs: number;
  concurrency: number;
}

/** The configuration for the given flags. */
export function storeConfig(flags: BenchFlags): StoreBenchConfig {
  const div = flags.divisor;
  return {
    sessions: Math.max(100, Math.floor(FULL_SESSIONS / div)),
    slowCapMs: Math.max(50, Math.floor(2000 / div / (flags.quick ? 2 : 1))),
    runs: flags.runs,
    concurrency: 64,
  };
}

/** Runs the store workload on each target; throws on a failed check. */
export async function runStoreBench(
  targets: StoreTarget[],
  config: StoreBenchConfig,
  log: (line: string) => void = console.log,
): Promise<StoreResult[]> {
  const warm = { ...config, sessions: Math.max(100, config.sessions / 10) };
  for (const target of targets) await oneRun(target, warm);
  // Rounds of every target back to back, the order reversed on odd rounds,
  // so a ratio between two targets compares runs minutes apart at most.
  const runs = new Map<StoreTarget, RunResult[]>(targets.map((t) => [t, []]));
  const seconds = new Map<StoreTarget, number>(targets.map((t) => [t, 0]));
  for (let r = 0; r < config.runs; r++) {
    const order = r % 2 === 0 ? targets : [...targets].reverse();
    for (const target of order) {
      const started = performance.now();
      runs.get(target)!.push(await oneRun(target, config));
      seconds.set(
        target,
        seconds.get(target)! + (performance.now() - started) / 1000,
      );
    }
  }
  const results: StoreResult[] = [];
  const go = targets.find((t) => t.id === "go-buntdb");
  for (const target of targets) {
    const result = summarizeRuns(target, runs.get(target)!);
    if (go !== undefined && target.id === "bunt-everysecond") {
      result.vsGo = vsGo(runs.get(target)!, runs.get(go)!);
    }
    results.push(result);
    log(
      `${target.label.padEnd(28)} ` +
        PHASES.map((p) =>
          `${p} ${fmtRate(result.rates[p].median)}/s (${result.ops[p]})`
        ).join("  ") +
        (result.reopen
          ? `  reopen ${result.reopen.ms.median.toFixed(0)} ms` +
            ` (${result.reopen.sessions})`
          : "") +
        `  [${seconds.get(target)!.toFixed(1)} s]`,
    );
  }
  return results;
}

interface RunResult {
  rates: Record<Phase, number>;
  ops: Record<Phase, number>;
  reopenMs?: number;
  sessions: number;
  /** Go buntdb only: its heap in use per live session after reopen. */
  heapBytesPerSession?: number;
  shrink?: { beforeBytes: number; afterBytes: number; maxPauseMs: number };
}

async function oneRun(
  target: StoreTarget,
  config: StoreBenchConfig,
): Promise<RunResult> {
  const dir = await Deno.makeTempDir({ prefix: "buntstore-bench-" });
  const n = config.sessions;
  if (target.external !== undefined) {
    try {
      const run = await target.external(dir, n, config.concurrency);
      return {
        rates: run.rates as Record<Phase, number>,
        ops: run.ops as Record<Phase, number>,
        reopenMs: run.reopenMs,
        sessions: run.sessions,
        heapBytesPerSession: run.heapBytesPerSession,
      };
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  const cap = target.slow ? config.slowCapMs : Infinity;
  const expiry = new Date(Date.now() + TTL_MS);
  const rates = {} as Record<Phase, number>;
  const ops = {} as Record<Phase, number>;
  let store: BenchStore | undefined = await target.open(dir);
  try {
    const s = store;
    // Sequential saves: one client, each save awaited.
    let t0 = performance.now();
    let k1 = 0;
    while (k1 < n) {
      await s.save(token(k1), value(k1), expiry);
      k1++;
      if ((k1 & 63) === 0 && performance.now() - t0 > cap) break;
    }
    record("seqSave", k1, t0);

    // 64 concurrent clients, each awaiting its own save: the same tokens
    // again from the start (overwrites, as sessions are re-saved).
    t0 = performance.now();
    let next = 0;
    let stop = false;
    const worker = async () => {
      while (next < n && !stop) {
        const i = next++;
        await s.save(token(i), value(i), expiry);
        if ((i & 63) === 0 && performance.now() - t0 > cap) stop = true;
      }
    };
    await Promise.all(Array.from({ length: config.concurrency }, worker));
    record("concSave", next, t0);
    const saved = Math.max(k1, next);
    await verify(s, saved, new Uint8Array(saved), "after saves");

    // Finds over every saved session, one client.
    t0 = performance.now();
    let missing = 0;
    const findOps = Math.max(n, saved);
    for (let i = 0; i < findOps; i++) {
      if ((await s.find(token(i % saved))) === undefined) missing++;
    }
    check(missing === 0, `${target.id}: ${missing} saved sessions not found`);
    record("find", findOps, t0);

    // 90% finds, 10% overwrites with a new round, one client.
    const rounds = new Uint8Array(saved);
    t0 = performance.now();
    let m = 0;
    while (m < n) {
      const j = (m * 7919) % saved;
      if (m % 10 === 0) {
        await s.save(token(j), value(j, 1), expiry);
        rounds[j] = 1;
      } else if ((await s.find(token(j))) === undefined) missing++;
      m++;
      if ((m & 63) === 0 && performance.now() - t0 > cap) break;
    }
    check(missing === 0, `${target.id}: ${missing} sessions lost in the mix`);
    record("mixed", m, t0);
    await verify(s, saved, rounds, "after the mix");

    let reopenMs: number | undefined;
    let shrink: RunResult["shrink"];
    if (target.persistent) {
      await s.close();
      store = undefined;
      t0 = performance.now();
      store = await target.open(dir);
      reopenMs = performance.now() - t0;
      await verify(store, saved, rounds, "after reopen");
      if (target.bunt !== undefined) {
        shrink = await measureShrink(target.bunt(store));
        await verify(store, saved, rounds, "after shrink");
      }
    }

    // Deletes, one client.
    const d = store;
    t0 = performance.now();
    let deleted = 0;
    while (deleted < saved) {
      await d.delete(token(deleted));
      deleted++;
      if ((deleted & 63) === 0 && performance.now() - t0 > cap) break;
    }
    record("delete", deleted, t0);
    const left = await d.count();
    check(
      left === saved - deleted,
      `${target.id}: ${left} sessions left after deleting ${deleted} of ${saved}`,
    );
    check(
      (await d.find(token(0))) === undefined,
      `${target.id}: a deleted session is still found`,
    );
    return {
      rates,
      ops,
      sessions: saved,
      ...(reopenMs === undefined ? {} : { reopenMs }),
      ...(shrink === undefined ? {} : { shrink }),
    };
  } finally {
    await store?.close();
    await Deno.remove(dir, { recursive: true });
  }

  function record(phase: Phase, count: number, start: number) {
    const ms = performance.now() - start;
    if (Deno.env.get("BENCH_DEBUG")) {
      console.error(target.id, phase, count, ms.toFixed(0), "ms");
    }
    ops[phase] = count;
    rates[phase] = count / (ms / 1000);
  }
}

/** Every session 0..saved-1 is found with its latest round; counts match. */
async function verify(
  store: BenchStore,
  saved: number,
  rounds: Uint8Array,
  when: string,
): Promise<void> {
  for (let i = 0; i < saved; i++) {
    const got = readValue(await store.find(token(i)));
    check(got !== undefined, `Session ${i} of ${saved} missing ${when}`);
    check(
      got.i === i && got.round === rounds[i],
      `Session ${i} has wrong bytes ${when}: ${JSON.stringify(got)}`,
    );
  }
  const count = await store.count();
  check(
    count === saved,
    `Store counts ${count} sessions ${when}, not ${saved}`,
  );
}

function summarizeRuns(target: StoreTarget, runs: RunResult[]): StoreResult {
  const rates = {} as Record<Phase, Summary>;
  const ops = {} as Record<Phase, number>;
  for (const p of PHASES) {
    rates[p] = summarize(runs.map((r) => r.rates[p]));
    ops[p] = Math.min(...runs.map((r) => r.ops[p]));
  }
  const result: StoreResult = {
    id: target.id,
    label: target.label,
    durability: target.durability,
    rates,
    ops,
  };
  if (runs[0]?.reopenMs !== undefined) {
    result.reopen = {
      ms: summarize(runs.map((r) => r.reopenMs!)),
      sessions: Math.min(...runs.map((r) => r.sessions)),
    };
  }
  if (runs[0]?.heapBytesPerSession !== undefined) {
    result.heapBytesPerSession = summarize(runs.map((r) =>
      r.heapBytesPerSession!
    )).median;
  }
  const first = runs[0]?.shrink;
  if (first !== undefined) {
    result.shrink = {
      beforeBytes: first.beforeBytes,
      afterBytes: first.afterBytes,
      maxPauseMs: summarize(runs.map((r) => r.shrink!.maxPauseMs)),
    };
  }
  return result;
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const config = storeConfig(flags);
  console.log(
    `Store bench: ${config.sessions} sessions, ${config.runs} runs` +
      ` (+1 warm-up), slow stores capped at ${config.slowCapMs} ms per phase`,
  );
  const results = await runStoreBench(pickTargets(flags.only), config);
  if (flags.out !== undefined) {
    await Deno.writeTextFile(
      flags.out,
      JSON.stringify(
        { machine: await machineInfo(), config, store: results },
        null,
        2,
      ) + "\n",
    );
  }
}
