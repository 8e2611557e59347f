/**
 * Hooks for this package's own tests: fault injection on the log's file
 * handle, and housekeeping ticks driven by the test instead of a 1 s
 * timer (like the injected `now` clock). They ride on the options object
 * under a symbol that the package entry does not export, so they are no
 * part of the public API and `BuntStoreOptions` does not list them.
 *
 * @module
 */

import type { LogFile } from "../aof.ts";
import type { BuntStoreOptions } from "./options.ts";

/** The options key the hooks live under; never exported by `mod.ts`. */
export const HOOKS: unique symbol = Symbol("buntstore.hooks");

/** What a test can change in a store's internals. */
export interface StoreHooks {
  /**
   * Wraps every log handle the store opens (at open and after each
   * compaction), to inject failing writes and fsyncs.
   */
  wrapFile?: (file: Deno.FsFile) => LogFile;
  /**
   * Starts the housekeeping timer (the `"everysecond"` fsync and the
   * auto-shrink check): calls `tick` periodically and returns what stops
   * it. A test keeps `tick` and calls it itself.
   *
   * @default {everySecond}
   */
  startHousekeeping?: (tick: () => void) => () => void;
}

/** The housekeeping timer of a real store: an unref'd 1 s interval. */
export function everySecond(tick: () => void): () => void {
  const interval = setInterval(tick, 1000);
  Deno.unrefTimer(interval);
  return () => clearInterval(interval);
}

type HookedOptions = BuntStoreOptions & { [HOOKS]?: StoreHooks };

/** Returns a copy of `options` carrying `hooks`. */
export function withHooks(
  options: BuntStoreOptions,
  hooks: StoreHooks,
): BuntStoreOptions {
  const hooked: HookedOptions = { ...options, [HOOKS]: hooks };
  return hooked;
}

/** The hooks `options` carries, or none. */
export function hooksOf(options: BuntStoreOptions): StoreHooks {
  return (options as HookedOptions)[HOOKS] ?? {};
}
