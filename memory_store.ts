/**
 * `MemoryStore`: a session store that lives only in memory, for tests and
 * development. It expires entries the same way `BuntStore` does.
 *
 * @module
 */

import { Keyspace } from "./_store/keyspace.ts";
import { Sweeper } from "./_store/sweeper.ts";
import { NO_RECORDS, OwnerIndex } from "./_store/owner_index.ts";
import {
  assertToken,
  checkOwner,
  checkOwners,
  checkSave,
} from "./_session_store/validate.ts";
import { validateMemoryStoreOptions } from "./_store/options.ts";
import type { OwnerOptions, SessionStore } from "./session_store.ts";
import { StoreClosedError } from "./errors.ts";
import { type CensusEntry, joinAsMemory } from "./_store/worker_census.ts";
import { refuseSharedMemory } from "./_store/one_worker.ts";

/** Options for {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Milliseconds between background sweeps of expired entries, from 1 to
   * 2147483647 (2^31 - 1, the longest a timer can wait).
   *
   * @default {1000}
   */
  sweepInterval?: number;
  /** Called with the tokens that the background sweep removed. */
  onExpired?: (tokens: string[]) => void;
  /**
   * The clock, in Unix milliseconds; tests inject their own.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/**
 * An in-memory {@linkcode SessionStore} with a background expiry sweep.
 * Everything is lost when the process ends. It belongs to one worker:
 * under `deno serve --parallel`, where each worker would keep its own
 * sessions, a second worker's `MemoryStore` makes the process print why
 * and exit with code 1 (see docs/parallel.md).
 *
 * @example Saving and finding a session
 * ```ts
 * import { MemoryStore } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * await using store = new MemoryStore();
 * const expiry = new Date(Date.now() + 60_000);
 * await store.save("token", new TextEncoder().encode("hi"), expiry);
 * assert.equal(new TextDecoder().decode(await store.find("token")), "hi");
 * assert.equal(store.size, 1);
 * ```
 */
export class MemoryStore implements SessionStore, AsyncDisposable {
  /**
   * Always true: `save` and `replace` keep a copy of the data, so the
   * session manager may reuse the array once they resolve.
   */
  readonly copiesOnSave = true;
  readonly #keyspace = new Keyspace();
  readonly #owners = new OwnerIndex();
  readonly #now: () => number;
  readonly #sweeper: Sweeper;
  #closed = false;
  /** Its place in the census of `deno serve --parallel` workers. */
  readonly #census: CensusEntry;

  /**
   * Creates an empty store and starts its sweep timer (unref'd).
   *
   * @param options Sweep interval, expiry callback and clock.
   * @throws {TypeError} When an option is unknown or has the wrong type.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(options: MemoryStoreOptions = {}) {
    validateMemoryStoreOptions(options);
    this.#now = options.now ?? Date.now;
    this.#sweeper = new Sweeper(options.sweepInterval ?? 1000, {
      keyspace: this.#keyspace,
      now: this.#now,
      forget: (key) => this.#owners.delete(key),
      onExpired: options.onExpired,
    });
    this.#census = joinAsMemory(() => refuseSharedMemory("MemoryStore"));
  }

  /** Number of live (unexpired) entries. */
  get size(): number {
    return this.#keyspace.liveSize(this.#now());
  }

