/**
 * The in-memory half of a store: a `Map` from key to slot number, the
 * slots' expiry and value address in typed arrays, the values in a
 * {@linkcode ValueArena}, and an expiry heap of slots; with lazy expiry on
 * read and a sweep that works in bounded slices.
 *
 * Per session the garbage collector sees only the key string and its `Map`
 * entry: no entry object, no `Uint8Array` and no `ArrayBuffer`, which is
 * what made a full collection at a million sessions trace ~4M objects.
 *
 * A change returns the slot it replaced (its {@linkcode Previous}), which
 * stays intact until the caller either restores it (the write failed) or
 * releases it (the write is done).
 *
 * @module
 */

import { ExpiryHeap } from "./expiry_heap.ts";
import { ValueArena } from "./value_arena.ts";

/** One entry as {@linkcode Keyspace.entries} yields it. */
export interface Entry {
  /** The key. */
  key: string;
  /** The stored bytes: a view to be copied before it is kept or handed out. */
  value: Uint8Array;
  /** Expiry in Unix milliseconds; `Infinity` means none. */
  expiresAt: number;
}

/**
 * What a change replaced: a slot number to pass to
 * {@linkcode Keyspace.restore} or {@linkcode Keyspace.release}, or -1 for
 * nothing.
 */
export type Previous = number;

/** Result of one sweep slice. */
export interface SweepSlice {
  /** Keys removed by this slice. */
  expired: string[];
  /** Whether expired entries remain for another slice. */
  more: boolean;
}

/** How many pops happen between two looks at the clock during a sweep. */
const SWEEP_CLOCK_STRIDE = 256;
const NONE = -1;

/** A map of entries with an expiry index. */
export class Keyspace {
  readonly #slots = new Map<string, number>();
  /** Key of each slot in use (for the sweep), `undefined` when free. */
  #keys: (string | undefined)[] = [];
  #expiresAt = new Float64Array(64);
  #cell = new Int32Array(64);
  #length = new Int32Array(64);
  #freeSlots: number[] = [];
  readonly #heap = new ExpiryHeap();
  readonly #arena = new ValueArena();

  /** Number of entries, expired or not. */
  get rawSize(): number {
    return this.#slots.size;
  }

  /** Number of entries that have not expired at `now`. */
  liveSize(now: number): number {
    return this.#slots.size - this.#heap.countExpired(now);
  }

  /** Whether `key` has an entry that has not expired at `now`. */
  has(key: string, now: number): boolean {
    const slot = this.#slots.get(key);
    return slot !== undefined && this.#expiresAt[slot]! > now;
  }

  /** A copy of `key`'s value, unless missing or expired at `now`. */
  copy(key: string, now: number): Uint8Array | undefined {
    const slot = this.#slots.get(key);
    if (slot === undefined || this.#expiresAt[slot]! <= now) return undefined;
    return this.#arena.view(this.#cell[slot]!, this.#length[slot]!).slice();
  }

  /**
   * Stores a copy of `value` under `key`; returns what it replaced, to
   * restore if the write fails or release once it is done.
   */
  set(key: string, value: Uint8Array, expiresAt: number): Previous {
    const previous = this.#slots.get(key) ?? NONE;
    if (previous !== NONE) this.#heap.remove(previous);
    const slot = this.#newSlot(key);
    this.#cell[slot] = this.#arena.store(value);
    this.#length[slot] = value.length;
    this.#expiresAt[slot] = expiresAt;
    this.#slots.set(key, slot);
    if (expiresAt !== Infinity) this.#heap.upsert(slot, expiresAt);
    return previous;
  }

  /** Removes `key`; returns what it held, to restore or release. */
  delete(key: string): Previous {
    const previous = this.#slots.get(key);
    if (previous === undefined) return NONE;
    this.#heap.remove(previous);
    this.#slots.delete(key);
    return previous;
  }

  /**
   * Undoes the latest change of `key`: frees what it holds now and puts
   * back `previous` (-1: absent).
   */
  restore(key: string, previous: Previous): void {
    this.release(this.delete(key));
    if (previous === NONE) return;
    this.#slots.set(key, previous);
    const expiresAt = this.#expiresAt[previous]!;
    if (expiresAt !== Infinity) this.#heap.upsert(previous, expiresAt);
  }

  /** Frees a replaced slot whose change is done (-1: nothing). */
  release(previous: Previous): void {
    if (previous === NONE) return;
    this.#arena.free(this.#cell[previous]!, this.#length[previous]!);
    this.#keys[previous] = undefined;
    this.#freeSlots.push(previous);
  }

  /** Frees a list of replaced slots; see {@linkcode Keyspace.release}. */
  releaseAll(previous: readonly Previous[]): void {
    for (const slot of previous) this.release(slot);
  }

  /** Returns copies of the entries that have not expired at `now`. */
  liveCopies(now: number): Map<string, Uint8Array> {
    const live = new Map<string, Uint8Array>();
    for (const [key, slot] of this.#slots) {
      if (this.#expiresAt[slot]! > now) {
        live.set(key, this.#view(slot).slice());
      }
    }
    return live;
  }

  /** Removes every entry. */
  clear(): void {
    this.#slots.clear();
    this.#keys = [];
    this.#freeSlots = [];
    this.#expiresAt = new Float64Array(64);
    this.#cell = new Int32Array(64);
    this.#length = new Int32Array(64);
    this.#heap.clear();
    this.#arena.clear();
  }

  /**
   * Iterates over every entry, expired or not, tolerating changes. It
   * yields one reused object, and its `value` is a view into the arena:
   * both are valid only until the next step or change.
   */
  *entries(): IterableIterator<Entry> {
    const cursor: Entry = { key: "", value: new Uint8Array(0), expiresAt: 0 };
    for (const [key, slot] of this.#slots) {
      cursor.key = key;
      cursor.value = this.#view(slot);
      cursor.expiresAt = this.#expiresAt[slot]!;
      yield cursor;
    }
  }

  /**
   * Removes expired entries until none are left or `budgetMs` has passed,
   * so one sweep of a million expirations never blocks the event loop long.
   */
  sweep(now: number, budgetMs: number): SweepSlice {
    const expired: string[] = [];
    const deadline = performance.now() + budgetMs;
    while (true) {
      const slot = this.#heap.popExpired(now);
      if (slot === NONE) return { expired, more: false };
      const key = this.#keys[slot]!;
      this.#slots.delete(key);
      this.release(slot);
      expired.push(key);
      if (
        expired.length % SWEEP_CLOCK_STRIDE === 0 &&
        performance.now() >= deadline
      ) {
        return { expired, more: this.#heap.peekExpiry() <= now };
      }
    }
  }

  #view(slot: number): Uint8Array {
    return this.#arena.view(this.#cell[slot]!, this.#length[slot]!);
  }

  #newSlot(key: string): number {
    let slot = this.#freeSlots.pop();
    if (slot === undefined) {
      slot = this.#keys.length;
      if (slot === this.#expiresAt.length) this.#grow();
    }
    this.#keys[slot] = key;
    return slot;
  }

  #grow(): void {
    // Half again, not double: at a million sessions the spare capacity of
    // these arrays is memory every session pays for.
    const capacity = Math.ceil(this.#expiresAt.length * 1.5);
    const expiresAt = new Float64Array(capacity);
    expiresAt.set(this.#expiresAt);
    this.#expiresAt = expiresAt;
    const cell = new Int32Array(capacity);
    cell.set(this.#cell);
    this.#cell = cell;
    const length = new Int32Array(capacity);
    length.set(this.#length);
    this.#length = length;
  }
}
