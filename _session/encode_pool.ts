/**
 * Buffers reused to encode session records, for stores that are done with
 * the bytes once a save resolves (`SessionStore.copiesOnSave`).
 *
 * `TextEncoder.encode()` allocates a new `ArrayBuffer` per save, which cost
 * more than the JSON text itself in profiles of the write route; a buffer
 * of the pool takes `encodeInto()` instead. Each save in flight holds its
 * own buffer, so concurrent saves never share one.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Size of one pooled buffer; a record that does not fit gets its own. */
const BUFFER_BYTES = 4096;
/** Free buffers kept at most (the saves in flight in one event-loop turn). */
const MAX_FREE = 64;

/** A pool of encoding buffers. */
export class EncodePool {
  readonly #free: Uint8Array[] = [];

  /**
   * Returns `text` as UTF-8, in a pooled buffer when it fits. Give it back
   * with {@linkcode EncodePool.release} once the store is done with it.
   */
  encode(text: string): Uint8Array {
    if (text.length > BUFFER_BYTES) return encoder.encode(text);
    const buffer = this.#free.pop() ?? new Uint8Array(BUFFER_BYTES);
    const { read, written } = encoder.encodeInto(text, buffer);
    if (read === text.length) return buffer.subarray(0, written);
    this.#free.push(buffer);
    return encoder.encode(text);
  }

  /**
   * Takes back the bytes of {@linkcode EncodePool.encode}. Never call it
   * for bytes a store may still read: a save that failed or timed out may
   * not be done with them.
   */
  release(bytes: Uint8Array): void {
    // Bytes encoded outside the pool are longer than a pooled buffer.
    const buffer = bytes.buffer;
    if (buffer.byteLength !== BUFFER_BYTES || this.#free.length >= MAX_FREE) {
      return;
    }
    this.#free.push(new Uint8Array(buffer));
  }
}
