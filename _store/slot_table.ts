/**
 * The keyspace's hash index: an open-addressing table (linear probing,
 * deletion by backward shift, so no tombstones pile up) of slot numbers in
 * one `Int32Array`. It knows each slot's hash; comparing keys is left to
 * the caller, which holds the bytes.
 *
 * @module
 */

/** Marks an empty bucket; buckets hold `slot + 1`. */
const EMPTY = 0;
/** Grow past this fill, so probes stay short. */
const MAX_LOAD = 0.5;

/** Slot numbers by hash. */
export class SlotTable {
  #buckets = new Int32Array(1024);
  #mask = 1023;
  #size = 0;
  /** Hash of each slot, kept by the table for growing and deleting. */
  #hashes = new Int32Array(1024);

  /** Slots in the table. */
  get size(): number {
    return this.#size;
  }

  /** The bucket where a probe for `hash` starts. */
  first(hash: number): number {
    return hash & this.#mask;
  }

  /** The bucket after `bucket`. */
  next(bucket: number): number {
    return (bucket + 1) & this.#mask;
  }

  /** The slot in `bucket`, or -1 when it is empty (the probe ends). */
  slotAt(bucket: number): number {
    return this.#buckets[bucket]! - 1;
  }

  /** The hash recorded for `slot`. */
  hashOf(slot: number): number {
    return this.#hashes[slot]!;
  }

  /** Adds `slot`, which must not be in the table, under `hash`. */
  insert(slot: number, hash: number): void {
    if (slot >= this.#hashes.length) this.#growHashes(slot);
    this.#hashes[slot] = hash;
    if (++this.#size > this.#buckets.length * MAX_LOAD) this.#growBuckets();
    this.#place(slot, hash);
  }

  /**
   * Puts `slot` (with the same key, so the same `hash`) in `bucket` in
   * place of the slot found there: an overwrite without a removal and an
   * insertion.
   */
  replaceAt(bucket: number, slot: number, hash: number): void {
    if (slot >= this.#hashes.length) this.#growHashes(slot);
    this.#hashes[slot] = hash;
    this.#buckets[bucket] = slot + 1;
  }

  /** Removes `slot`, which must be in the table. */
  remove(slot: number): void {
    const buckets = this.#buckets;
    const mask = this.#mask;
    let bucket = this.#hashes[slot]! & mask;
    while (buckets[bucket]! - 1 !== slot) bucket = (bucket + 1) & mask;
    this.removeAt(bucket);
  }

  /** Empties `bucket`, which a probe just found holding a slot. */
  removeAt(bucket: number): void {
    const buckets = this.#buckets;
    const mask = this.#mask;
    let hole = bucket;
    // Backward shift: pull later members of the run into the hole unless
    // that would move them before their home bucket.
    while (true) {
      bucket = (bucket + 1) & mask;
      const entry = buckets[bucket]!;
      if (entry === EMPTY) break;
      const home = this.#hashes[entry - 1]! & mask;
      const between = hole <= bucket
        ? home > hole && home <= bucket
        : home > hole || home <= bucket;
      if (between) continue;
      buckets[hole] = entry;
      hole = bucket;
    }
    buckets[hole] = EMPTY;
    this.#size--;
  }

  /** Empties the table, giving its memory back. */
  clear(): void {
    this.#buckets = new Int32Array(1024);
    this.#mask = 1023;
    this.#size = 0;
    this.#hashes = new Int32Array(1024);
  }

  #place(slot: number, hash: number): void {
    const buckets = this.#buckets;
    const mask = this.#mask;
    let bucket = hash & mask;
    while (buckets[bucket] !== EMPTY) bucket = (bucket + 1) & mask;
    buckets[bucket] = slot + 1;
  }

  #growBuckets(): void {
    const old = this.#buckets;
    this.#buckets = new Int32Array(old.length * 2);
    this.#mask = this.#buckets.length - 1;
    for (const entry of old) {
      if (entry !== EMPTY) this.#place(entry - 1, this.#hashes[entry - 1]!);
    }
  }

  #growHashes(slot: number): void {
    let capacity = this.#hashes.length;
    while (capacity <= slot) capacity = Math.ceil(capacity * 1.5);
    const hashes = new Int32Array(capacity);
    hashes.set(this.#hashes);
    this.#hashes = hashes;
  }
}
