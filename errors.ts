/**
 * The errors that callers of `BuntStore` may want to catch.
 *
 * @module
 */

import { repairCommand } from "./_aof/repair_command.ts";

/**
 * Thrown by `BuntStore.open` when the log holds a damaged record that is not
 * a torn last write. Nothing is truncated or dropped when this is thrown.
 *
 * @example Reporting where a log is damaged
 * ```ts
 * import { CorruptLogError } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * const error = new CorruptLogError("data/s.db", 120, "expected '*'");
 * assert.equal(error.offset, 120);
 * assert.equal(error.name, "CorruptLogError");
 * ```
 */
export class CorruptLogError extends Error {
  /** Byte offset of the start of the first damaged record. */
  readonly offset: number;
  /** Path of the damaged log. */
  readonly path: string;

  /**
   * Creates the error for a damaged record.
   *
   * @param path The log file.
   * @param offset Byte offset of the damaged record.
   * @param reason What is wrong with it.
   * @param options Standard error options, such as `cause`.
   */
  constructor(
    path: string,
    offset: number,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(
      `Cannot load store at "${path}": damaged record at byte ${offset}: ${reason}; to keep every intact record, run: ${
        repairCommand(path)
      } (it keeps a .bak copy)`,
      options,
    );
    this.name = "CorruptLogError";
    this.offset = offset;
    this.path = path;
  }
}

/**
 * Who holds the lock on a log, as far as {@linkcode StoreLockedError} could
 * tell:
 *
 * - `"isolate"`: a store opened earlier in this same isolate and not closed
 * - `"worker"`: another worker of this process, such as the other workers
 *   of `deno serve --parallel`
 * - `"process"`: another process ({@linkcode StoreLockedError.pid})
 * - `"unknown"`: another process or another worker of this one (the holder
 *   could not be asked, and `/proc/locks` could not be read)
 */
export type LockHolderKind = "isolate" | "worker" | "process" | "unknown";

/** Options for {@linkcode StoreLockedError}. */
export interface StoreLockedErrorOptions extends ErrorOptions {
  /**
   * Who holds the lock; the message says what to do about each.
   *
   * @default {"unknown"}
   */
  holder?: LockHolderKind;
  /** The holder's process id, when `holder` is `"process"`. */
  pid?: number;
}

/**
 * Thrown by `BuntStore.open` when the file is already open: in this
 * isolate, in another worker of this process (`deno serve --parallel`), or
 * in another process. The message says which, and what to do instead; a
 * `BuntStore` belongs to one process and one worker.
 *
 * @example Detecting a second opener
 * ```ts
 * import { StoreLockedError } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * const error = new StoreLockedError("data/s.db", { holder: "process", pid: 42 });
 * assert.equal(error.holder, "process");
 * assert.match(error.message, /locked by another process \(pid 42\)/);
 * ```
 */
export class StoreLockedError extends Error {
  /** Path of the locked file. */
  readonly path: string;
  /** Who holds the lock. */
  readonly holder: LockHolderKind;
  /** The holder's process id, when known. */
  readonly pid: number | undefined;

  /**
   * Creates the error for a locked file.
   *
   * @param path The log file.
   * @param options Who holds it, and standard error options such as `cause`.
   */
  constructor(path: string, options: StoreLockedErrorOptions = {}) {
    const { holder = "unknown", pid, ...errorOptions } = options;
    super(
      `Cannot open store at "${path}": ${lockedBecause(holder, pid)}`,
      errorOptions,
    );
    this.name = "StoreLockedError";
    this.path = path;
    this.holder = holder;
    this.pid = pid;
  }
}

const SHARED_STORES =
  "a BuntStore belongs to one process and one worker: for several, use a shared store (KvStore on a local file, or RedisStore)";

function lockedBecause(holder: LockHolderKind, pid?: number): string {
  switch (holder) {
    case "isolate":
      return "it is already open in this process, by an earlier BuntStore.open() not yet closed; use that store, or close it before opening the file again";
    case "worker":
      return `it is open in another worker of this process (deno serve --parallel runs one worker per core, and each opens the store); ${SHARED_STORES}, or serve with one worker (DENO_JOBS=1, or no --parallel)`;
    case "process":
      return `file is locked by another process${
        pid === undefined ? "" : ` (pid ${pid})`
      }; stop it and retry, or, to serve from several processes, use a shared store (KvStore on a local file, or RedisStore)`;
    case "unknown":
      return `file is locked by another process, or by another worker of this process (deno serve --parallel); ${SHARED_STORES}`;
  }
}

/**
 * Thrown by `BuntStore.save` and `BuntStore.delete` once a failed write
 * could not be cut back off the end of the log: the file may end in a
 * partial record, so the store refuses every later write (reads keep
 * working). Close the store and open it again, which cuts the partial
 * record off; the writes that failed were never acknowledged.
 *
 * @example Telling a broken log from other write failures
 * ```ts
 * import { LogBrokenError } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * const error = new LogBrokenError("data/s.db");
 * assert.equal(error.name, "LogBrokenError");
 * assert.equal(error.path, "data/s.db");
 * assert.match(error.message, /reopen the store/);
 * ```
 */
export class LogBrokenError extends Error {
  /** Path of the log that can no longer be written. */
  readonly path: string;

  /**
   * Creates the error for a log whose failed write could not be cut back.
   *
   * @param path The log file.
   * @param options Standard error options; `cause` holds the write error
   * and the truncate error.
   */
  constructor(path: string, options?: ErrorOptions) {
    super(
      `Cannot write to store at "${path}": a failed write could not be cut back; reopen the store`,
      options,
    );
    this.name = "LogBrokenError";
    this.path = path;
  }
}

/**
 * Thrown by every operation on a store after `close()`.
 *
 * @example Using a closed store
 * ```ts
 * import { BuntStore, StoreClosedError } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * const store = await BuntStore.open(":memory:");
 * await store.close();
 * await assert.rejects(store.find("t"), StoreClosedError);
 * ```
 */
export class StoreClosedError extends Error {
  /**
   * Creates the error for a closed store.
   *
   * @param path The store's path, or `:memory:`.
   * @param options Standard error options, such as `cause`.
   */
  constructor(path: string, options?: ErrorOptions) {
    super(`Cannot use store at "${path}": store is closed`, options);
    this.name = "StoreClosedError";
  }
}
