/**
 * Compaction that converges at any write rate without stalling the store.
 *
 * A snapshot of memory is written to a temp file in short slices while
 * writes go on to the old log. The keys written meanwhile are noted (a set
 * bounded by the number of keys, not by the volume written) and their
 * current state is then written from memory, round after round: each round
 * lasts as long as the keys changed during the one before took to write,
 * so the rounds shrink unless writers change keys faster than slices write
 * them, and a cap on rounds ends the compaction even then. For the last few
 * keys, writes pause (they keep batching in memory), then come an fsync,
 * the rename and a directory fsync.
 *
 * Copying the old log's tail instead, as this did before, never caught up
 * at full write speed: the tail grows with every write, the set of changed
 * keys only with distinct keys.
 *
 * @module
 */

import {
  CompactionFile,
  type LogFile,
  RecordWriter,
  syncDirectory,
} from "../aof.ts";
import { setImmediate } from "node:timers";
import type { CompactionPhase } from "./hooks.ts";
import type { Entry } from "./keyspace.ts";
import type { WriteQueue } from "./write_queue.ts";

/** What a compaction needs from its store. */
export interface CompactionTarget {
  /** The log's path. */
  path: string;
  /**
   * The store's write queue: to pause, to switch to the new file, and for
   * its record writer, which notes the keys written during a compaction.
   */
  queue: WriteQueue;
  /** The store's entries; iteration must tolerate changes. */
  entries: () => IterableIterator<Pick<Entry, "key" | "value" | "expiresAt">>;
  /**
   * The live state of any key the log may hold (session or index), or
   * `undefined` when it has none at `now`.
   */
  current: (
    key: string,
    now: number,
  ) => Pick<Entry, "value" | "expiresAt"> | undefined;
  /** The store's clock. */
  now: () => number;
  /** Whether the store is closing, which stops the compaction. */
  cancelled: () => boolean;
  /**
   * Takes over the new log's handle right after the rename; returns the
   * file the write queue is to use (wrapped, as at open) and the replaced
   * log's handle, which the compaction closes.
   */
  adopt: (
    file: Deno.FsFile,
  ) => { log: LogFile; previous: Deno.FsFile | undefined };
  /** A test hook, awaited as each phase begins. */
  phase?: ((phase: CompactionPhase) => void | Promise<void>) | undefined;
}

/** How long a slice of compaction work holds the event loop, in ms. */
const SLICE_MS = 4;
/**
 * Longest slice, taken only when the compaction waited three times as
 * long for its turn: when ready I/O floods the event loop (Deno runs it
 * before timers and `setImmediate`), a 4 ms slice every ~40 ms never
 * caught up with the keys the flood changed; a quarter of the loop does.
 */
const MAX_SLICE_MS = 12;
/** Bytes encoded before a write to the temp file. */
const CHUNK_BYTES = 256 * 1024;
/**
 * Most bytes encoded while a chunk is written from another thread: more
 * would make the buffer grow by doubling, and each fresh multi-megabyte
 * buffer cost thousands of page faults (~10 µs each on our VMs).
 */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Records encoded between two looks at the clock. */
const CLOCK_STRIDE = 64;
/**
 * Changed keys few enough to write while writes are paused: about a
 * millisecond of encoding for 256-byte sessions.
 */
const FINAL_KEYS = 2048;
/**
 * Rounds of changed keys before and after the temp file's fsync. Past them
 * the pause is taken with however many keys are left: a longer pause, but
 * the compaction ends whatever the writers do.
 */
const MAX_ROUNDS = 8;

/**
 * Rewrites the log as one record per live entry and swaps it in, handing
 * the new locked handle to `target.adopt`.
 *
 * @returns The size of the compacted log, or `undefined` when the store
 * closed meanwhile and nothing was swapped.
 */
