/**
 * The default JSON codec for session records, and the value rules that keep
 * the in-memory copy of a session identical to what a reload would give.
 *
 * @module
 */

import type { SessionCodec, SessionRecord } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The default {@linkcode SessionCodec}: UTF-8 JSON of
 * `{"d": deadline, "t": savedAt, "r": rememberMe, "v": values}`.
 *
 * @example Encoding and decoding a record
 * ```ts
 * import { jsonSessionCodec } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * const record = { deadline: 2000, savedAt: 1000, values: { user: "ada" } };
 * const bytes = jsonSessionCodec.encode(record);
 * assert.deepEqual(jsonSessionCodec.decode(bytes), record);
 * ```
 */
export const jsonSessionCodec: SessionCodec = {
  encode(record: SessionRecord): Uint8Array {
    return encoder.encode(recordJson(record));
  },
  decode(data: Uint8Array): SessionRecord {
    const parsed: unknown = JSON.parse(decoder.decode(data));
    if (typeof parsed !== "object" || parsed === null) {
      throw new TypeError("Cannot decode session: not a JSON object");
    }
    // The field types are checked by checkRecord, as for every codec.
    const { d, t, c, r, v } = parsed as Record<string, unknown>;
    return {
      deadline: d as number,
      savedAt: t as number,
      ...(c === undefined ? {} : { createdAt: c as number }),
      ...(typeof r === "boolean" ? { rememberMe: r } : {}),
      values: v as Record<string, unknown>,
    };
  },
};

/** The JSON text that {@linkcode jsonSessionCodec} encodes as UTF-8. */
export function recordJson(record: SessionRecord): string {
  // Members are added one by one (no spreads): this runs on every save.
  const json: Record<string, unknown> = {
    d: record.deadline,
    t: record.savedAt,
  };
  if (record.createdAt !== undefined) json.c = record.createdAt;
  if (record.rememberMe !== undefined) json.r = record.rememberMe;
  json.v = record.values;
  return JSON.stringify(json);
}

/**
 * Returns the record if its fields have the right types, else `undefined`;
 * a custom codec's output is checked the same way.
 */
export function checkRecord(record: unknown): SessionRecord | undefined {
  if (typeof record !== "object" || record === null) return undefined;
  const { deadline, savedAt, createdAt, rememberMe, values } = record as Record<
    string,
    unknown
  >;
  if (
    !Number.isFinite(deadline) || !Number.isFinite(savedAt) ||
    (createdAt !== undefined && !Number.isFinite(createdAt)) ||
    (rememberMe !== undefined && typeof rememberMe !== "boolean") ||
    typeof values !== "object" || values === null || Array.isArray(values)
  ) return undefined;
  return record as SessionRecord;
}

/**
 * Returns a deeply frozen copy of `value` as the codec will give it back:
 * with the JSON codec, `Date` becomes its ISO string and `undefined` object
 * members disappear. Freezing makes an in-place edit of a stored object
 * throw instead of changing the session without marking it modified.
 *
 * @throws {TypeError} For `undefined`, functions, symbols, bigints and
 * binary data at the top level.
 */
export function copyValue(
  key: string,
  value: unknown,
  codec: SessionCodec,
): unknown {
  if (
    value === undefined || typeof value === "function" ||
    typeof value === "symbol" || typeof value === "bigint" ||
    ArrayBuffer.isView(value) || value instanceof ArrayBuffer
  ) {
    throw new TypeError(
      `Cannot put session value "${key}": ${describe(value)} is not JSON data`,
    );
  }
  // Strings, booleans, null and finite numbers need no copy. JSON turns
  // -0 into 0 (and NaN and ±Infinity into null, left to the slow path).
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (value === null) return null;
  if (Number.isFinite(value)) {
    return value === 0 && codec === jsonSessionCodec ? 0 : value;
  }
  const copy = codec === jsonSessionCodec
    ? JSON.parse(JSON.stringify(value))
    : structuredClone(value);
  return deepFreeze(copy);
}

/** Freezes `value` and everything it holds; returns it. */
export function deepFreeze<V>(value: V): V {
  if (
    typeof value === "object" && value !== null && !Object.isFrozen(value) &&
    !ArrayBuffer.isView(value) // a non-empty typed array cannot be frozen
  ) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined (use remove())";
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    return "binary data (store it as a base64 string)";
  }
  return `a ${typeof value}`;
}
