/**
 * Marks the errors that came from the session store, so the middleware can
 * tell a store failure (answered through `onError`, as the README promises)
 * from the handler's own error (left to the framework), wherever in the
 * request it surfaced: load, save, commit, destroy or renewal.
 *
 * @module
 */

const failures = new WeakSet<object>();

/**
 * Records `error` as a store failure and returns it, for `throw`. A thrown
 * primitive is wrapped in an `Error`, since only objects can be recorded.
 */
export function storeFailure(error: unknown): unknown {
  const marked = typeof error === "object" && error !== null
    ? error
    : new Error(`Session store failed: ${String(error)}`, { cause: error });
  failures.add(marked);
  return marked;
}

/** Whether `error` came from the session store. */
export function isStoreFailure(error: unknown): boolean {
  return typeof error === "object" && error !== null && failures.has(error);
}
