/**
 * The token check of the store's hot paths, fused with the key hash: one
 * pass over the token both proves it ASCII and hashes it.
 *
 * @module
 */

import { assertToken, MAX_TOKEN_BYTES } from "../_session_store/validate.ts";
import { hashAscii } from "./key_bytes.ts";

/**
 * Checks `token` as {@linkcode assertToken} does and returns its
 * {@linkcode hashAscii}, or -1 when it is not ASCII (then checked in full).
 *
 * An ASCII string has no lone surrogate and takes one byte per unit, so a
 * token that hashes as ASCII needs neither `isWellFormed()` nor a byte
 * count: every session token takes this path.
 */
export function checkedTokenHash(token: unknown): number {
  if (
    typeof token === "string" && token.length > 0 &&
    token.length <= MAX_TOKEN_BYTES
  ) {
    const hash = hashAscii(token);
    if (hash >= 0) return hash;
  }
  assertToken(token);
  return -1;
}
