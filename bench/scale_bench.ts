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
 * Usage: deno run -A bench/scale_bench.ts [--quick] [--runs 3]
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

/** Results for one store size. */
export interface ScaleResult {
  sessions: number;
  fileBytes: number;
  reopenMs: Summary;
  heapBytesPerSession: Summary;
  /** Longest event-loop pause during `shrink()`, in ms. */
  shrinkMaxPauseMs: Summary;
  shrinkMs: Summary;
}

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
): Promise<ScaleResult[]> {
  const results: ScaleResult[] = [];
  for (const sessions of sizes) {
    const dir = await Deno.makeTempDir({ prefix: "buntstore-scale-" });
    const path = `${dir}/sessions.db`;
    try {
      await writeLog(path, sessions);
      const fileBytes = (await Deno.stat(path)).size;
      const measured: ChildResult[] = [];
      for (let r = 0; r <= runs; r++) {
        const result = await runChild(path, sessions);
        if (r > 0) measured.push(result);
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
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
  return results;
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
  if (Deno.args[0] === "--child") {
    const [path = "", sessions = "0"] = Deno.args.slice(1);
    console.log(JSON.stringify(await child(path, Number(sessions))));
  } else {
    const flags = parseFlags(Deno.args);
    await runScaleBench(
      scaleSizes(flags.divisor),
      flags.runs,
    );
  }
}