export async function compact(
  target: CompactionTarget,
): Promise<number | undefined> {
  const { queue } = target;
  const changes = queue.records;
  const rollbacks = queue.rollbacks;
  const temp = await CompactionFile.create(target.path);
  let committed = false;
  let previous: Deno.FsFile | undefined;
  let durable = false;
  queue.flush();
  changes.track();
  try {
    const writer = new SlicedWriter(target, temp);
    await target.phase?.("snapshot");
    if (!(await writer.write(snapshot(target, writer.records)))) return;
    await target.phase?.("rounds");
    if (!(await writeRounds(writer))) return;
    // The bulk reaches the disk while the log still takes writes; keys
    // changed meanwhile go to the next rounds.
    await temp.sync();
    await target.phase?.("synced");
    if (!(await writeRounds(writer))) return;
    queue.flush();
    const paused = queue.pause();
    // Synchronous from the flush on: the keys changed since the last round
    // hold what the old log holds, and writes from now on wait in memory
    // and go to the new log after the swap.
    writer.writeAll(changed(target, changes.take(), writer.records));
    changes.stop();
    await paused;
    await target.phase?.("paused");
    // What was written from memory may hold writes that a failed fsync
    // has undone since; give up rather than bring them back.
    if (queue.rollbacks !== rollbacks) {
      throw new Error("writes were rolled back after a failed fsync");
    }
    await temp.sync();
    const file = await temp.commit();
    committed = true;
    const adopted = target.adopt(file);
    previous = adopted.previous;
    await target.phase?.("renamed");
    // The rename is only durable once the directory is; writes waiting
    // for an fsync are released after that.
    try {
      await syncDirectory(temp.directory);
      durable = true;
    } finally {
      queue.replaceFile(adopted.log, temp.size);
    }
    await target.phase?.("swapped");
    return temp.size;
  } finally {
    changes.stop();
    if (!committed) await temp.discard();
    queue.resume();
    if (previous !== undefined) await retire(previous, durable);
  }
}

/**
 * Closes the replaced log, first freeing its blocks with an asynchronous
 * truncate: closing the last handle of an unlinked 330 MB file frees them
 * on the spot, which blocked the event loop for 18 ms here (more under
 * load). Only once the rename is durable: until the directory fsync, a
 * power cut could bring the old log back.
 */
async function retire(file: Deno.FsFile, durable: boolean): Promise<void> {
  try {
    if (durable) await file.truncate(0);
  } catch {
    // Safe to ignore: the truncate only moves work off the event loop, and
    // the close below frees the blocks anyway.
  } finally {
    file.close();
  }
}

/**
 * Writes the current state of the keys changed since the last round, round
 * after round, until few are left or the rounds run out. Returns false when
 * the store is closing.
 */
async function writeRounds(writer: SlicedWriter): Promise<boolean> {
  const { target } = writer;
  const changes = target.queue.records;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    if (changes.changed <= FINAL_KEYS) return true;
    const keys = changes.take();
    if (!(await writer.write(changed(target, keys, writer.records)))) {
      return false;
    }
  }
  return true;
}

/**
 * Encodes every live entry, one per step. Keys changed since the snapshot
 * began are left to the rounds, which write them anyway: writing them here
 * too would only grow the file.
 */
function* snapshot(
  target: CompactionTarget,
  records: RecordWriter,
): Generator<void> {
  const changes = target.queue.records;
  const now = target.now();
  for (const entry of target.entries()) {
    if (entry.expiresAt > now && !changes.has(entry.key)) {
      records.set(entry.key, entry.value, entry.expiresAt);
    }
    yield;
  }
}

/**
 * Encodes the current state of each key, one per step: a `set` when it is
 * live, else a `del` (it may be in the snapshot, or in an earlier round).
 * A key changed again since is left to the next round.
 */
