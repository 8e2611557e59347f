/**
 * An indexed binary min-heap of slots ordered by expiry, so that a save is
 * O(log n) and sweeping k expired entries is O(k log n). It lives in typed
 * arrays (slot and expiry per heap position, heap position per slot), so a
 * million entries are three objects for the garbage collector, and each
 * slot's recorded position makes removal and re-keying O(log n) without
 * leaving stale copies behind (a lazy heap would keep one per rewrite).
 *
 * @module
 */

/** Marks a slot that is not in the heap. */
const ABSENT = -1;

/** An indexed min-heap of slot numbers keyed by expiry. */
export class ExpiryHeap {
  /** Slot at each heap position. */
  #slots = new Int32Array(64);
  /** Expiry at each heap position (beside the slot, for cache locality). */
  #expiry = new Float64Array(64);
  /** Heap position of each slot, or {@linkcode ABSENT}. */
  #position = new Int32Array(64).fill(ABSENT);
  #size = 0;

  /** Number of slots in the heap. */
  get size(): number {
    return this.#size;
  }

  /** The slot that expires first, or -1. */
  peek(): number {
    return this.#size === 0 ? -1 : this.#slots[0]!;
  }

  /** The first expiry, or `Infinity` when empty. */
  peekExpiry(): number {
    return this.#size === 0 ? Infinity : this.#expiry[0]!;
  }

  /** Adds `slot`, or moves it if it is already in. */
  upsert(slot: number, expiresAt: number): void {
    this.#ensureSlot(slot);
    let index = this.#position[slot]!;
    if (index === ABSENT) {
      index = this.#size++;
      if (index === this.#slots.length) this.#growHeap();
    }
    this.#place(index, slot, expiresAt);
    this.#fix(index);
  }

  /**
   * Puts `slot` in the heap where `old` was (if it was), with its own
   * expiry: an overwrite without a removal and an insertion.
   */
  replace(old: number, slot: number, expiresAt: number): void {
    const index = old < this.#position.length ? this.#position[old]! : ABSENT;
    if (index === ABSENT) return this.upsert(slot, expiresAt);
    this.#position[old] = ABSENT;
    this.#ensureSlot(slot);
    this.#place(index, slot, expiresAt);
    this.#fix(index);
  }

  /** Removes `slot` if it is in the heap. */
  remove(slot: number): void {
    if (slot >= this.#position.length) return;
    const index = this.#position[slot]!;
    if (index === ABSENT) return;
    this.#position[slot] = ABSENT;
    const last = --this.#size;
    if (index === last) return;
    this.#place(index, this.#slots[last]!, this.#expiry[last]!);
    this.#fix(index);
  }

  /** Removes and returns the first slot if it expires at or before `now`. */
  popExpired(now: number): number {
    if (this.#size === 0 || this.#expiry[0]! > now) return ABSENT;
    const slot = this.#slots[0]!;
    this.remove(slot);
    return slot;
  }

  /** Counts slots expiring at or before `now`, in O(count). */
  countExpired(now: number): number {
    let count = 0;
    const stack = [0];
    while (stack.length > 0) {
      const index = stack.pop()!;
      if (index >= this.#size || this.#expiry[index]! > now) continue;
      count++;
      stack.push(2 * index + 1, 2 * index + 2);
    }
    return count;
  }

  /** Drops every slot, giving the arrays back. */
  clear(): void {
    this.#slots = new Int32Array(64);
    this.#expiry = new Float64Array(64);
    this.#position = new Int32Array(64).fill(ABSENT);
    this.#size = 0;
  }

  #place(index: number, slot: number, expiresAt: number): void {
    this.#slots[index] = slot;
    this.#expiry[index] = expiresAt;
    this.#position[slot] = index;
  }

  #fix(index: number): void {
    if (!this.#siftUp(index)) this.#siftDown(index);
  }

  #siftUp(start: number): boolean {
    const slots = this.#slots;
    const expiry = this.#expiry;
    const slot = slots[start]!;
    const expiresAt = expiry[start]!;
    let index = start;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (expiry[parent]! <= expiresAt) break;
      this.#place(index, slots[parent]!, expiry[parent]!);
      index = parent;
    }
    if (index === start) return false;
    this.#place(index, slot, expiresAt);
    return true;
  }

  #siftDown(start: number): void {
    const slots = this.#slots;
    const expiry = this.#expiry;
    const size = this.#size;
    const slot = slots[start]!;
    const expiresAt = expiry[start]!;
    let index = start;
    while (true) {
      let child = 2 * index + 1;
      if (child >= size) break;
      const right = child + 1;
      if (right < size && expiry[right]! < expiry[child]!) child = right;
      if (expiry[child]! >= expiresAt) break;
      this.#place(index, slots[child]!, expiry[child]!);
      index = child;
    }
    if (index !== start) this.#place(index, slot, expiresAt);
  }

  #growHeap(): void {
    const capacity = this.#slots.length * 2;
    const slots = new Int32Array(capacity);
    slots.set(this.#slots);
    this.#slots = slots;
    const expiry = new Float64Array(capacity);
    expiry.set(this.#expiry);
    this.#expiry = expiry;
  }

  #ensureSlot(slot: number): void {
    if (slot < this.#position.length) return;
    let capacity = this.#position.length * 2;
    while (capacity <= slot) capacity *= 2;
    const position = new Int32Array(capacity).fill(ABSENT);
    position.set(this.#position);
    this.#position = position;
  }
}
