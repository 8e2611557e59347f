/**
 * Checks `BuntStore.open` options up front, so a typo or a bad value is a
 * clear error at open rather than a surprise later.
 *
 * @module
 */

import { assertNumberOption } from "./_validate.ts";

const KNOWN_OPTIONS = new Set([
  "sync",
  "autoShrinkPercentage",
  "autoShrinkMinSize",
  "autoShrinkDisabled",
  "sweepInterval",
  "onExpired",
  "onError",
  "now",
  "wrapFile",
]);

const POLICIES = ["always", "everysecond", "never"];

/** Throws `TypeError` or `RangeError` for unknown or invalid options. */
export function validateOptions(options: unknown): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot open store: options must be an object");
  }
  const record = options as Record<string, unknown>;
  for (const name of Object.keys(record)) {
    if (!KNOWN_OPTIONS.has(name)) {
      throw new TypeError(`Cannot open store: unknown option "${name}"`);
    }
  }
  if (record.sync !== undefined && !POLICIES.includes(record.sync as string)) {
    throw new RangeError(
      `Cannot open store: option "sync" must be one of ${
        POLICIES.join(", ")
      }, got ${String(record.sync)}`,
    );
  }
  const numbers: [string, number][] = [
    ["autoShrinkPercentage", 0],
    ["autoShrinkMinSize", 0],
    ["sweepInterval", 1],
  ];
  for (const [name, min] of numbers) {
    if (record[name] !== undefined) assertNumberOption(name, record[name], min);
  }
  const disabled = record.autoShrinkDisabled;
  if (disabled !== undefined && typeof disabled !== "boolean") {
    throw new TypeError(
      'Cannot open store: option "autoShrinkDisabled" must be a boolean',
    );
  }
  for (const name of ["onExpired", "onError", "now", "wrapFile"]) {
    if (record[name] !== undefined && typeof record[name] !== "function") {
      throw new TypeError(
        `Cannot open store: option "${name}" must be a function`,
      );
    }
  }
}
