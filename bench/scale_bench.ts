/**
 * The scale part of `deno task bench`: for BuntStore with 100k and 1M
 * sessions (10k and 100k with `--quick`), the time to reopen the log, the
 * heap bytes each live session costs, and the longest event-loop pause
 * during a compaction of the largest store.
 *
 * Each size runs in its own child process started with `--expose-gc`, so
 * heap figures are not polluted by other benches. The child writes the log
 * (256-byte values, 1 h TTL), then reopens it once as warm-up and `runs`
 * more times, checking every time that the count matches and that sampled
 * sessions hold their bytes; the heap delta is measured after a full GC.
 *
 * With `churnSeconds`, the largest store then takes churn with
 * auto-compaction on (see `_churn.ts`), once at a fixed ~33k ops/s and once
 * unthrottled, each run in a fresh child on a fresh copy of the log.
 *
 * Usage: deno run -A bench/scale_bench.ts [--quick] [--runs 3]
 *        [--only scale-churn | scale-churn-flood]
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { BuntStore } from "../store.ts";
import {
  check,
  measureShrink,
  parseFlags,
  readValue,
  summarize,
  type Summary,
  token,
  TTL_MS,
  value,
} from "./_common.ts";
import { churn, type ChurnConfig, type ChurnRun } from "./_churn.ts";

/** Results for one store size. */
export interface ScaleResult {
  sessions: number;
  fileBytes: number;
  reopenMs: Summary;
  heapBytesPerSession: Summary;
  /** Longest event-loop pause during `shrink()`, in ms. */
  shrinkMaxPauseMs: Summary;
  shrinkMs: Summary;
  /** Churn with auto-compaction, on the largest size only. */
  churn?: ChurnResult[];
}

/** The churn runs of one rate (issue 12's pause and compaction rows). */
export interface ChurnResult {
  sessions: number;
  seconds: number;
  /** Operations a second asked for; `0` is unthrottled. */
  rate: number;
  /** Longest event-loop pause of each run, in ms. */
  maxPauseMs: Summary;
  /** The same, of pauses next to a running compaction. */
  maxPauseCompactingMs: Summary;
  /** The same, of pauses with no compaction running. */
  maxPauseIdleMs: Summary;
  opsPerSec: Summary;
  /** Auto-compactions completed during each run's churn. */
  compactions: Summary;
  /** Log size over live records after each run. */
  fileToLive: Summary;
  /** Duration of every auto-compaction that completed, in ms. */
  compactionMs: Summary | undefined;
  /** Log size right after each auto-compaction over the live records. */
  compactedToLive: Summary | undefined;
  /** The next auto-compaction's base size over the live records. */
  thresholdToLive: Summary | undefined;
  /** Runs that ended with a compaction that had not finished. */
  unfinished: number;
  runs: ChurnRun[];
}

/**
 * Churn rates: issue 12's fixed rate, unthrottled, and a flood that
 * starves timers (see `_churn.ts`).
 */
export const CHURN_RATES = [33_000, 0, -1];

/** How a churn rate is named in logs and targets. */
export function churnLabel(rate: number): string {
  return rate === 0
    ? "unthrottled"
    : rate < 0
    ? "flood (MessageChannel)"
    : `${rate} ops/s`;
}
/** Seconds of churn per run at full scale (issue 12's setup). */
export const CHURN_SECONDS = 45;

/** Sizes for the given scale divisor (10 with `--quick`). */
export function scaleSizes(divisor: number): number[] {
  return [100_000, 1_000_000].map((n) => Math.max(1000, n / divisor));
}

/**
 * Writes a log of each size, then opens it in `runs + 1` fresh child
 * processes (the first is the discarded warm-up), so each heap figure is
 * one store in an otherwise empty heap.
 */
