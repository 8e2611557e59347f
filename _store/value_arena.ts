/**
 * Session values packed into a few large buffers instead of one
 * `ArrayBuffer` each, so a million sessions are a few hundred objects for
 * the garbage collector, not a million, and a value costs its bytes plus
 * its rounding rather than a backing store, a buffer and a view.
 *
 * Values up to {@linkcode SMALL_MAX} bytes go to size classes (four per
 * power of two, so at most a quarter of a cell is rounding) of cells in
 * 1 MiB chunks; each class reuses freed cells first and gives all its
 * chunks back once it holds no value. Larger values stay standalone
 * `Uint8Array`s, freed as soon as they are dropped, so one big value never
 * pins a chunk.
 *
 * The keyspace stores each key and its value together in one cell; a
 * cell is addressed by its length (which names its class) and its number,
 * both kept by the keyspace in typed arrays.
 *
 * @module
 */

/** Values longer than this are kept standalone, not in a chunk. */
export const SMALL_MAX = 16 * 1024;
/** Bytes of a full chunk. */
const CHUNK_BYTES = 1 << 20;
/** Cells the first chunk of a class starts with; it doubles to full size. */
const FIRST_CELLS = 16;

/** One size class: equal cells in chunks, with a stack of freed cells. */
class SizeClass {
  readonly size: number;
  /** log2 of the cells per full chunk. */
  readonly #shift: number;
  readonly #mask: number;
  #chunks: Uint8Array[] = [];
  /** Cells handed out so far, freed or not (the bump pointer). */
  #next = 0;
  #free = new Int32Array(16);
  #freeCount = 0;
  /** Cells holding a value. */
  live = 0;

  constructor(size: number) {
    this.size = size;
    this.#shift = 31 - Math.clz32(Math.floor(CHUNK_BYTES / size));
    this.#mask = (1 << this.#shift) - 1;
  }

