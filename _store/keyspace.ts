/**
 * The in-memory half of a store, in a handful of large typed arrays: each
 * entry is a slot number, found by a {@linkcode SlotTable} hashed on the
 * key's UTF-8 bytes; the slot's key and value bytes share one cell of a
 * {@linkcode ValueArena}, and its expiry and lengths sit in typed arrays;
 * an {@linkcode ExpiryHeap} of slots drives the sweep.
 *
 * So a million sessions are a few hundred objects for the garbage
 * collector (chunks and arrays), not the ~4M of a `Map` of entry objects
 * with a key string, a `Uint8Array` and an `ArrayBuffer` each, and a full
 * collection has next to nothing to trace.
 *
 * A change returns the slot it replaced (its {@linkcode Previous}), which
 * stays intact until the caller either restores it (the write failed) or
 * releases it (the write is done).
 *
 * @module
 */

import { ExpiryHeap } from "./expiry_heap.ts";
import {
  decodeKey,
  hashAscii,
  hashBytes,
  KeyScratch,
  sameAscii,
  sameBytes,
} from "./key_bytes.ts";
import { SlotTable } from "./slot_table.ts";
import { SMALL_MAX, ValueArena } from "./value_arena.ts";

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

/**
 * How many pops happen between two looks at the clock during a sweep:
 * ~0.1 ms of work at 1M sessions, so a slice ends close to its budget.
 */
const SWEEP_CLOCK_STRIDE = 64;
const NONE = -1;
/** Slot states: free for reuse; an entry; replaced, its bytes kept. */
const FREE = 0;
const INDEXED = 1;
const RETIRED = 2;
/** Replaced, and freed only by {@linkcode Keyspace.releaseHeld}. */
const HELD = 3;

/** A map of entries with an expiry index. */
export class Keyspace {
  readonly #table = new SlotTable();
  readonly #arena = new ValueArena();
  readonly #heap = new ExpiryHeap();
  readonly #scratch = new KeyScratch();
  /** The bucket where the last successful lookup found its slot. */
  #found = 0;
  /** Slots ever handed out; slots below it are in use or free. */
  #slotCount = 0;
  #freeSlots: number[] = [];
  #expiresAt = new Float64Array(64);
  /** Arena cell of each slot: its key bytes, then its value bytes. */
  #cell = new Int32Array(64);
  #keyLength = new Int32Array(64);
  #valueLength = new Int32Array(64);
  /** {@linkcode FREE}, {@linkcode INDEXED}, {@linkcode RETIRED} or {@linkcode HELD}. */
  #state = new Uint8Array(64);

  /** Number of entries, expired or not. */
  get rawSize(): number {
    return this.#table.size;
  }

  /** Number of entries that have not expired at `now`. */
  liveSize(now: number): number {
    return this.#table.size - this.#heap.countExpired(now);
  }

  /** Whether `key` has an entry that has not expired at `now`. */
  has(key: string, now: number): boolean {
    const slot = this.#lookupString(key);
    return slot !== NONE && this.#expiresAt[slot]! > now;
  }

  /**
   * A copy of `key`'s value, unless missing or expired at `now`; `hash` is
   * its {@linkcode hashAscii} when the caller has it already.
   */
  copy(
    key: string,
    now: number,
    hash: number = hashAscii(key),
  ): Uint8Array | undefined {
    const slot = this.#lookupString(key, hash);
    if (slot === NONE || this.#expiresAt[slot]! <= now) return undefined;
    const keyLength = this.#keyLength[slot]!;
    return this.#arena.copy(
      this.#cell[slot]!,
      keyLength + this.#valueLength[slot]!,
      keyLength,
    );
  }

