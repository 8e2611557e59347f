/**
 * The record writer of a store's write queue, which also notes the keys it
 * encodes while a compaction asks it to. Every change that reaches the log
 * is encoded here (sessions and owner index alike), so the noted keys are
 * exactly those whose state in memory may differ from what a compaction's
 * snapshot saw, each noted once however many times it was written.
 *
 * @module
 */

import { RecordWriter } from "../aof.ts";

/**
 * Most keys in one set. A `Set` rehashes every key as it grows, which at
 * half a million keys blocks the event loop for ~40 ms; sets of at most
 * 2^16 keys rehash in a few ms, and a write looks in each of them (about a
 * dozen for a million changed keys) before noting a key.
 */
const SET_KEYS = 1 << 16;

/** A {@linkcode RecordWriter} that can note which keys it encoded. */
export class ChangeTracker extends RecordWriter {
  /** Full sets, then the one being filled; undefined when not tracking. */
  #sets: Set<string>[] | undefined;
  #count = 0;

  /** How many distinct keys were noted since the last {@linkcode take}. */
  get changed(): number {
    return this.#count;
  }

  /** Starts (or restarts, forgetting what it had) noting keys. */
  track(): void {
    this.#sets = [new Set()];
    this.#count = 0;
  }

  /** Stops noting keys and forgets them. */
  stop(): void {
    this.#sets = undefined;
    this.#count = 0;
  }

  /** Whether `key` was noted since the last {@linkcode take}. */
  has(key: string): boolean {
    const sets = this.#sets;
    if (sets === undefined) return false;
    for (let i = 0; i < sets.length; i++) {
      if (sets[i]!.has(key)) return true;
    }
    return false;
  }

  /** Returns the keys noted so far, each once, and starts afresh. */
  take(): Set<string>[] {
    const sets = this.#sets ?? [];
    if (this.#sets !== undefined) this.track();
    return sets;
  }

  /** Encodes `set`, noting `key` while tracking. */
  override set(
    key: string,
    value: Uint8Array,
    expiresAt: number,
    ascii?: boolean,
  ): void {
    super.set(key, value, expiresAt, ascii);
    if (this.#sets !== undefined) this.#note(this.#sets, key);
  }

  /** Encodes `del`, noting `key` while tracking. */
  override del(key: string): void {
    super.del(key);
    if (this.#sets !== undefined) this.#note(this.#sets, key);
  }

  #note(sets: Set<string>[], key: string): void {
    if (this.has(key)) return;
    let last = sets[sets.length - 1]!;
    if (last.size >= SET_KEYS) sets.push(last = new Set());
    last.add(key);
    this.#count++;
  }
}
