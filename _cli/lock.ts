/**
 * How the mutating commands take the engine's lock, and the one-line
 * messages when they cannot: the file is missing, locked by a running
 * server, or damaged.
 *
 * @module
 */

import { type LockedLog, openLocked } from "../aof.ts";
import { CorruptLogError, StoreLockedError } from "../errors.ts";
import { BuntStore, type BuntStoreOptions } from "../store.ts";
import { CliError } from "./output.ts";

/**
 * Locks the existing log at `path` like `BuntStore.open` does, without
 * replaying or truncating it; close the handle to unlock. Changes that
 * replace the file go to its `realPath`.
 *
 * @param verb The command, for messages.
 * @throws {CliError} When the file is missing or locked.
 */
export async function lockForChange(
  path: string,
  verb: string,
): Promise<LockedLog> {
  await assertExists(path, verb);
  try {
    return await openLocked(path);
  } catch (error) {
    throw explain(error, path, verb);
  }
}

/**
 * Opens the existing store at `path` for a change, with automatic
 * compaction off. A torn last write is cut off, as at every open.
 *
 * @throws {CliError} When the file is missing, locked or damaged.
 */
export async function openStoreForChange(
  path: string,
  verb: string,
  options: BuntStoreOptions = {},
): Promise<BuntStore> {
  await assertExists(path, verb);
  try {
    return await BuntStore.open(path, {
      autoShrinkDisabled: true,
      onError: () => {
        // Background failures also reject the operation that awaits them.
      },
      ...options,
    });
  } catch (error) {
    throw explain(error, path, verb);
  }
}

/** Turns the engine's errors into one-line messages saying what to do. */
export function explain(error: unknown, path: string, verb: string): unknown {
  if (error instanceof StoreLockedError) {
    return new CliError(
      `Cannot ${verb} "${path}": file is locked by another process (a running server?): stop it and retry; stats, get, verify and dump work on a live file`,
      1,
      { cause: error },
    );
  }
  if (error instanceof CorruptLogError) {
    return new CliError(
      error.message,
      1,
      { cause: error },
    );
  }
  return error;
}

async function assertExists(path: string, verb: string): Promise<void> {
  try {
    const stat = await Deno.stat(path);
    if (!stat.isFile) {
      throw new CliError(`Cannot ${verb} "${path}": not a regular file`);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CliError(`Cannot ${verb} "${path}": no such file`);
    }
    throw error;
  }
}
