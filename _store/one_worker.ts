/**
 * What a store that belongs to one worker does when `deno serve --parallel`
 * gives it several: it says so and ends the process. Deno prints a worker's
 * startup error only at shutdown and keeps serving on the workers left, so
 * an error thrown here would leave a server on fewer cores than asked (or,
 * for a memory store, with one memory per worker) and nothing to say so.
 * Failing to start is the one outcome nobody can miss.
 *
 * @module
 */

import { StoreLockedError } from "../errors.ts";
import { findLockHolder } from "./worker_census.ts";

/**
 * Turns a bare {@linkcode StoreLockedError} into one that says who holds
 * the lock. When another worker running this same module holds it (`deno
 * serve --parallel`), prints that error and exits with code 1.
 *
 * @returns `error` itself when it is not a `StoreLockedError`.
 */
export async function explainLock(error: unknown): Promise<unknown> {
  if (!(error instanceof StoreLockedError) || error.holder !== "unknown") {
    return error;
  }
  let realPath: string;
  let ino: number | null;
  try {
    realPath = await Deno.realPath(error.path);
    ino = (await Deno.stat(realPath)).ino;
  } catch (statError) {
    // The lock failure is what the caller needs to hear; the holder is
    // only detail.
    if (statError instanceof Error) return error;
    throw statError;
  }
  const holder = await findLockHolder(realPath, ino);
  const explained = new StoreLockedError(error.path, {
    holder: holder.kind,
    ...(holder.kind === "process" ? { pid: holder.pid } : {}),
    cause: error.cause,
  });
  if (holder.kind === "worker" && holder.sameModule) exitWith(explained);
  return explained;
}

/**
 * Ends the process because `what` (a memory store) is used by several
 * workers of this process, each with a memory of its own.
 */
export function refuseSharedMemory(what: string): void {
  exitWith(
    new Error(
      `Cannot use ${what} under deno serve --parallel: another worker of this process has one too, and each worker would keep its own sessions (a session saved on one is missing on the next request served by another); use a shared store (KvStore on a local file, or RedisStore), or serve with one worker (DENO_JOBS=1, or no --parallel)`,
    ),
  );
}

function exitWith(error: Error): never {
  console.error(error);
  Deno.exit(1);
}
