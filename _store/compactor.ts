/**
 * Compaction without stalling the store: the snapshot is written in short
 * slices with the event loop free between them, writes made meanwhile go
 * on to the old log and are copied over, and only the final swap pauses
 * writing (they keep batching in memory), for about two fsyncs.
 *
 * @module
 */

import {
  CompactionFile,
  type LogFile,
  RecordWriter,
  syncDirectory,
} from "../aof.ts";
import type { Entry } from "./keyspace.ts";
import type { WriteQueue } from "./write_queue.ts";

/** What a compaction needs from its store. */
export interface CompactionTarget {
  /** The log's path. */
  path: string;
  /** The store's write queue, to pause and to switch to the new file. */
  queue: WriteQueue;
  /** The store's entries; iteration must tolerate changes. */
  entries: () => IterableIterator<Pick<Entry, "key" | "value" | "expiresAt">>;
  /** The store's clock. */
  now: () => number;
  /** Whether the store is closing, which stops the compaction. */
  cancelled: () => boolean;
  /**
   * Takes over the new log's handle right after the rename; returns the
   * file the write queue is to use (wrapped, as at open).
   */
  adopt: (file: Deno.FsFile) => LogFile;
}

/** Longest a slice of snapshot work holds the event loop, in ms. */
const SLICE_MS = 4;
/** Snapshot bytes buffered before a write. */
const CHUNK_BYTES = 256 * 1024;
/** Entries encoded between two looks at the clock. */
const CLOCK_STRIDE = 64;
/** Catch-up copying stops once the live log is this close. */
const CATCH_UP_BYTES = 256 * 1024;

/**
 * Rewrites the log as one record per live entry and swaps it in, handing
 * the new locked handle to `target.adopt`. Returns whether it swapped
 * (false when the store closed meanwhile).
 */
export async function compact(target: CompactionTarget): Promise<boolean> {
  const { queue } = target;
  queue.flush();
  const rollbacks = queue.rollbacks;
  const temp = await CompactionFile.create(target.path, queue.size);
  let committed = false;
  try {
    if (!(await writeSnapshot(target, temp))) return false;
    await catchUp(target, temp);
    await temp.sync();
    await catchUp(target, temp);
    await queue.pause();
    // The snapshot and the copied tail may hold writes that a failed fsync
    // has undone since; give up rather than bring them back.
    if (queue.rollbacks !== rollbacks) {
      throw new Error("writes were rolled back after a failed fsync");
    }
    temp.copyTail(queue.size);
    await temp.sync();
    const file = await temp.commit();
    committed = true;
    const logFile = target.adopt(file);
    // The rename is only durable once the directory is; writes waiting
    // for an fsync are released after that.
    try {
      await syncDirectory(temp.directory);
    } finally {
      queue.replaceFile(logFile, temp.size);
    }
    return true;
  } finally {
    if (!committed) await temp.discard();
    queue.resume();
  }
}

async function writeSnapshot(
  target: CompactionTarget,
  temp: CompactionFile,
): Promise<boolean> {
  const now = target.now();
  const records = new RecordWriter();
  const entries = target.entries();
  let done = false;
  while (!done) {
    const deadline = performance.now() + SLICE_MS;
    let count = 0;
    while (records.length < CHUNK_BYTES) {
      const next = entries.next();
      if (next.done) {
        done = true;
        break;
      }
      const entry = next.value;
      if (entry.expiresAt > now) {
        records.set(entry.key, entry.value, entry.expiresAt);
      }
      if (++count % CLOCK_STRIDE === 0 && performance.now() > deadline) break;
    }
    temp.write(records.view());
    records.reset();
    await yieldToEventLoop();
    if (target.cancelled()) return false;
  }
  return true;
}

/** Copies what the live log gained, in slices, until it is nearly done. */
async function catchUp(
  target: CompactionTarget,
  temp: CompactionFile,
): Promise<void> {
  while (temp.pending(target.queue.size) > CATCH_UP_BYTES) {
    temp.copyTail(target.queue.size, 4 * CATCH_UP_BYTES);
    await yieldToEventLoop();
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