  /**
   * `key`'s value and expiry, unless missing or expired at `now`, for a
   * compaction writing the keys changed while it ran. The value is a view
   * into the arena, valid only until the next change.
   */
  entry(
    key: string,
    now: number,
  ): { value: Uint8Array; expiresAt: number } | undefined {
    const slot = this.#lookupString(key);
    if (slot === NONE) return undefined;
    const expiresAt = this.#expiresAt[slot]!;
    if (expiresAt <= now) return undefined;
    return { value: this.#value(slot), expiresAt };
  }

  /**
   * Stores a copy of `value` under `key`; returns what it replaced, to
   * restore if the write fails or release once it is done. `hash` is the
   * key's {@linkcode hashAscii} when the caller has it already.
   */
  set(
    key: string,
    value: Uint8Array,
    expiresAt: number,
    hash: number = hashAscii(key),
  ): Previous {
    if (hash < 0) {
      return this.setBytes(this.#scratch.encode(key), value, expiresAt);
    }
    const previous = this.#lookupAscii(key, hash);
    const slot = this.#newSlot();
    this.#cell[slot] = this.#arena.storeAscii(key, value);
    this.#keyLength[slot] = key.length;
    this.#valueLength[slot] = value.length;
    this.#expiresAt[slot] = expiresAt;
    this.#supersede(previous, slot, hash);
    return previous;
  }

  /**
   * {@linkcode Keyspace.set} for a key given as its UTF-8 bytes (the log
   * reader's view), which it copies.
   */
  setBytes(key: Uint8Array, value: Uint8Array, expiresAt: number): Previous {
    const hash = hashBytes(key, 0, key.length);
    const previous = this.#lookupHashed(key, hash);
    const slot = this.#newSlot();
    this.#cell[slot] = this.#arena.store(key, value);
    this.#keyLength[slot] = key.length;
    this.#valueLength[slot] = value.length;
    this.#expiresAt[slot] = expiresAt;
    this.#supersede(previous, slot, hash);
    return previous;
  }

  /** Removes `key`; returns what it held, to restore or release. */
  delete(key: string): Previous {
    const slot = this.#lookupString(key);
    if (slot !== NONE) this.#unindex(slot, this.#found);
    return slot;
  }

  /** Whether `previous` holds a value too big for the arena's chunks. */
  isLarge(previous: Previous): boolean {
    return previous !== NONE &&
      this.#keyLength[previous]! + this.#valueLength[previous]! > SMALL_MAX;
  }

  /** Whether `previous` (a slot from a change) held a live entry at `now`. */
  wasLive(previous: Previous, now: number): boolean {
    return previous !== NONE && this.#expiresAt[previous]! > now;
  }

  /** {@linkcode Keyspace.delete} for a key given as its UTF-8 bytes. */
  deleteBytes(key: Uint8Array): Previous {
    const slot = this.#lookup(key);
    if (slot !== NONE) this.#unindex(slot, this.#found);
    return slot;
  }

  /**
   * Undoes the latest change of `key`: frees what it holds now and puts
   * back `previous` (-1: absent).
   */
  restore(key: string, previous: Previous): void {
    this.release(this.delete(key));
    if (previous !== NONE) this.#index(previous, this.#table.hashOf(previous));
  }

  /**
   * Frees a replaced slot whose change is done; does nothing for -1, or
   * for a slot that an undo has put back or freed since it was replaced.
   */
  release(previous: Previous): void {
    if (previous === NONE) return;
    const state = this.#state[previous];
    if (state !== RETIRED && state !== HELD) return;
    this.#free(previous);
  }

  /**
   * Frees the slots of `previous` still retired. A list kept until every
   * change has settled: an entry an undo put back (or that was freed and
   * reused since) is skipped, and so is one held for a batch of its own.
   */
  releaseRetired(previous: readonly Previous[]): void {
    for (const slot of previous) {
      if (this.#state[slot] === RETIRED) this.#free(slot);
    }
  }

  /**
   * Marks a replaced slot as freed only by {@linkcode releaseHeld}, once
   * the batch that replaced it has succeeded.
   */
  hold(previous: Previous): void {
    if (previous !== NONE && this.#state[previous] === RETIRED) {
      this.#state[previous] = HELD;
    }
  }

  /** Frees the slots of `previous` still held; see {@linkcode hold}. */
  releaseHeld(previous: readonly Previous[]): void {
    for (const slot of previous) {
      if (this.#state[slot] === HELD) this.#free(slot);
    }
  }

  #free(previous: number): void {
    this.#state[previous] = FREE;
    this.#arena.free(
      this.#cell[previous]!,
      this.#keyLength[previous]! + this.#valueLength[previous]!,
    );
    this.#freeSlots.push(previous);
  }

  /** Returns copies of the entries that have not expired at `now`. */
  liveCopies(now: number): Map<string, Uint8Array> {
    const live = new Map<string, Uint8Array>();
    for (let slot = 0; slot < this.#slotCount; slot++) {
      if (this.#state[slot] === INDEXED && this.#expiresAt[slot]! > now) {
        live.set(this.#key(slot), this.#value(slot).slice());
      }
    }
    return live;
  }

  /**
   * Sums `cost(keyBytes, valueBytes, expiresAt)` over every entry, without
   * decoding a key: what a compaction would write, to pace auto-shrink.
   */
  sumOver(
    cost: (keyBytes: number, valueBytes: number, expiresAt: number) => number,
  ): number {
    let total = 0;
    for (let slot = 0; slot < this.#slotCount; slot++) {
      if (this.#state[slot] !== INDEXED) continue;
      total += cost(
        this.#keyLength[slot]!,
        this.#valueLength[slot]!,
        this.#expiresAt[slot]!,
      );
    }
    return total;
  }

  /** Removes every entry, giving the memory back. */
  clear(): void {
    this.#table.clear();
    this.#arena.clear();
    this.#heap.clear();
    this.#slotCount = 0;
    this.#freeSlots = [];
    this.#expiresAt = new Float64Array(64);
    this.#cell = new Int32Array(64);
    this.#keyLength = new Int32Array(64);
    this.#valueLength = new Int32Array(64);
    this.#state = new Uint8Array(64);
  }

  /**
   * Iterates over every entry, expired or not, in slot order, tolerating
   * changes (an entry added meanwhile may be missed). It yields one reused
   * object whose `value` is a view into the arena: both are valid only
   * until the next step or change.
   */
  *entries(): IterableIterator<Entry> {
    const cursor: Entry = { key: "", value: new Uint8Array(0), expiresAt: 0 };
    for (let slot = 0; slot < this.#slotCount; slot++) {
      if (this.#state[slot] !== INDEXED) continue;
      cursor.key = this.#key(slot);
      cursor.value = this.#value(slot);
      cursor.expiresAt = this.#expiresAt[slot]!;
      yield cursor;
    }
  }

  /**
   * Removes expired entries until none are left or `budgetMs` has passed,
   * so one sweep of a million expirations never blocks the event loop long.
   * `forget` is called with each removed key inside the budget, for the
   * caller's own per-key cleanup.
   */
  sweep(
    now: number,
    budgetMs: number,
    forget?: (key: string) => void,
  ): SweepSlice {
    const expired: string[] = [];
    const deadline = performance.now() + budgetMs;
    while (true) {
      const slot = this.#heap.popExpired(now);
      if (slot === NONE) return { expired, more: false };
      const key = this.#key(slot);
      expired.push(key);
      this.#unindex(slot);
      this.release(slot);
      forget?.(key);
      if (
        expired.length % SWEEP_CLOCK_STRIDE === 0 &&
        performance.now() >= deadline
      ) {
        return { expired, more: this.#heap.peekExpiry() <= now };
      }
    }
  }

  /**
   * The slot of `key`, or -1; an ASCII key (every session token) is hashed
   * and compared as it is, without encoding it first.
   */
  #lookupString(key: string, hash: number = hashAscii(key)): number {
    if (hash < 0) return this.#lookup(this.#scratch.encode(key));
    return this.#lookupAscii(key, hash);
  }

  /** The slot of the ASCII `key` hashed to `hash`, or -1; sets `#found`. */
  #lookupAscii(key: string, hash: number): number {
    const table = this.#table;
    const length = key.length;
    for (let bucket = table.first(hash);; bucket = table.next(bucket)) {
      const slot = table.slotAt(bucket);
      if (slot === NONE) return NONE;
      if (
        table.hashOf(slot) === hash && this.#keyLength[slot] === length &&
        sameAscii(this.#locate(slot), this.#arena.located, key)
      ) {
        this.#found = bucket;
        return slot;
      }
    }
  }

  /** The slot holding `key`'s bytes, or -1. */
  #lookup(key: Uint8Array): number {
    return this.#lookupHashed(key, hashBytes(key, 0, key.length));
  }

  #lookupHashed(key: Uint8Array, hash: number): number {
    const table = this.#table;
    const length = key.length;
    for (let bucket = table.first(hash);; bucket = table.next(bucket)) {
      const slot = table.slotAt(bucket);
      if (slot === NONE) return NONE;
      if (
        table.hashOf(slot) === hash && this.#keyLength[slot] === length &&
        sameBytes(this.#locate(slot), this.#arena.located, key, 0, length)
      ) {
        this.#found = bucket;
        return slot;
      }
    }
  }

  /**
   * Makes the new `slot` the entry of its key in place of `previous` (-1:
   * none), found by the last lookup in bucket `#found`: it takes over the
   * bucket and the heap position rather than being removed and inserted.
   */
  #supersede(previous: number, slot: number, hash: number): void {
    if (previous === NONE) return this.#index(slot, hash);
    this.#table.replaceAt(this.#found, slot, hash);
    this.#state[previous] = RETIRED;
    this.#state[slot] = INDEXED;
    const expiresAt = this.#expiresAt[slot]!;
    if (expiresAt === Infinity) this.#heap.remove(previous);
    else this.#heap.replace(previous, slot, expiresAt);
  }

  /** Makes `slot` the entry of its key: in the table and the heap. */
  #index(slot: number, hash: number): void {
    this.#table.insert(slot, hash);
    this.#state[slot] = INDEXED;
    const expiresAt = this.#expiresAt[slot]!;
    if (expiresAt !== Infinity) this.#heap.upsert(slot, expiresAt);
  }

  /**
   * Takes `slot` out of the table and the heap, keeping its bytes; `bucket`
   * is where a lookup just found it, if known.
   */
  #unindex(slot: number, bucket = -1): void {
    if (bucket < 0) this.#table.remove(slot);
    else this.#table.removeAt(bucket);
    this.#state[slot] = RETIRED;
    this.#heap.remove(slot);
  }

  /** The buffer of the slot's cell; its start is `#arena.located`. */
  #locate(slot: number): Uint8Array {
    return this.#arena.locate(
      this.#cell[slot]!,
      this.#keyLength[slot]! + this.#valueLength[slot]!,
    );
  }

  /** The slot's cell: key bytes, then value bytes. */
  #bytes(slot: number): Uint8Array {
    return this.#arena.view(
      this.#cell[slot]!,
      this.#keyLength[slot]! + this.#valueLength[slot]!,
    );
  }

  #key(slot: number): string {
    return decodeKey(this.#bytes(slot).subarray(0, this.#keyLength[slot]!));
  }

  #value(slot: number): Uint8Array {
    return this.#bytes(slot).subarray(this.#keyLength[slot]!);
  }

  #newSlot(): number {
    const free = this.#freeSlots.pop();
    if (free !== undefined) return free;
    const slot = this.#slotCount++;
    if (slot === this.#expiresAt.length) this.#grow();
    return slot;
  }

  #grow(): void {
    // Half again, not double: at a million sessions the spare capacity of
    // these arrays is memory every session pays for.
    const capacity = Math.ceil(this.#expiresAt.length * 1.5);
    this.#expiresAt = grown(this.#expiresAt, new Float64Array(capacity));
    this.#cell = grown(this.#cell, new Int32Array(capacity));
    this.#keyLength = grown(this.#keyLength, new Int32Array(capacity));
    this.#valueLength = grown(this.#valueLength, new Int32Array(capacity));
    this.#state = grown(this.#state, new Uint8Array(capacity));
  }
}

function grown<T extends Float64Array | Int32Array | Uint8Array>(
  old: T,
  bigger: T,
): T {
  bigger.set(old as ArrayLike<number>);
  return bigger;
}
