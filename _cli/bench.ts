/**
 * `bench`: the session workload on the user's own disk, small and quick:
 * saves of 256-byte values under 43-character tokens with each sync
 * policy (64 at a time, as concurrent requests would), finds, and the
 * time to reopen the log.
 *
 * @module
 */

import { newToken } from "../_session/token.ts";
import { BuntStore, type SyncPolicy } from "../store.ts";
import {
  formatBytes,
  formatCount,
  formatRate,
  type Output,
  table,
} from "./output.ts";
import type { ReportFlags } from "./read.ts";

/** Flags of `bench`. */
export interface BenchFlags extends ReportFlags {
  /** Directory for the temporary logs (the disk to measure). */
  dir: string;
  /** Saves per sync policy. */
  count: number;
}

/** One measured row. */
export interface BenchRow {
  /** What was measured. */
  name: string;
  /** Operations done. */
  ops: number;
  /** Milliseconds taken. */
  ms: number;
  /** Operations per second. */
  opsPerSecond: number;
}

const POLICIES: SyncPolicy[] = ["never", "everysecond", "always"];
const CONCURRENCY = 64;
const VALUE_BYTES = 256;
const HOUR = 3600_000;

/** Runs `bench`; returns the exit code. */
export async function benchCommand(
  out: Output,
  flags: BenchFlags,
): Promise<number> {
  const tokens = Array.from({ length: flags.count }, () => newToken());
  const value = crypto.getRandomValues(new Uint8Array(VALUE_BYTES));
  const dir = await Deno.makeTempDir({
    dir: flags.dir,
    prefix: "buntstore-bench-",
  });
  const rows: BenchRow[] = [];
  let fileBytes = 0;
  try {
    await warmUp(dir, tokens, value);
    for (const policy of POLICIES) {
      const path = `${dir}/${policy}.db`;
      const store = await BuntStore.open(path, {
        sync: policy,
        autoShrinkDisabled: true,
      });
      try {
        const expiry = new Date(Date.now() + HOUR);
        rows.push(
          await measure(`save, sync "${policy}"`, tokens.length, async () => {
            for (let i = 0; i < tokens.length; i += CONCURRENCY) {
              const batch = tokens.slice(i, i + CONCURRENCY);
              await Promise.all(batch.map((t) => store.save(t, value, expiry)));
            }
          }),
        );
        if (policy === "everysecond") {
          rows.push(
            await measure("find", tokens.length, async () => {
              for (const token of tokens) await store.find(token);
            }),
          );
        }
      } finally {
        await store.close();
      }
    }
    const path = `${dir}/everysecond.db`;
    fileBytes = (await Deno.stat(path)).size;
    // The best of three: the first open also pays for cold caches.
    const reopens: BenchRow[] = [];
    for (let i = 0; i < 3; i++) {
      reopens.push(
        await measure("reopen", 1, async () => {
          const store = await BuntStore.open(path, {
            autoShrinkDisabled: true,
          });
          await store.close();
        }),
      );
    }
    rows.push(reopens.reduce((a, b) => a.ms <= b.ms ? a : b));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  if (flags.json) {
    out.json({
      dir: flags.dir,
      sessions: flags.count,
      valueBytes: VALUE_BYTES,
      concurrency: CONCURRENCY,
      fileBytes,
      rows,
    });
    return 0;
  }
  out.line(
    `${
      formatCount(flags.count)
    } sessions of ${VALUE_BYTES} bytes, ${CONCURRENCY} saves at a time, in ${flags.dir} (log ${
      formatBytes(fileBytes)
    })`,
  );
  for (
    const line of table(rows.map((row) => [
      row.name,
      row.name === "reopen"
        ? `${row.ms.toFixed(1)} ms for ${formatCount(flags.count)} sessions`
        : `${formatRate(row.ops, row.ms)} ops/s`,
    ]))
  ) out.line(line);
  return 0;
}

async function measure(
  name: string,
  ops: number,
  work: () => Promise<void>,
): Promise<BenchRow> {
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  return { name, ops, ms, opsPerSecond: Math.round(ops / ms * 1000) };
}

/** Runs the same code paths once so that the JIT does not skew row one. */
async function warmUp(
  dir: string,
  tokens: string[],
  value: Uint8Array,
): Promise<void> {
  const store = await BuntStore.open(`${dir}/warm-up.db`, {
    sync: "never",
    autoShrinkDisabled: true,
  });
  try {
    const expiry = new Date(Date.now() + HOUR);
    const some = tokens.slice(0, 2000);
    for (let i = 0; i < some.length; i += CONCURRENCY) {
      const batch = some.slice(i, i + CONCURRENCY);
      await Promise.all(batch.map((t) => store.save(t, value, expiry)));
    }
    for (const token of some) await store.find(token);
  } finally {
    await store.close();
  }
  await BuntStore.open(`${dir}/warm-up.db`).then((store) => store.close());
}
