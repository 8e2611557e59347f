/**
 * Log writes made from another thread, for the write queue while an fsync
 * runs: one write at a time, in order, and the batches flushed while one
 * runs go out together in the next.
 *
 * @module
 */

import { appendAllAsync, type AppendTarget } from "../aof.ts";

/** What a write's outcome is reported to. */
export interface OffLoopSink<B> {
  /** Where the next write goes: the log, its path and its size now. */
  target(): AppendTarget;
  /** `bytes` of `batches` are in the file. */
  written(bytes: number, batches: B[]): void;
  /**
   * A write failed and the file was cut back: `batches` holds its batches
   * and every batch waiting behind them, oldest first.
   */
  failed(error: unknown, batches: B[]): void;
}

/** Batches with their encoded records, written off the event loop. */
export class OffLoopWrites<B extends { promise: Promise<void> }> {
  readonly #sink: OffLoopSink<B>;
  /** The running write; settles, never rejects. */
  #writing: Promise<void> | undefined;
  /** Batches added since {@linkcode #writing} began, oldest first. */
  #waiting: { batch: B; bytes: Uint8Array }[] = [];

  /**
   * Creates an idle writer.
   *
   * @param sink Where writes go and where their outcome is reported.
   */
  constructor(sink: OffLoopSink<B>) {
    this.#sink = sink;
  }

  /** Whether a write is running (later batches must wait for it). */
  get busy(): boolean {
    return this.#writing !== undefined;
  }

  /** Writes `bytes` of `batch` after every batch added before it. */
  add(batch: B, bytes: Uint8Array): void {
    this.#waiting.push({ batch, bytes });
    this.#next();
  }

  /**
   * Settles once every batch added so far is written or has failed;
   * undefined when none is waiting, so callers add no promise hop.
   */
  settled(): Promise<void> | undefined {
    const last = this.#waiting.at(-1)?.batch.promise ?? this.#writing;
    return last?.then(() => {}, () => {});
  }

  #next(): void {
    if (this.#writing !== undefined || this.#waiting.length === 0) return;
    const group = this.#waiting.splice(0);
    const batches = group.map((waiting) => waiting.batch);
    const bytes = concat(group.map((waiting) => waiting.bytes));
    this.#writing = appendAllAsync(this.#sink.target(), bytes).then(
      () => {
        this.#writing = undefined;
        this.#sink.written(bytes.length, batches);
        this.#next();
      },
      (error) => {
        this.#writing = undefined;
        const later = this.#waiting.splice(0).map((waiting) => waiting.batch);
        this.#sink.failed(error, [...batches, ...later]);
      },
    );
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
