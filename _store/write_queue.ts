/**
 * Batches the records of one event-loop turn into one write, applies the
 * sync policy (group commit for `"always"`, a timer for `"everysecond"`),
 * and undoes the in-memory changes of any write or fsync that fails, so
 * memory always matches the file. While the `"everysecond"` fsync runs,
 * batches are written from another thread (see {@linkcode WriteQueue.flush}).
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { appendAll, type LogFile } from "../aof.ts";
import { LogBrokenError } from "../errors.ts";
import { ChangeTracker } from "./change_tracker.ts";
import { OffLoopWrites } from "./off_loop_writes.ts";

/**
 * Promise hops after a flush within which a new save is taken as the next
 * save of a writer that awaited the last one: enough for a save awaited
 * through a few async wrappers. Saves of other requests start in later
 * microtask checkpoints, after the hops have run out.
 */
const FOLLOW_UP_HOPS = 8;

/** When a write counts as done. */
export type SyncPolicy = "always" | "everysecond" | "never";

/** Reverts one in-memory change. */
export type Undo = () => void;

interface Batch {
  undo: Undo[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Counters that the store reports in its stats. */
export interface WriteCounters {
  /** Calls to write(2), one per batch. */
  writes: number;
  /** Successful fsyncs of the log. */
  syncs: number;
  /** Bytes written since the store opened. */
  bytesWritten: number;
}

/** How a {@linkcode WriteQueue} writes and reports. */
export interface WriteQueueOptions {
  /** The log's path, for errors. */
  path: string;
  /** The log's current size (also taken as synced). */
  size: number;
  /** When writes resolve. */
  policy: SyncPolicy;
  /** Receives every write and fsync failure. */
  onError: (error: Error) => void;
}

/** Owns the append position of the log and the records not yet durable. */
export class WriteQueue {
  /**
   * Records of the current batch; the store encodes into it, and a
   * compaction has it note the keys written.
   */
  readonly records = new ChangeTracker();
  /** Counters for stats. */
  readonly counters: WriteCounters = { writes: 0, syncs: 0, bytesWritten: 0 };
  readonly #path: string;
  readonly #policy: SyncPolicy;
  readonly #onError: (error: Error) => void;
  #file: LogFile;
  #size: number;
  #syncedSize: number;
  #batch: Batch | undefined;
  #unsynced: Batch[] = [];
  /** The running fsync; settles with its failure, if any, never rejects. */
  #syncing: Promise<Error | undefined> | undefined;
  /** Batches written from another thread while an fsync runs. */
  readonly #offLoop = new OffLoopWrites<Batch>({
    target: () => ({ file: this.#file, path: this.#path, size: this.#size }),
    written: (bytes, batches) => this.#writtenOffLoop(bytes, batches),
    failed: (error, batches) => this.#failedOffLoop(error, batches),
  });
  #paused = false;
  /** Microtask hops left in which a save follows a flush (see below). */
  #followUpHops = 0;
  #broken: LogBrokenError | undefined;
  #rollbacks = 0;

  /**
   * Creates the queue for an open log.
   *
   * @param file The log, opened for appending.
   * @param options Its path and size, the sync policy and the error sink.
   */
  constructor(file: LogFile, options: WriteQueueOptions) {
    this.#file = file;
    this.#path = options.path;
    this.#size = options.size;
    this.#syncedSize = options.size;
    this.#policy = options.policy;
    this.#onError = options.onError;
  }

  /** Bytes in the log, including the last batch written. */
  get size(): number {
    return this.#size;
  }

  /**
   * Set once a failed write or fsync could not be cut back: the log may
   * end in a partial record, so the store must not write to it any more.
   */
  get broken(): LogBrokenError | undefined {
    return this.#broken;
  }

  /** Whether written bytes are waiting for an fsync. */
  get dirty(): boolean {
    return this.#size > this.#syncedSize;
  }

  /**
   * Whether every change handed to the queue is settled: none is waiting
   * to be written or, with `"always"`, for its fsync.
   */
  get idle(): boolean {
    return this.#batch === undefined && this.#unsynced.length === 0 &&
      this.#syncing === undefined && !this.#offLoop.busy;
  }

  /**
   * Registers the records just encoded into {@linkcode records}, with the
   * way to undo their in-memory change. Resolves when the policy says the
   * write is done; rejects (after undoing) when it failed.
   */
  enqueue(undo: Undo): Promise<void> {
    let batch = this.#batch;
    if (batch === undefined) {
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      batch = { undo: [], promise, resolve, reject };
      this.#batch = batch;
      this.#scheduleFlush();
    }
    batch.undo.push(undo);
    return batch.promise;
  }

  /**
   * Writes the current batch now, unless a compaction has paused writes.
   *
   * While the `"everysecond"` fsync runs (or a write it started is still
   * running), the batch is written from another thread instead: a write(2)
   * to a file being fsynced can wait for the fsync in the kernel, which
   * blocked the event loop for 12–22 ms under churn. The batch's promise
   * resolves once it is written, so "with the OS before the promise
   * resolves" still holds. `"always"` keeps writing here: its writes wait
   * for an fsync anyway, and its rollback cuts the file back at once.
   */
  flush(): void {
    const batch = this.#batch;
    if (batch === undefined || this.#paused) return;
    this.#batch = undefined;
    if (
      this.#offLoop.busy ||
      (this.#syncing !== undefined && this.#policy === "everysecond")
    ) {
      this.#offLoop.add(batch, this.records.view().slice());
      this.records.reset();
      return;
    }
    const bytes = this.records.view();
    try {
      appendAll(
        { file: this.#file, path: this.#path, size: this.#size },
        bytes,
      );
    } catch (error) {
      this.records.reset();
      if (error instanceof LogBrokenError) this.#broken = error;
      this.#fail([batch], "write", error);
      return;
    }
    this.#size += bytes.length;
    this.counters.writes++;
    this.counters.bytesWritten += bytes.length;
    this.records.reset();
    if (this.#policy === "always") {
      this.#unsynced.push(batch);
      this.#groupCommit();
    } else {
      batch.resolve();
      this.#openFollowUpWindow();
    }
  }

  /**
   * Fsyncs everything written so far. In `"always"` mode a failure rolls
   * back the unsynced writes; otherwise acknowledged data stays in memory
   * and the error is reported. Rejects when an fsync it waited for failed.
   */
  async sync(): Promise<void> {
    this.flush();
    const writing = this.#offLoop.settled();
    if (writing !== undefined) await writing;
    const running = await this.#syncing;
    if (this.#policy === "always") {
      this.#groupCommit();
      const failure = running ?? await this.#syncing;
      if (failure !== undefined) throw failure;
      return;
    }
    if (!this.dirty) return;
    const target = this.#size;
    const syncing = this.#file.syncData();
    const settled = syncing.then(() => undefined, () => undefined).finally(
      () => {
        if (this.#syncing === settled) this.#syncing = undefined;
      },
    );
    this.#syncing = settled;
    try {
      await syncing;
      this.#syncedSize = Math.max(this.#syncedSize, target);
      this.counters.syncs++;
    } catch (error) {
      const wrapped = this.#error(
        "fsync",
        error,
        "acknowledged writes stay in memory and the next fsync retries them",
      );
      this.#onError(wrapped);
      throw wrapped;
    }
  }

  /**
   * Stops writing to the file (records keep batching in memory) and waits
   * for a running fsync, so a compaction can swap the file.
   */
  async pause(): Promise<void> {
    this.#paused = true;
    await this.#offLoop.settled();
    while (this.#syncing !== undefined) await this.#syncing;
  }

  /** Whether an fsync of the log is running. */
  get syncing(): boolean {
    return this.#syncing !== undefined;
  }

  /** Whether a compaction has paused writing. */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * How many times a failed fsync, or a failed write off the event loop,
   * undid writes after other code could read them; a compaction that saw
   * those writes must not swap in its snapshot.
   */
  get rollbacks(): number {
    return this.#rollbacks;
  }

  /**
   * Switches to `file` (the compacted log, already fsynced up to `size`),
   * resolves writes that were waiting for an fsync, and resumes writing.
   */
  replaceFile(file: LogFile, size: number): void {
    this.#file = file;
    this.#size = size;
    this.#syncedSize = size;
    for (const batch of this.#unsynced.splice(0)) batch.resolve();
  }

  /** Resumes writing after {@linkcode pause}. */
  resume(): void {
    this.#paused = false;
    this.#groupCommit();
    if (this.#batch !== undefined) this.#scheduleFlush();
  }

  /**
   * Writes the batch once per event-loop turn, after the turn's I/O
   * callbacks (as Redis writes its AOF buffer before it sleeps), so the
   * requests handled in one turn share one write(2), and every save is
   * still with the OS before its promise resolves. A microtask would
   * flush after the first request's promise hops: one write per request.
   *
   * Except for a writer that awaits each save: its next save comes a few
   * promise hops after the flush that resolved the last one, with nothing
   * else to batch with, and waiting for the end of the turn would only
   * add a turn (~1.2 µs here) to each save. Such a save is written on a
   * microtask.
   */
  #scheduleFlush(): void {
    if (this.#followUpHops > 0) queueMicrotask(() => this.flush());
    else setImmediate(() => this.flush());
  }

  #writtenOffLoop(bytes: number, batches: Batch[]): void {
    this.#size += bytes;
    this.counters.writes++;
    this.counters.bytesWritten += bytes;
    for (const batch of batches) batch.resolve();
    this.#openFollowUpWindow();
  }

  /**
   * An off-loop write failed: undo its batches and every change made after
   * them (queued batches, then the current one), newest first, as they may
   * have changed the same keys.
   */
  #failedOffLoop(error: unknown, batches: Batch[]): void {
    if (error instanceof LogBrokenError) this.#broken = error;
    // A compaction may have read the undone changes.
    this.#rollbacks++;
    const current = this.#batch;
    this.#batch = undefined;
    this.records.reset();
    if (current !== undefined) batches.push(current);
    this.#fail(batches, "write", error);
  }

  /**
   * Counts {@link FOLLOW_UP_HOPS} microtasks after a flush resolved its
   * batch. The count always ends within the same microtask checkpoint, so
   * a save from a new request or timer never falls inside it.
   */
  #openFollowUpWindow(): void {
    const closed = this.#followUpHops === 0;
    this.#followUpHops = FOLLOW_UP_HOPS;
    if (closed) queueMicrotask(this.#followUpHop);
  }

  readonly #followUpHop = (): void => {
    if (--this.#followUpHops > 0) queueMicrotask(this.#followUpHop);
  };

  #groupCommit(): void {
    if (
      this.#syncing !== undefined || this.#paused ||
      this.#unsynced.length === 0
    ) return;
    const waiting = this.#unsynced.splice(0);
    const target = this.#size;
    this.#syncing = this.#file.syncData().then(
      () => {
        this.#syncedSize = Math.max(this.#syncedSize, target);
        this.counters.syncs++;
        this.#syncing = undefined;
        for (const batch of waiting) batch.resolve();
        this.#groupCommit();
        return undefined;
      },
      (error) => {
        this.#syncing = undefined;
        return this.#rollBackUnsynced(waiting, error);
      },
    );
  }

  /**
   * An fsync failed: nothing after the last good fsync can be trusted, so
   * cut the file back to it and undo every change since, newest first.
   */
  #rollBackUnsynced(failed: Batch[], error: unknown): Error {
    this.#rollbacks++;
    const later = this.#unsynced.splice(0);
    const current = this.#batch;
    this.#batch = undefined;
    this.records.reset();
    const batches = [...failed, ...later, ...(current ? [current] : [])];
    try {
      this.#file.truncateSync(this.#syncedSize);
      this.#size = this.#syncedSize;
    } catch (truncateError) {
      this.#broken = new LogBrokenError(this.#path, {
        cause: [error, truncateError],
      });
    }
    return this.#fail(batches, "fsync", error);
  }

  #fail(batches: Batch[], what: "write" | "fsync", error: unknown): Error {
    // A log that could not be cut back has its own error, for callers to
    // catch; it already names the file and says what to do.
    const wrapped = error instanceof LogBrokenError ? error : this.#error(
      what === "write" ? "write to" : "fsync",
      error,
      what === "write"
        ? "the failed writes were rolled back"
        : "the writes since the last good fsync were rolled back",
    );
    for (let b = batches.length - 1; b >= 0; b--) {
      const undo = batches[b]!.undo;
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
    }
    this.#onError(wrapped);
    for (const batch of batches) batch.reject(wrapped);
    return wrapped;
  }

  /**
   * `Cannot <action> store at "<path>": <what happened>; <hint>`, with a
   * hint of its own for a full disk.
   */
  #error(action: string, error: unknown, hint: string): Error {
    const full = (error as { code?: unknown } | null)?.code === "ENOSPC";
    const advice = full
      ? `free disk space: ${hint}, and later writes succeed once there is room`
      : hint;
    return new Error(
      `Cannot ${action} store at "${this.#path}": ${message(error)}; ${advice}`,
      { cause: error },
    );
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
