/**
 * The contract between the session middleware and a storage backend.
 *
 * @module
 */

/**
 * Who owns a session, as the session manager's `index` option names it,
 * passed to the `save` and `delete` of stores that keep an owner index.
 */
export interface OwnerOptions {
  /**
   * In `save`: the owner the entry has now, if any. In `delete`: the owner
   * it was last saved with, if any.
   */
  owner?: string;
  /** In `save`: the owner it was last saved with, when that differs. */
  previousOwner?: string;
}

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
   *
   * A store with {@linkcode SessionStore.findByOwner} also indexes the
   * entry under `options.owner`, until at least `expiry`, and drops it
   * from `options.previousOwner`'s index; other stores ignore `options`.
   */
  save(
    token: string,
    data: Uint8Array,
    expiry: Date,
    options?: OwnerOptions,
  ): Promise<void>;
  /**
   * Saves like `save`, but only over a live entry: when `token` has none
   * (deleted by another process, or expired), it writes nothing and
   * resolves `false`. The session manager uses it for every later save of
   * a session, so a request still running when another server logs the
   * session out cannot write it back. A store without it gets `save`, and
   * with that this race.
   */
  replace?(
    token: string,
    data: Uint8Array,
    expiry: Date,
    options?: OwnerOptions,
  ): Promise<boolean>;
  /**
   * Deletes the entry for `token`; resolves without error when missing. A
   * store with an owner index also drops it from `options.owner`'s index.
   */
  delete(token: string, options?: OwnerOptions): Promise<void>;
  /**
   * Returns the live entries indexed under `owner`, at a cost that grows
   * with that owner's entries, not with the store. It may return entries
   * whose data no longer names that owner (the session manager checks each
   * one); it must return every live entry last saved with that owner.
   * Stores without an owner index omit it, and the session manager falls
   * back to {@linkcode SessionStore.all}.
   */
  findByOwner?(owner: string): Promise<Map<string, Uint8Array>>;
  /** Returns every live entry. Stores that cannot list may omit it. */
  all?(): Promise<Map<string, Uint8Array>>;
  /**
   * Whether other processes may change the entries (Redis, Deno KV). The
   * session manager then keeps a session in memory only while requests use
   * it, and reads the store again for the next request, instead of
   * trusting a copy that another server may have changed.
   */
  readonly shared?: boolean;
  /**
   * Whether `save` and `replace` are done with the `data` array once they
   * resolve: they keep a copy (or have sent the bytes), never the array
   * itself. The session manager then encodes sessions into buffers it
   * reuses, instead of allocating one per save. Leave it unset for a store
   * that keeps the array it is given, as the `Map` store above does.
   */
  readonly copiesOnSave?: boolean;
}
