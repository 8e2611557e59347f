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
  /**
   * Called as a compaction enters each phase, and awaited, so a test can
   * write, delete, expire or fail at exactly that point.
   */
  compactionPhase?: (phase: CompactionPhase) => void | Promise<void>;
}

/**
 * The points of a compaction a test can stop at: before the snapshot, after
 * it, after the temp file's first fsync, with writes paused (the last keys
 * written), after the rename, after the swap.
 */
export type CompactionPhase =
  | "snapshot"
  | "rounds"
  | "synced"
  | "paused"
  | "renamed"
  | "swapped";

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
