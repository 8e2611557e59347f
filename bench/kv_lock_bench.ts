/**
 * What a "database is locked" retry costs KvStore on a local file: one
 * process alone, then two processes at once, each making the commits of
 * `KvStore.save` (read the entry, checked atomic set) at concurrency 20 on
 * one file, through the retry of `_kv_store/lock_retry.ts`. Reported per
 * process: commits, how many met the lock and how many retries they took,
 * the time spent waiting, and the latency (p50, p99, max) of the commits
 * that met no lock against those that did.
 *
 * Usage: deno run -A --unstable-kv bench/kv_lock_bench.ts [--commits 2000]
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  type LockRetryCounters,
  retryLocked,
} from "../_kv_store/lock_retry.ts";

/** One process's figures. */
export interface LockReport {
  commits: number;
  lockedCommits: number;
  retries: number;
  waitedMs: number;
  clean: Percentiles;
  retried: Percentiles | undefined;
}

/** Latency percentiles in ms. */
export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

const CONCURRENCY = 20;

async function commits(path: string, count: number): Promise<LockReport> {
  const kv = await Deno.openKv(path);
  const clean: number[] = [];
  const retried: number[] = [];
  const total: LockRetryCounters = { lockedCalls: 0, retries: 0, waitedMs: 0 };
  let next = 0;
  const value = new Uint8Array(300);
  async function loop(): Promise<void> {
    while (next < count) {
      const key = ["sessions", "entry", `t${next++ % 500}`];
      // One proxy per save, so each save's retries are its own.
      const own: LockRetryCounters = {
        lockedCalls: 0,
        retries: 0,
        waitedMs: 0,
      };
      const db = retryLocked(kv, path, 5000, own);
      const start = performance.now();
      const old = await db.get(key);
      await db.atomic().check(old).set(key, value).commit();
      const ms = performance.now() - start;
      (own.retries > 0 ? retried : clean).push(ms);
      total.lockedCalls += own.lockedCalls > 0 ? 1 : 0;
      total.retries += own.retries;
      total.waitedMs += own.waitedMs;
    }
  }
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  } finally {
    kv.close();
  }
  return {
    commits: count,
    lockedCommits: total.lockedCalls,
    retries: total.retries,
    waitedMs: Math.round(total.waitedMs),
    clean: percentiles(clean)!,
    retried: percentiles(retried),
  };
}

function percentiles(ms: number[]): Percentiles | undefined {
  if (ms.length === 0) return undefined;
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(
      sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 100,
    ) / 100;
  return { p50: at(0.5), p99: at(0.99), max: at(1) };
}

function spawnChild(path: string, count: number): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-kv",
      new URL(import.meta.url).pathname,
      "--child",
      path,
      "--commits",
      String(count),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      child: { type: "string" },
      commits: { type: "string", default: "2000" },
    },
  });
  const count = Number(values.commits);
  if (values.child !== undefined) {
    console.log(JSON.stringify(await commits(values.child, count)));
  } else {
    const dir = await Deno.makeTempDir({ prefix: "kv-lock-bench-" });
    try {
      const alone = await commits(`${dir}/alone.kv`, count);
      console.log("one process:", JSON.stringify(alone));
      const children = [0, 1].map(() => spawnChild(`${dir}/shared.kv`, count));
      for (const [i, child] of children.entries()) {
        const { stdout } = await child.output();
        console.log(
          `two processes, #${i + 1}:`,
          new TextDecoder().decode(stdout).trim(),
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
}
