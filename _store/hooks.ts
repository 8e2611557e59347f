/**
 * Hooks for this package's own tests: fault injection on the log's file
 * handle. They ride on the options object
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
