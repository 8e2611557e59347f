/**
 * The record writer of a store's write queue, which also notes the keys it
 * encodes while a compaction asks it to. Every change that reaches the log
 * is encoded here (sessions and owner index alike), so the set is exactly
 * the keys whose state in memory may differ from what a compaction's
 * snapshot saw, however many times each was written.
 *
 * @module
 */

import { RecordWriter } from "../aof.ts";

/** A {@linkcode RecordWriter} that can record which keys it encoded. */
export class ChangeTracker extends RecordWriter {
  #changed: Set<string> | undefined;

  /** Keys recorded since the last {@linkcode take}. */
  get changed(): number {
    return this.#changed?.size ?? 0;
  }

  /** Starts (or restarts, forgetting what it had) recording keys. */
  track(): void {
    this.#changed = new Set();
  }

  /** Stops recording and forgets the keys. */
  stop(): void {
    this.#changed = undefined;
  }

  /** Returns the keys recorded so far and starts an empty set. */
  take(): Set<string> {
    const changed = this.#changed ?? new Set<string>();
    if (this.#changed !== undefined) this.#changed = new Set();
    return changed;
  }

  /** Encodes `set`, noting `key` while tracking. */
  override set(key: string, value: Uint8Array, expiresAt: number): void {
    super.set(key, value, expiresAt);
    this.#changed?.add(key);
  }

  /** Encodes `del`, noting `key` while tracking. */
  override del(key: string): void {
    super.del(key);
    this.#changed?.add(key);
  }
}