function* changed(
  target: CompactionTarget,
  keys: Set<string>[],
  records: RecordWriter,
): Generator<void> {
  const changes = target.queue.records;
  const now = target.now();
  for (const set of keys) {
    for (const key of set) {
      if (changes.has(key)) {
        yield;
        continue;
      }
      const entry = target.current(key, now);
      if (entry === undefined) records.del(key);
      else records.set(key, entry.value, entry.expiresAt);
      yield;
    }
  }
}

/** Runs encoding steps into the temp file, in slices or all at once. */
class SlicedWriter {
  readonly target: CompactionTarget;
  readonly records = new RecordWriter();
  readonly #temp: CompactionFile;
  /** The chunk being written from another thread, if any. */
  #appending: Promise<void> | undefined;

  constructor(target: CompactionTarget, temp: CompactionFile) {
    this.target = target;
    this.#temp = temp;
  }

  /**
   * Runs `steps` in slices of {@linkcode SLICE_MS} (up to
   * {@linkcode MAX_SLICE_MS} after a long wait) with the event loop free
   * between them, writing every {@linkcode CHUNK_BYTES} encoded. While the
   * log is being fsynced, chunks are written from another thread as
   * encoding goes on (a write(2) then waited up to 17–36 ms for the disk),
   * with at most {@linkcode MAX_BUFFERED_BYTES} encoded meanwhile; at other
   * times here, which keeps up with writers at full speed. Returns false
   * when the store is closing.
   */
  async write(steps: Iterator<void>): Promise<boolean> {
    let done = false;
    let yielded = performance.now();
    while (!done) {
      // Writes wait for the end of the event-loop turn; written now, memory
      // holds only what the old log holds (a failed write undoes its change
      // at once), so no slice reads a change that may yet be undone without
      // its key being noted again.
      this.target.queue.flush();
      const start = performance.now();
      const waited = start - yielded;
      const deadline = start +
        Math.min(MAX_SLICE_MS, Math.max(SLICE_MS, waited / 3));
      for (let count = 1;; count++) {
        if (steps.next().done) {
          done = true;
          break;
        }
        if (this.records.length >= CHUNK_BYTES) {
          if (this.#appending !== undefined) {
            if (this.records.length >= MAX_BUFFERED_BYTES) break;
          } else if (this.target.queue.syncing) this.#startAppend();
          else this.#flush();
        }
        if (count % CLOCK_STRIDE === 0 && performance.now() > deadline) break;
      }
      yielded = performance.now();
      if (this.records.length >= MAX_BUFFERED_BYTES) await this.#appending;
      else await yieldToEventLoop();
      if (this.target.cancelled()) {
        await this.#appending?.catch(() => {});
        return false;
      }
    }
    await this.#appending;
    if (this.records.length > 0) {
      this.#startAppend();
      await this.#appending;
    }
    return true;
  }

  /** Runs `steps` to the end without yielding. */
  writeAll(steps: Iterator<void>): void {
    while (!steps.next().done) {
      if (this.records.length >= CHUNK_BYTES) this.#flush();
    }
    this.#flush();
  }

  #flush(): void {
    if (this.records.length === 0) return;
    this.#temp.write(this.records.view());
    this.records.reset();
  }

  /** Starts writing the encoded records from another thread. */
  #startAppend(): void {
    const bytes = this.records.view().slice();
    this.records.reset();
    const appending = this.#temp.append(bytes).finally(() => {
      this.#appending = undefined;
    });
    // Awaited later (its failure fails the compaction then); handled now
    // so a failure is not reported as unhandled meanwhile.
    appending.catch(() => {});
    this.#appending = appending;
  }
}

/**
 * Lets timers and I/O run. `setImmediate`, not `setTimeout(0)`: a chain of
 * zero timeouts waits about 2 ms each here (0.02 ms for `setImmediate`),
 * and in those waits writers that never pause took nearly all the event
 * loop, so the changed keys outgrew the rounds and a 1M-session compaction
 * under unthrottled writes ran for 40 s, ending in one long final round.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
