/**
 * Session tokens: generation, the shape check for tokens sent by clients,
 * and the SHA-256 store key with a bounded cache so that a token is hashed
 * once per process while it stays in use.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** Random bytes in a token (256 bits, like scs). */
const TOKEN_BYTES = 32;
/** Length of a token: 32 bytes in unpadded base64url. */
const TOKEN_LENGTH = 43;

/** 1 at the char codes of the base64url alphabet, 0 elsewhere. */
const TOKEN_CHARS = new Uint8Array(128);
for (
  const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
) TOKEN_CHARS[c.charCodeAt(0)] = 1;

/** Returns a new token: 32 bytes from the CSPRNG in unpadded base64url. */
export function newToken(): string {
  return crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

/** Returns whether `value` has the length and alphabet of a token. */
export function isWellFormedToken(value: string): boolean {
  if (value.length !== TOKEN_LENGTH) return false;
  // A table lookup per character: a third of the regular expression's
  // time, on every request that sends a cookie.
  for (let i = 0; i < TOKEN_LENGTH; i++) {
    const code = value.charCodeAt(i);
    if (code >= 128 || TOKEN_CHARS[code] === 0) return false;
  }
  return true;
}

/**
 * Maps tokens to store keys. With hashing on, the key is the unpadded
 * base64url SHA-256 of the token; results are kept in a bounded map (oldest
 * dropped first) because hashing dominated the per-request cost when
 * measured, and node:crypto's synchronous hash was several times faster than
 * `crypto.subtle.digest` for 43-byte inputs.
 */
export class TokenHasher {
  readonly #hash: boolean;
  readonly #max: number;
  readonly #keys = new Map<string, string>();
  #hashed = 0;

  /**
   * @param hash Whether keys are hashes; when false the key is the token.
   * @param max Most tokens remembered.
   */
  constructor(hash: boolean, max: number) {
    this.#hash = hash;
    this.#max = max;
  }

  /** How many SHA-256 computations were made (for tests). */
  get hashed(): number {
    return this.#hashed;
  }

  /** Returns the store key of `token`. */
  keyOf(token: string): string {
    if (!this.#hash) return token;
    const known = this.#keys.get(token);
    if (known !== undefined) return known;
    const key = createHash("sha256").update(token).digest("base64url");
    this.#hashed++;
    if (this.#keys.size >= this.#max) {
      // Map iteration is insertion order, so the first key is the oldest.
      const oldest = this.#keys.keys().next();
      if (!oldest.done) this.#keys.delete(oldest.value);
    }
    this.#keys.set(token, key);
    return key;
  }

  /** Forgets `token`, so a deleted session's token leaves no trace. */
  forget(token: string): void {
    this.#keys.delete(token);
  }
}

/**
 * A short, stable, non-secret name for the session stored under `key`: a
 * digest, so a page can show it without revealing the key or the token.
 */
export function publicId(key: string): string {
  return createHash("sha256").update(`session-id:${key}`).digest("base64url")
    .slice(0, 22);
}