  alloc(): number {
    this.live++;
    if (this.#freeCount > 0) return this.#free[--this.#freeCount]!;
    const cell = this.#next++;
    const chunk = cell >>> this.#shift;
    const offset = (cell & this.#mask) * this.size;
    const chunks = this.#chunks;
    if (chunk === chunks.length) {
      // Only the first chunk starts small: a class with few values must
      // not take a whole megabyte.
      const cells = chunk === 0 ? Math.min(FIRST_CELLS, this.#mask + 1) : 0;
      chunks.push(new Uint8Array((cells || this.#mask + 1) * this.size));
    } else if (offset + this.size > chunks[chunk]!.length) {
      const old = chunks[chunk]!;
      const grown = new Uint8Array(
        Math.min(old.length * 2, (this.#mask + 1) * this.size),
      );
      grown.set(old);
      chunks[chunk] = grown;
    }
    return cell;
  }

  free(cell: number): void {
    if (--this.live === 0) {
      // Nothing left in the class: give every chunk back.
      this.#chunks = [];
      this.#next = 0;
      this.#freeCount = 0;
      if (this.#free.length > 16) this.#free = new Int32Array(16);
      return;
    }
    if (this.#freeCount === this.#free.length) {
      const grown = new Int32Array(this.#free.length * 2);
      grown.set(this.#free);
      this.#free = grown;
    }
    this.#free[this.#freeCount++] = cell;
  }

  /** Copies `head` then `tail` into `cell`, without a view of it. */
  write(cell: number, head: Uint8Array, tail: Uint8Array): void {
    const chunk = this.#chunks[cell >>> this.#shift]!;
    const offset = (cell & this.#mask) * this.size;
    chunk.set(head, offset);
    chunk.set(tail, offset + head.length);
  }

  chunkOf(cell: number): Uint8Array {
    return this.#chunks[cell >>> this.#shift]!;
  }

  offsetOf(cell: number): number {
    return (cell & this.#mask) * this.size;
  }

  copy(cell: number, from: number, to: number): Uint8Array {
    const offset = (cell & this.#mask) * this.size;
    return this.#chunks[cell >>> this.#shift]!.slice(
      offset + from,
      offset + to,
    );
  }

  view(cell: number, length: number): Uint8Array {
    const offset = (cell & this.#mask) * this.size;
    return this.#chunks[cell >>> this.#shift]!.subarray(
      offset,
      offset + length,
    );
  }

  /** Bytes of chunk memory this class holds. */
  get bytes(): number {
    let total = 0;
    for (const chunk of this.#chunks) total += chunk.length;
    return total;
  }
}

/** Values in size-classed chunks, big ones standalone. */
export class ValueArena {
  readonly #classes: SizeClass[] = [];
  #big: (Uint8Array | undefined)[] = [];
  #located = 0;
  #bigFree: number[] = [];

  /**
   * Stores a copy of `head` followed by `tail` in one cell (a key and its
   * value); returns the cell, which together with the total length
   * addresses it.
   */
  store(head: Uint8Array, tail: Uint8Array): number {
    const length = head.length + tail.length;
    if (length > SMALL_MAX) {
      const bytes = new Uint8Array(length);
      bytes.set(head);
      bytes.set(tail, head.length);
      const cell = this.#bigFree.pop() ?? this.#big.length;
      this.#big[cell] = bytes;
      return cell;
    }
    const sizeClass = this.#classOf(length);
    const cell = sizeClass.alloc();
    sizeClass.write(cell, head, tail);
    return cell;
  }

  /**
   * {@linkcode ValueArena.store} for a head given as an ASCII string (a
   * session token), written without encoding it first.
   */
  storeAscii(head: string, tail: Uint8Array): number {
    const length = head.length + tail.length;
    const sizeClass = length > SMALL_MAX ? undefined : this.#classOf(length);
    if (sizeClass === undefined) {
      const bytes = new Uint8Array(length);
      writeAscii(bytes, 0, head);
      bytes.set(tail, head.length);
      const cell = this.#bigFree.pop() ?? this.#big.length;
      this.#big[cell] = bytes;
      return cell;
    }
    const cell = sizeClass.alloc();
    const chunk = sizeClass.chunkOf(cell);
    const offset = sizeClass.offsetOf(cell);
    writeAscii(chunk, offset, head);
    chunk.set(tail, offset + head.length);
    return cell;
  }

  /**
   * The stored bytes, as a view into the arena: valid until the cell is
   * freed, and never to be handed out (copy it with `slice()`).
   */
  view(cell: number, length: number): Uint8Array {
    if (length > SMALL_MAX) return this.#big[cell]!;
    return this.#classOf(length).view(cell, length);
  }

  /**
   * A copy of bytes `from..length` of a cell: one allocation, no view in
   * between, for the read path.
   */
  copy(cell: number, length: number, from: number): Uint8Array {
    if (length > SMALL_MAX) return this.#big[cell]!.slice(from);
    return this.#classOf(length).copy(cell, from, length);
  }

  /**
   * The buffer holding a cell, its start in it then readable from
   * {@linkcode ValueArena.located}: for comparing bytes in place without
   * making a view. Valid until the next change.
   */
  locate(cell: number, length: number): Uint8Array {
    if (length > SMALL_MAX) {
      this.#located = 0;
      return this.#big[cell]!;
    }
    const sizeClass = this.#classOf(length);
    this.#located = sizeClass.offsetOf(cell);
    return sizeClass.chunkOf(cell);
  }

  /** Where the cell found by the last {@linkcode ValueArena.locate} starts. */
  get located(): number {
    return this.#located;
  }

  /** Frees the cell of a value of `length` bytes. */
  free(cell: number, length: number): void {
    if (length > SMALL_MAX) {
      this.#big[cell] = undefined;
      this.#bigFree.push(cell);
      if (this.#bigFree.length === this.#big.length) {
        this.#big = [];
        this.#bigFree = [];
      }
      return;
    }
    this.#classOf(length).free(cell);
  }

  /** Drops every value. */
  clear(): void {
    this.#classes.length = 0;
    this.#big = [];
    this.#bigFree = [];
  }

  /** Bytes held in chunks (used or free) and standalone values. */
  get bytes(): number {
    let total = 0;
    for (const sizeClass of this.#classes) total += sizeClass?.bytes ?? 0;
    for (const value of this.#big) total += value?.length ?? 0;
    return total;
  }

  #classOf(length: number): SizeClass {
    const index = classIndex(length);
    return this.#classes[index] ??= new SizeClass(classSize(index));
  }
}

function writeAscii(bytes: Uint8Array, at: number, text: string): void {
  for (let i = 0; i < text.length; i++) bytes[at + i] = text.charCodeAt(i);
}

/**
 * Size class of a length: class 0 holds up to 16 bytes; above, four
 * classes per power of two (16 < n <= 20 is class 1, ..., 28 < n <= 32 is
 * class 4, 32 < n <= 40 is class 5, ...).
 */
function classIndex(length: number): number {
  if (length <= 16) return 0;
  const power = 31 - Math.clz32(length - 1);
  const step = 1 << (power - 2);
  return (power - 4) * 4 + Math.ceil((length - (1 << power)) / step);
}

/** Cell size of class `index`: the longest length {@linkcode classIndex} maps to it. */
function classSize(index: number): number {
  if (index === 0) return 16;
  const power = 4 + Math.floor((index - 1) / 4);
  const k = index - (power - 4) * 4;
  return (1 << power) + k * (1 << (power - 2));
}
