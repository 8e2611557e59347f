/**
 * The in-memory half of a store: a `Map` of entries plus the expiry heap,
 * with lazy expiry on read and a sweep that works in bounded slices.
 *
 * @module
 */

import { ExpiryHeap, type HeapEntry } from "./expiry_heap.ts";

/** One stored value. */
export interface Entry extends HeapEntry {
  /** The stored bytes; never handed out without a copy. */
  value: Uint8Array;
}

/** Result of one sweep slice. */
export interface SweepSlice {
  /** Keys removed by this slice. */
  expired: string[];
  /** Whether expired entries remain for another slice. */
  more: boolean;
}

/** How many pops happen between two looks at the clock during a sweep. */
const SWEEP_CLOCK_STRIDE = 256;

/** A map of entries with an expiry index. */
export class Keyspace {
  readonly #entries = new Map<string, Entry>();
  readonly #heap = new ExpiryHeap<Entry>();

  /** Number of entries, expired or not. */
  get rawSize(): number {
    return this.#entries.size;
  }

  /** Number of entries that have not expired at `now`. */
  liveSize(now: number): number {
    return this.#entries.size - this.#heap.countExpired(now);
  }

  /** Returns the entry for `key` when it exists and has not expired. */
  get(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.expiresAt <= now) return undefined;
    return entry;
  }

  /**
   * Stores `value` under `key` and returns the entry it replaced, so that a
   * failed write can be undone with {@linkcode Keyspace.restore}.
   */
  set(key: string, value: Uint8Array, expiresAt: number): Entry | undefined {
    const previous = this.#entries.get(key);
    if (previous !== undefined) this.#heap.remove(previous);
    const entry: Entry = { key, value, expiresAt, heapIndex: -1 };
    this.#entries.set(key, entry);
    if (expiresAt !== Infinity) this.#heap.upsert(entry);
    return previous;
  }

  /** Removes `key` and returns the entry it held. */
  delete(key: string): Entry | undefined {
    const previous = this.#entries.get(key);
    if (previous === undefined) return undefined;
    this.#heap.remove(previous);
    this.#entries.delete(key);
    return previous;
  }

  /** Puts back what `key` held before a change (undefined: absent). */
  restore(key: string, previous: Entry | undefined): void {
    this.delete(key);
    if (previous === undefined) return;
    previous.heapIndex = -1;
    this.#entries.set(key, previous);
    if (previous.expiresAt !== Infinity) this.#heap.upsert(previous);
  }

  /** Returns copies of the entries that have not expired at `now`. */
  liveCopies(now: number): Map<string, Uint8Array> {
    const live = new Map<string, Uint8Array>();
    for (const entry of this.#entries.values()) {
      if (entry.expiresAt > now) live.set(entry.key, entry.value.slice());
    }
    return live;
  }

  /** Removes every entry. */
  clear(): void {
    this.#entries.clear();
    this.#heap.clear();
  }

  /** Iterates over every entry, expired or not, tolerating changes. */
  entries(): IterableIterator<Entry> {
    return this.#entries.values();
  }

  /**
   * Removes expired entries until none are left or `budgetMs` has passed,
   * so one sweep of a million expirations never blocks the event loop long.
   */
  sweep(now: number, budgetMs: number): SweepSlice {
    const expired: string[] = [];
    const deadline = performance.now() + budgetMs;
    while (true) {
      const entry = this.#heap.popExpired(now);
      if (entry === undefined) return { expired, more: false };
      this.#entries.delete(entry.key);
      expired.push(entry.key);
      if (
        expired.length % SWEEP_CLOCK_STRIDE === 0 &&
        performance.now() >= deadline
      ) {
        const next = this.#heap.peek();
        return { expired, more: next !== undefined && next.expiresAt <= now };
      }
    }
  }
}