  /**
   * Returns a copy of the data saved under `token`, or `undefined`.
   *
   * @param token The session token.
   * @returns The data, or `undefined` when missing or expired.
   * @throws {StoreClosedError} After `close()`.
   */
  async find(token: string): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    assertToken(token);
    return this.#keyspace.copy(token, this.#now());
  }

  /**
   * Saves a copy of `data` under `token` until `expiry`; a past expiry
   * deletes.
   *
   * @param token The session token.
   * @param data The bytes to keep.
   * @param expiry When the entry expires.
   * @param options The owner to index it under, for `findByOwner`.
   * @throws {TypeError} When an argument has the wrong type.
   * @throws {RangeError} When the token is empty or too long, or the date is invalid.
   */
  async save(
    token: string,
    data: Uint8Array,
    expiry: Date,
    options?: OwnerOptions,
  ): Promise<void> {
    this.#write(token, data, expiry, options, false);
  }

  /**
   * Saves like {@linkcode MemoryStore.save}, but only over a live entry: when
   * `token` has none (deleted, or expired), it writes nothing.
   *
   * @example Replacing only what is there
   * ```ts
   * import { MemoryStore } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * await using store = new MemoryStore();
   * const expiry = new Date(Date.now() + 60_000);
   * assert.equal(await store.replace("t", new Uint8Array([1]), expiry), false);
   * await store.save("t", new Uint8Array([1]), expiry);
   * assert.equal(await store.replace("t", new Uint8Array([2]), expiry), true);
   * ```
   *
   * @param token The session token.
   * @param data The bytes to keep.
   * @param expiry When the entry expires.
   * @param options The owner to index it under, as for `save`.
   * @returns Whether it wrote; `false` when there was no live entry.
   * @throws {TypeError} When an argument has the wrong type.
   */
  async replace(
    token: string,
    data: Uint8Array,
    expiry: Date,
    options?: OwnerOptions,
  ): Promise<boolean> {
    return this.#write(token, data, expiry, options, true);
  }

  /**
   * Deletes `token`; no error when it is missing.
   *
   * @param token The session token.
   */
  async delete(token: string): Promise<void> {
    this.#assertOpen();
    assertToken(token);
    this.#remove(token);
  }

  /**
   * Returns copies of the live entries saved with `owner`, at the cost of
   * that owner's entries.
   *
   * @param owner The owner passed to `save`.
   * @returns A map from token to data.
   *
   * @example Finding one user's sessions
   * ```ts
   * import { MemoryStore } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * await using store = new MemoryStore();
   * const expiry = new Date(Date.now() + 60_000);
   * const data = new Uint8Array([1]);
   * await store.save("a", data, expiry, { owner: "ada" });
   * await store.save("b", data, expiry, { owner: "bob" });
   * assert.deepEqual([...(await store.findByOwner("ada")).keys()], ["a"]);
   * ```
   */
  async findByOwner(owner: string): Promise<Map<string, Uint8Array>> {
    this.#assertOpen();
    checkOwner(owner, "owner", "find sessions");
    return this.#owners.find(owner, this.#keyspace, this.#now());
  }

  /**
   * Returns copies of every live entry.
   *
   * @returns A map from token to data.
   */
  async all(): Promise<Map<string, Uint8Array>> {
    this.#assertOpen();
    return this.#keyspace.liveCopies(this.#now());
  }

  /** Stops the sweep timer and drops all entries. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#sweeper.stop();
      this.#census.leave();
      this.#keyspace.clear();
      this.#owners.clear();
    }
  }

  /** Same as {@linkcode MemoryStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #remove(token: string): void {
    this.#keyspace.release(this.#keyspace.delete(token));
    this.#owners.delete(token);
  }

  /** Validates and writes; `false` when `replaceOnly` finds no entry. */
  #write(
    token: string,
    data: Uint8Array,
    expiry: Date,
    options: OwnerOptions | undefined,
    replaceOnly: boolean,
  ): boolean {
    this.#assertOpen();
    const expiresAt = checkSave(token, data, expiry);
    const owners = checkOwners(options, "save session");
    const now = this.#now();
    if (expiresAt <= now) {
      this.#remove(token);
      return true;
    }
    if (replaceOnly && !this.#keyspace.has(token, now)) return false;
    this.#keyspace.release(this.#keyspace.set(token, data, expiresAt));
    this.#owners.save(token, expiresAt, owners, NO_RECORDS, () => {});
    return true;
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError(":memory:");
  }
}
