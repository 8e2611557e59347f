/**
 * An indexed binary min-heap of entries ordered by expiry, so that a save is
 * O(log n) and sweeping k expired entries is O(k log n). Each entry records
 * its own position, which makes removal and re-keying O(log n) without
 * leaving stale copies behind (a lazy heap would keep one per rewrite).
 *
 * @module
 */

/** What the heap needs from an entry; stores extend it with their data. */
export interface HeapEntry {
  /** The key the entry is stored under. */
  key: string;
  /** Expiry in Unix milliseconds; `Infinity` means none. */
  expiresAt: number;
  /** Position in the heap, or -1 when not in it. */
  heapIndex: number;
}

/** An indexed min-heap keyed by `expiresAt`. */
export class ExpiryHeap<E extends HeapEntry> {
  #items: E[] = [];

  /** The entry that expires first, if any. */
  peek(): E | undefined {
    return this.#items[0];
  }

  /** Adds the entry, or moves it if its `expiresAt` changed. */
  upsert(entry: E): void {
    if (entry.heapIndex < 0) {
      entry.heapIndex = this.#items.length;
      this.#items.push(entry);
    }
    this.#fix(entry.heapIndex);
  }

  /** Removes the entry if it is in the heap. */
  remove(entry: E): void {
    const index = entry.heapIndex;
    if (index < 0) return;
    const last = this.#items.pop()!;
    entry.heapIndex = -1;
    if (last === entry) return;
    this.#items[index] = last;
    last.heapIndex = index;
    this.#fix(index);
  }

  /** Removes and returns the first entry if it expires at or before `now`. */
  popExpired(now: number): E | undefined {
    const first = this.#items[0];
    if (first === undefined || first.expiresAt > now) return undefined;
    this.remove(first);
    return first;
  }

  /** Counts entries expiring at or before `now`, in O(count). */
  countExpired(now: number): number {
    let count = 0;
    const stack = [0];
    while (stack.length > 0) {
      const index = stack.pop()!;
      const entry = this.#items[index];
      if (entry === undefined || entry.expiresAt > now) continue;
      count++;
      stack.push(2 * index + 1, 2 * index + 2);
    }
    return count;
  }

  /** Drops every entry. */
  clear(): void {
    for (const entry of this.#items) entry.heapIndex = -1;
    this.#items = [];
  }

  #fix(index: number): void {
    if (!this.#siftUp(index)) this.#siftDown(index);
  }

  #siftUp(start: number): boolean {
    const items = this.#items;
    const entry = items[start]!;
    let index = start;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = items[parentIndex]!;
      if (parent.expiresAt <= entry.expiresAt) break;
      items[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    items[index] = entry;
    entry.heapIndex = index;
    return index !== start;
  }

  #siftDown(start: number): void {
    const items = this.#items;
    const length = items.length;
    const entry = items[start]!;
    let index = start;
    while (true) {
      let child = 2 * index + 1;
      if (child >= length) break;
      const right = child + 1;
      if (
        right < length && items[right]!.expiresAt < items[child]!.expiresAt
      ) child = right;
      const smaller = items[child]!;
      if (smaller.expiresAt >= entry.expiresAt) break;
      items[index] = smaller;
      smaller.heapIndex = index;
      index = child;
    }
    items[index] = entry;
    entry.heapIndex = index;
  }
}