export async function runScaleBench(
  sizes: number[],
  runs: number,
  log: (line: string) => void = console.log,
  options: { churnSeconds?: number; churnOnly?: boolean; rates?: number[] } =
    {},
): Promise<ScaleResult[]> {
  const results: ScaleResult[] = [];
  const churnSeconds = options.churnSeconds ?? 0;
  const largest = Math.max(...sizes);
  for (const sessions of sizes) {
    const churnHere = churnSeconds > 0 && sessions === largest;
    if (options.churnOnly && !churnHere) continue;
    const dir = await Deno.makeTempDir({ prefix: "buntstore-scale-" });
    const path = `${dir}/sessions.db`;
    try {
      await writeLog(path, sessions);
      const fileBytes = (await Deno.stat(path)).size;
      const measured: ChildResult[] = [];
      for (let r = 0; r <= (options.churnOnly ? 0 : runs); r++) {
        const result = await runChild(path, sessions);
        if (r > 0 || options.churnOnly) measured.push(result);
      }
      const result: ScaleResult = {
        sessions,
        fileBytes,
        reopenMs: summarize(measured.map((m) => m.reopenMs)),
        heapBytesPerSession: summarize(measured.map((m) => m.perSession)),
        shrinkMaxPauseMs: summarize(measured.map((m) => m.maxPauseMs)),
        shrinkMs: summarize(measured.map((m) => m.shrinkMs)),
      };
      results.push(result);
      log(
        `BuntStore ${String(sessions).padStart(8)} sessions: reopen ` +
          `${result.reopenMs.median.toFixed(0)} ms, ` +
          `${result.heapBytesPerSession.median.toFixed(0)} B/session ` +
          `(heap + external), shrink ${result.shrinkMs.median.toFixed(0)} ms` +
          ` with longest pause ${result.shrinkMaxPauseMs.median.toFixed(1)}` +
          ` ms, file ${(fileBytes / 2 ** 20).toFixed(1)} MiB`,
      );
      if (churnHere) {
        result.churn = [];
        for (const rate of options.rates ?? CHURN_RATES) {
          const runsOf: ChurnRun[] = [];
          for (let r = 0; r < runs; r++) {
            const copy = `${dir}/churn.db`;
            await Deno.copyFile(path, copy);
            runsOf.push(
              await runChurnChild(copy, {
                sessions,
                seconds: churnSeconds,
                rate,
                seed: 12 + r,
              }),
            );
            await Deno.remove(copy);
          }
          const summary = summarizeChurn(sessions, churnSeconds, rate, runsOf);
          result.churn.push(summary);
          log(describeChurn(summary));
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  return results;
}

function summarizeChurn(
  sessions: number,
  seconds: number,
  rate: number,
  runs: ChurnRun[],
): ChurnResult {
  const seen = runs.flatMap((r) => r.seen);
  const maybe = (xs: number[]) => xs.length > 0 ? summarize(xs) : undefined;
  return {
    sessions,
    seconds,
    rate,
    maxPauseMs: summarize(runs.map((r) => r.maxPauseMs)),
    maxPauseCompactingMs: summarize(runs.map((r) => r.maxPauseCompactingMs)),
    maxPauseIdleMs: summarize(runs.map((r) => r.maxPauseIdleMs)),
    opsPerSec: summarize(runs.map((r) => r.opsPerSec)),
    compactions: summarize(runs.map((r) => r.compactions)),
    fileToLive: summarize(runs.map((r) => r.fileBytes / r.liveBytes)),
    compactionMs: maybe(seen.map((c) => c.ms)),
    compactedToLive: maybe(seen.map((c) => c.fileBytes / c.liveBytes)),
    thresholdToLive: maybe(
      seen.map((c) => c.thresholdBaseBytes / c.liveBytes),
    ),
    unfinished: runs.filter((r) => r.runningAtEnd && !r.finishedAfterChurn)
      .length,
    runs,
  };
}

function describeChurn(c: ChurnResult): string {
  const mmm = (s: Summary | undefined, digits = 0) =>
    s === undefined
      ? "-"
      : [s.min, s.median, s.max].map((x) => x.toFixed(digits)).join("/");
  return `  churn ${churnLabel(c.rate)}, ` +
    `${c.seconds} s (min/median/max): longest pause ` +
    `${mmm(c.maxPauseMs, 1)} ms (${mmm(c.maxPauseCompactingMs, 1)} ms ` +
    `compacting, ${mmm(c.maxPauseIdleMs, 1)} ms not) at ` +
    `${mmm(c.opsPerSec)} ops/s; ` +
    `${mmm(c.compactions)} compactions of ${mmm(c.compactionMs)} ms, ` +
    `file ${mmm(c.compactedToLive, 2)}x live after each, next threshold ` +
    `base ${mmm(c.thresholdToLive, 2)}x live; file ${mmm(c.fileToLive, 2)}x` +
    ` live at the end; ${c.unfinished} unfinished`;
}

async function runChurnChild(
  path: string,
  config: ChurnConfig,
): Promise<ChurnRun> {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--max-old-space-size=8192",
      fileURLToPath(import.meta.url),
      "--churn",
      path,
      JSON.stringify(config),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  check(code === 0, `Churn child (${JSON.stringify(config)}) failed (${code})`);
  return JSON.parse(new TextDecoder().decode(stdout));
}

async function writeLog(path: string, sessions: number): Promise<void> {
  const expiry = new Date(Date.now() + TTL_MS);
  await using store = await BuntStore.open(path, {
    sync: "never",
    autoShrinkDisabled: true,
  });
  const batch: Promise<void>[] = [];
  for (let i = 0; i < sessions; i++) {
    batch.push(store.save(token(i), value(i), expiry));
    if (batch.length === 4096) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
}

interface ChildResult {
  reopenMs: number;
  perSession: number;
  maxPauseMs: number;
  shrinkMs: number;
}

async function runChild(path: string, sessions: number): Promise<ChildResult> {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--expose-gc,--max-old-space-size=8192",
      fileURLToPath(import.meta.url),
      "--child",
      path,
      String(sessions),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  check(code === 0, `Scale child for ${sessions} sessions failed (${code})`);
  return JSON.parse(new TextDecoder().decode(stdout));
}

/** Opens the log (timed), measures its heap, checks it, shrinks it. */
async function child(path: string, sessions: number): Promise<ChildResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("Run the child with --expose-gc");
  await settle(gc);
  const before = used();
  const t0 = performance.now();
  await using store = await BuntStore.open(path, {
    sync: "never",
    autoShrinkDisabled: true,
  });
  const reopenMs = performance.now() - t0;
  await settle(gc);
  const perSession = (used() - before) / sessions;
  check(
    store.size === sessions,
    `Reopened ${store.size} sessions, not ${sessions}`,
  );
  for (let i = 0; i < sessions; i += 997) {
    const got = readValue(await store.find(token(i)));
    check(got?.i === i, `Session ${i} lost after reopen`);
  }
  const { maxPauseMs, shrinkMs } = await measureShrink(store);
  check(store.size === sessions, "Sessions lost by shrink()");
  return { reopenMs, perSession, maxPauseMs, shrinkMs };
}

/**
 * Full GCs with pauses between: ArrayBuffer backing stores are freed after
 * the GC that finds them dead, so one `gc()` leaves `external` inflated.
 */
async function settle(gc: () => void): Promise<void> {
  for (let k = 0; k < 4; k++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function used(): number {
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

if (import.meta.main) {
  if (Deno.args[0] === "--churn") {
    const [path = "", config = "{}"] = Deno.args.slice(1);
    console.log(JSON.stringify(await churn(path, JSON.parse(config))));
  } else if (Deno.args[0] === "--child") {
    const [path = "", sessions = "0"] = Deno.args.slice(1);
    console.log(JSON.stringify(await child(path, Number(sessions))));
  } else {
    const flags = parseFlags(Deno.args);
    const results = await runScaleBench(
      scaleSizes(flags.divisor),
      flags.runs,
      console.log,
      {
        churnSeconds: CHURN_SECONDS / flags.divisor,
        churnOnly: flags.only.some((id) => id.startsWith("scale-churn")),
        rates: flags.only.includes("scale-churn-flood") ? [-1] : CHURN_RATES,
      },
    );
    if (flags.out !== undefined) {
      await Deno.writeTextFile(flags.out, JSON.stringify(results, null, 2));
    }
  }
}
