/**
 * `BuntStore`'s option and stats types, and the checks that make a typo or a
 * bad option value a clear error at open rather than a surprise later.
 *
 * @module
 */

import {
  assertKnownOptions,
  assertNumberOption,
} from "../_session_store/validate.ts";
import type { SyncPolicy } from "./write_queue.ts";

/** Options for {@linkcode BuntStore.open}. */
export interface BuntStoreOptions {
  /**
   * When a write counts as done: `"everysecond"` once handed to the OS with
   * an fsync at most once a second, `"always"` after an fsync (shared by
   * concurrent writes), `"never"` leaves fsync to the OS.
   *
   * @default {"everysecond"}
   */
  sync?: SyncPolicy;
  /**
   * Compact when the log has grown by this percentage since the last
   * compaction.
   *
   * @default {100}
   */
  autoShrinkPercentage?: number;
  /**
   * Never compact automatically below this many bytes.
   *
   * @default {33554432}
   */
  autoShrinkMinSize?: number;
  /**
   * Turn automatic compaction off; `shrink()` still works.
   *
   * @default {false}
   */
  autoShrinkDisabled?: boolean;
  /**
   * Milliseconds between background sweeps of expired sessions, from 1 to
   * 2147483647 (2^31 - 1, the longest a timer can wait).
   *
   * @default {1000}
   */
  sweepInterval?: number;
  /** Called with the tokens each background sweep removed. */
  onExpired?: (tokens: string[]) => void;
  /**
   * Called with background failures (fsync, compaction); they also show in
   * `stats().lastError`.
   *
   * @default {console.error}
   */
  onError?: (error: Error) => void;
  /**
   * The clock, in Unix milliseconds; tests inject their own.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/** A snapshot of a store's counters, from {@linkcode BuntStore.stats}. */
export interface BuntStoreStats {
  /** The store's path, or `:memory:`. */
  path: string;
  /** The sync policy in force. */
  sync: SyncPolicy;
  /** Live (unexpired) entries. */
  keys: number;
  /** Entries that have expired but are not swept yet. */
  expiredPending: number;
  /** Bytes in the log file. */
  fileBytes: number;
  /** Size of the log after the last compaction (estimated at open). */
  lastCompactedBytes: number;
  /** Completed compactions since open. */
  compactions: number;
  /** Whether a compaction is running. */
  compacting: boolean;
  /** Successful fsyncs since open. */
  syncs: number;
  /** Batched writes since open. */
  writes: number;
  /** Bytes appended since open. */
  bytesWritten: number;
  /** Records replayed at open. */
  recordsLoaded: number;
  /** Bytes of a torn last write cut off at open. */
  recoveredBytes: number;
  /** The last write, fsync or compaction failure, if any. */
  lastError: Error | undefined;
}

/** The options `MemoryStore` shares with `BuntStore`. */
const SWEEP_OPTIONS = ["sweepInterval", "onExpired", "now"];

const KNOWN_OPTIONS = new Set([
  ...SWEEP_OPTIONS,
  "sync",
  "autoShrinkPercentage",
  "autoShrinkMinSize",
  "autoShrinkDisabled",
  "onError",
]);

const POLICIES = ["always", "everysecond", "never"];

/**
 * Throws `TypeError` or `RangeError` for unknown or invalid options of
 * `BuntStore.open`.
 */
export function validateOptions(options: unknown): void {
  const record = checkShared(options, KNOWN_OPTIONS, "open store");
  if (record.sync !== undefined && !POLICIES.includes(record.sync as string)) {
    throw new RangeError(
      `Cannot open store: option "sync" must be one of ${
        POLICIES.join(", ")
      }, got ${String(record.sync)}`,
    );
  }
  for (const name of ["autoShrinkPercentage", "autoShrinkMinSize"]) {
    if (record[name] !== undefined) assertNumberOption(name, record[name], 0);
  }
  const disabled = record.autoShrinkDisabled;
  if (disabled !== undefined && typeof disabled !== "boolean") {
    throw new TypeError(
      'Cannot open store: option "autoShrinkDisabled" must be a boolean',
    );
  }
  assertFunctionOption("onError", record.onError, "open store");
}

/**
 * Throws `TypeError` or `RangeError` for unknown or invalid options of
 * `new MemoryStore`: the same rules as `BuntStore.open` for the options
 * they share.
 */
export function validateMemoryStoreOptions(options: unknown): void {
  checkShared(options, new Set(SWEEP_OPTIONS), "create store");
}

/** Checks the object, its option names, and the options every store has. */
function checkShared(
  options: unknown,
  known: Set<string>,
  action: string,
): Record<string, unknown> {
  assertKnownOptions(options, known, action);
  const record = options as Record<string, unknown>;
  if (record.sweepInterval !== undefined) {
    assertIntervalOption("sweepInterval", record.sweepInterval, action);
  }
  assertFunctionOption("onExpired", record.onExpired, action);
  assertFunctionOption("now", record.now, action);
  return record;
}

/** The longest delay a timer takes; above it, timers fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Throws unless option `name` is a timer period from 1 ms to ~24.8 days. */
function assertIntervalOption(
  name: string,
  value: unknown,
  action: string,
): void {
  assertNumberOption(name, value, 1, action);
  if ((value as number) > MAX_TIMER_MS) {
    throw new RangeError(
      `Cannot ${action}: option "${name}" must be <= ${MAX_TIMER_MS} ms, the longest a timer can wait, got ${value}`,
    );
  }
}

function assertFunctionOption(
  name: string,
  value: unknown,
  action: string,
): void {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(
      `Cannot ${action}: option "${name}" must be a function`,
    );
  }
}
