/**
 * Argument checks shared by every store, so bad input gets the same clear
 * error everywhere and changes nothing.
 *
 * @module
 */

import type { OwnerOptions } from "../session_store.ts";

/** Longest accepted token, in UTF-8 bytes. */
export const MAX_TOKEN_BYTES = 1024;

const encoder = new TextEncoder();

/**
 * Throws a `TypeError` unless `options` is an object whose every name is in
 * `known`, so a typo fails loudly, naming the option and the known ones,
 * instead of being ignored.
 *
 * @param kind What the options are, for the message, such as `"option"`.
 */
export function assertKnownOptions<O>(
  options: O,
  known: Iterable<string>,
  action: string,
  kind = "option",
): asserts options is O & object {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot ${action}: ${kind}s must be an object`);
  }
  const names = new Set(known);
  for (const name of Object.keys(options)) {
    if (!names.has(name)) {
      throw new TypeError(
        `Cannot ${action}: unknown ${kind} "${name}" (known: ${
          [...names].join(", ")
        })`,
      );
    }
  }
}

/** Throws unless `token` is a non-empty string of at most 1 KiB. */
export function assertToken(token: unknown): asserts token is string {
  if (typeof token !== "string") {
    throw new TypeError(
      `Cannot use session token: expected a string, got ${typeof token}`,
    );
  }
  if (token.length === 0) {
    throw new RangeError("Cannot use session token: token is empty");
  }
  // A lone surrogate has no UTF-8 form: it would come back from the log
  // (or Redis) as U+FFFD, a different token.
  if (!token.isWellFormed()) {
    throw new RangeError(
      "Cannot use session token: it contains a lone UTF-16 surrogate",
    );
  }
  // Each UTF-16 unit encodes to at most 3 bytes, so short tokens skip the
  // encode.
  if (
    token.length * 3 > MAX_TOKEN_BYTES &&
    encoder.encode(token).length > MAX_TOKEN_BYTES
  ) {
    throw new RangeError(
      `Cannot use session token: longer than ${MAX_TOKEN_BYTES} bytes`,
    );
  }
}

/** Throws unless `data` is a `Uint8Array`. */
export function assertData(data: unknown): asserts data is Uint8Array {
  if (!(data instanceof Uint8Array)) {
    throw new TypeError(
      "Cannot save session data: expected a Uint8Array",
    );
  }
}

/** Throws unless `expiry` is a valid `Date`; returns it in milliseconds. */
export function expiryMillis(expiry: unknown): number {
  if (!(expiry instanceof Date)) {
    throw new TypeError("Cannot save session: expiry must be a Date");
  }
  const millis = expiry.getTime();
  if (Number.isNaN(millis)) {
    throw new RangeError("Cannot save session: expiry is an invalid Date");
  }
  return millis;
}

/**
 * Checks the arguments of a store's `save` and returns the expiry in
 * milliseconds.
 *
 * @throws {TypeError} When an argument has the wrong type.
 * @throws {RangeError} When the token is empty or too long, or the date is invalid.
 */
export function checkSave(
  token: unknown,
  data: unknown,
  expiry: unknown,
): number {
  assertToken(token);
  assertData(data);
  return expiryMillis(expiry);
}

/**
 * Throws unless option `name` is a finite number of at least `min`.
 *
 * @param action What fails, for the message: "open store".
 */
export function assertNumberOption(
  name: string,
  value: unknown,
  min: number,
  action = "open store",
): void {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot ${action}: option "${name}" must be a number, got ${typeof value}`,
    );
  }
  if (!Number.isFinite(value) || value < min) {
    throw new RangeError(
      `Cannot ${action}: option "${name}" must be a finite number >= ${min}, got ${value}`,
    );
  }
}

/** The owners named by `save`'s or `delete`'s options, checked. */
export function checkOwners(
  options: OwnerOptions | undefined,
  action: string,
): { owner?: string | undefined; previousOwner?: string | undefined } {
  if (options === undefined) return {};
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot ${action}: options must be an object, got ${
        options === null ? "null" : typeof options
      }`,
    );
  }
  const { owner, previousOwner } = options;
  if (owner !== undefined) checkOwner(owner, "owner", action);
  if (previousOwner !== undefined) {
    checkOwner(previousOwner, "previousOwner", action);
  }
  // Moving an entry to the owner it already has leaves it where it is.
  return previousOwner === owner ? { owner } : { owner, previousOwner };
}

/** Throws unless `owner` is a string. */
export function checkOwner(owner: unknown, name: string, action: string): void {
  if (typeof owner !== "string") {
    throw new TypeError(
      `Cannot ${action}: ${name} must be a string, got ${typeof owner}`,
    );
  }
}
