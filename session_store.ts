/**
 * The contract between the session middleware and a storage backend.
 *
 * @module
 */

/**
 * A place to keep session data by token, with an absolute expiry.
 *
 * `BuntStore`, `MemoryStore`, `RedisStore` and `KvStore` implement it; any
 * object with these methods works with `SessionManager`.
 *
 * @example Implementing a store on top of a Map
 * ```ts
 * import type { SessionStore } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * const entries = new Map<string, { data: Uint8Array; expiry: number }>();
 * const store: SessionStore = {
 *   find(token) {
 *     const entry = entries.get(token);
 *     const live = entry !== undefined && entry.expiry > Date.now();
 *     return Promise.resolve(live ? entry.data : undefined);
 *   },
 *   save(token, data, expiry) {
 *     entries.set(token, { data, expiry: expiry.getTime() });
 *     return Promise.resolve();
 *   },
 *   delete(token) {
 *     entries.delete(token);
 *     return Promise.resolve();
 *   },
 * };
 * await store.save("t", new Uint8Array([1]), new Date(Date.now() + 1000));
 * assert.deepEqual(await store.find("t"), new Uint8Array([1]));
 * ```
 */
export interface SessionStore {
  /**
   * Returns the data saved under `token`, or `undefined` when it is missing
   * or expired.
   */
  find(token: string): Promise<Uint8Array | undefined>;
  /**
   * Saves `data` under `token` until `expiry`, replacing what was there. An
   * expiry that has already passed deletes the entry.
   */
  save(token: string, data: Uint8Array, expiry: Date): Promise<void>;
  /** Deletes the entry for `token`; resolves without error when missing. */
  delete(token: string): Promise<void>;
  /** Returns every live entry. Stores that cannot list may omit it. */
  all?(): Promise<Map<string, Uint8Array>>;
  /**
   * Whether other processes may change the entries (Redis, Deno KV). The
   * session manager then keeps a session in memory only while requests use
   * it, and reads the store again for the next request, instead of
   * trusting a copy that another server may have changed.
   */
  readonly shared?: boolean;
}
