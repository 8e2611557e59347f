/**
 * Deno KV on a local file is SQLite, and SQLite lets one writer in at a
 * time: a commit from another process or worker that finds the file busy
 * fails at once with `TypeError: database is locked` (Deno sets no busy
 * timeout). Measured with two processes committing at concurrency 20 on
 * one file: most commits of the slower one failed. This retries them with
 * a jittered exponential backoff, up to a time bound.
 *
 * @module
 */

import { assertKnownOptions } from "../_session_store/validate.ts";

/** The default of the `lockTimeout` option, in milliseconds. */
export const DEFAULT_LOCK_TIMEOUT_MS = 5000;

/** The first wait after "database is locked"; it doubles up to the cap. */
const FIRST_WAIT_MS = 1;
const MAX_WAIT_MS = 32;

/** What a {@linkcode retryLocked} database counts, for benchmarks. */
export interface LockRetryCounters {
  /** Calls that met "database is locked" at least once. */
  lockedCalls: number;
  /** Retries made. */
  retries: number;
  /** Milliseconds spent waiting between retries. */
  waitedMs: number;
}

/**
 * Whether `error` is SQLite's "database is locked" (or "database table is
 * locked") as Deno KV reports it.
 */
export function isLocked(error: unknown): boolean {
  return error instanceof TypeError &&
    /database (table )?is locked/.test(error.message);
}

/**
 * `kv` with its `get`, `getMany` and atomic `commit` retried while they
 * fail with "database is locked", for up to `timeoutMs` per call; past it,
 * an error that says what happened. Everything else passes through. A
 * commit that failed this way wrote nothing, so trying it again is safe.
 *
 * @param kv The database.
 * @param name Its name, for the error.
 * @param timeoutMs The bound; 0 turns retries off.
 * @param counters Incremented on every retry.
 */
export function retryLocked(
  kv: Deno.Kv,
  name: string,
  timeoutMs: number,
  counters?: LockRetryCounters,
): Deno.Kv {
  if (timeoutMs === 0) return kv;
  const retry = <T>(call: () => Promise<T>) =>
    retrying(call, name, timeoutMs, counters);
  return new Proxy(kv, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property === "atomic") {
        return () => {
          const op = target.atomic();
          const commit = op.commit.bind(op);
          op.commit = () => retry(commit);
          return op;
        };
      }
      if (property === "get" || property === "getMany") {
        return (...args: unknown[]) =>
          retry(() =>
            (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
          );
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function retrying<T>(
  call: () => Promise<T>,
  name: string,
  timeoutMs: number,
  counters: LockRetryCounters | undefined,
): Promise<T> {
  let wait = FIRST_WAIT_MS;
  let start: number | undefined;
  for (let attempt = 1;; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isLocked(error)) throw error;
      const now = performance.now();
      start ??= now;
      if (counters !== undefined && attempt === 1) counters.lockedCalls++;
      const elapsed = now - start;
      if (elapsed >= timeoutMs) {
        throw new Error(
          `Cannot write to KV database "${name}": it stayed locked by other writers for ${
            Math.round(elapsed)
          } ms (${attempt} attempts; other processes or workers write to the same file); raise KvStore's lockTimeout option, or move many writers to RedisStore`,
          { cause: error },
        );
      }
      // Full jitter, so that waiting writers do not retry in step.
      const delay = Math.min(
        wait * (0.5 + Math.random() / 2),
        timeoutMs - elapsed,
      );
      wait = Math.min(wait * 2, MAX_WAIT_MS);
      if (counters !== undefined) {
        counters.retries++;
        counters.waitedMs += delay;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * Checks KvStore's options: every name known, `lockTimeout` a
 * non-negative number of milliseconds.
 *
 * @throws {TypeError} For an unknown option or a wrong type.
 * @throws {RangeError} For a negative or non-finite `lockTimeout`.
 */
export function checkKvOptions(options: object, known: string[]): void {
  assertKnownOptions(options, known, "create KvStore");
  const timeout = (options as { lockTimeout?: unknown }).lockTimeout;
  if (timeout === undefined) return;
  if (typeof timeout !== "number") {
    throw new TypeError(
      'Cannot create KvStore: option "lockTimeout" must be a number of milliseconds',
    );
  }
  if (!Number.isFinite(timeout) || timeout < 0) {
    throw new RangeError(
      `Cannot create KvStore: option "lockTimeout" must be 0 or more milliseconds, got ${timeout}`,
    );
  }
}
