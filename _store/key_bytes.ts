/**
 * Keys as UTF-8 bytes for the keyspace's hash table: encoding a string key
 * into a reused scratch buffer (without the encoder for ASCII, which every
 * session token is), hashing bytes, and decoding stored keys back exactly.
 *
 * @module
 */

const encoder = new TextEncoder();
// Exact decoding: the default decoder drops a leading U+FEFF, which would
// turn "\uFEFFtok" into "tok" (the log reader decodes keys the same way).
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** A reused buffer holding the UTF-8 bytes of the last encoded key. */
export class KeyScratch {
  #bytes = new Uint8Array(1024);

  /**
   * Encodes `key` and returns a view of its bytes, valid until the next
   * call.
   */
  encode(key: string): Uint8Array {
    const length = key.length;
    // UTF-8 takes at most three bytes per UTF-16 unit.
    if (this.#bytes.length < length * 3) {
      this.#bytes = new Uint8Array(length * 3);
    }
    const bytes = this.#bytes;
    for (let i = 0; i < length; i++) {
      const code = key.charCodeAt(i);
      if (code > 127) {
        const { written } = encoder.encodeInto(key, bytes);
        return bytes.subarray(0, written);
      }
      bytes[i] = code;
    }
    return bytes.subarray(0, length);
  }
}

/** FNV-1a over `bytes[start..end)`, as a non-negative 31-bit number. */
export function hashBytes(
  bytes: Uint8Array,
  start: number,
  end: number,
): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  }
  // Mix the last bytes into the low bits, which pick the bucket.
  hash ^= hash >>> 15;
  return hash & 0x7fffffff;
}

/**
 * {@linkcode hashBytes} of an ASCII string's bytes, computed from the
 * string itself; -1 when `key` is not ASCII (encode it and hash the bytes).
 */
export function hashAscii(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    if (code > 127) return -1;
    hash = Math.imul(hash ^ code, 0x01000193);
  }
  hash ^= hash >>> 15;
  return hash & 0x7fffffff;
}

/** Whether `bytes[start..)` holds the ASCII string `key`. */
export function sameAscii(
  bytes: Uint8Array,
  start: number,
  key: string,
): boolean {
  for (let i = 0; i < key.length; i++) {
    if (bytes[start + i] !== key.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether `a[aStart..)` and `b[bStart..)` hold the same `length` bytes. */
export function sameBytes(
  a: Uint8Array,
  aStart: number,
  b: Uint8Array,
  bStart: number,
  length: number,
): boolean {
  for (let i = 0; i < length; i++) {
    if (a[aStart + i] !== b[bStart + i]) return false;
  }
  return true;
}

/** Decodes stored key bytes to the exact string they were made from. */
export function decodeKey(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
