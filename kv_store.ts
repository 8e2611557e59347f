/**
 * `KvStore`: a {@linkcode SessionStore} on Deno KV (`Deno.openKv`): a local
 * SQLite file, `:memory:`, or a remote KV database such as Deno Deploy's.
 *
 * It lives on its own entry point, `@x/buntstore/kv`, and needs
 * `--unstable-kv`.
 *
 * @example Keeping sessions in Deno KV
 * ```ts
 * import { KvStore } from "@x/buntstore/kv";
 * import assert from "node:assert/strict";
 *
 * await using store = await KvStore.open(":memory:");
 * const expiry = new Date(Date.now() + 60_000);
 * await store.save("token", new TextEncoder().encode("hi"), expiry);
 * assert.equal(new TextDecoder().decode(await store.find("token")), "hi");
 * ```
 *
 * @module
 */

import {
  assertToken,
  checkOwner,
  checkOwners,
  checkSave,
} from "./_session_store/validate.ts";
import { StoreClosedError } from "./errors.ts";
import type { OwnerOptions, SessionStore } from "./session_store.ts";
import {
  checkKvOptions,
  DEFAULT_LOCK_TIMEOUT_MS,
  retryLocked,
} from "./_kv_store/lock_retry.ts";

/** The default key prefix: entries live under `["sessions", "entry", token]`. */
export const DEFAULT_KV_PREFIX: Deno.KvKey = ["sessions"];

// Deno KV caps a value at 64 KiB and an atomic write at 800 KiB: larger
// session data is split into chunks written before the entry that names them.
const INLINE_MAX_BYTES = 60_000;
const CHUNK_BYTES = 65_536;
const CHUNKS_PER_WRITE = 10;
const KEYS_PER_READ = 10;
const DELETES_PER_WRITE = 100;
// Chunks outlive their entry a little, so a reader never finds an entry
// whose chunks KV's own expiry has already removed.
const CHUNK_GRACE_MS = 60_000;
const MAX_ATTEMPTS = 100;

/** Options for {@linkcode KvStore}. */
export interface KvStoreOptions {
  /**
   * The key prefix under which the store keeps its keys, so that one KV
   * database can hold other data too.
   *
   * @default {["sessions"]}
   */
  prefix?: Deno.KvKey;
  /**
   * The clock, in Unix milliseconds, used to check expiry on read; tests
   * inject their own. KV's own cleanup (`expireIn`) runs on real time.
   *
   * @default {Date.now}
   */
  now?: () => number;
  /**
   * How long, in milliseconds, one read or commit retries while the
   * database answers "database is locked": a KV database on a local file
   * is SQLite, which lets one writer in at a time, so several processes or
   * `deno serve --parallel` workers on one file meet this under load.
   * Retries back off from 1 ms to 32 ms with jitter; past the bound the
   * call fails saying so. 0 turns retries off.
   *
   * @default {5000}
   */
  lockTimeout?: number;
}

const KNOWN_OPTIONS = ["prefix", "now", "lockTimeout"];

/**
 * A {@linkcode SessionStore} on Deno KV. Each entry is written with
 * `expireIn`, and its expiry is also kept in the value and checked on read,
 * because KV may return a key for a while after it expired. Data larger
 * than 60 KB is split across several keys; readers still see each save whole.
 *
 * The owner index (for `SessionManager`'s `index` option) is one secondary
 * key per indexed entry, `[...prefix, "owner", owner, token]`, written in
 * the same atomic commit as the entry and with the same `expireIn`;
 * {@linkcode KvStore.findByOwner} lists one owner's keys and prunes those
 * whose entry is gone.
 *
 * @example Using a KV database the application already has
 * ```ts
 * import { KvStore } from "@x/buntstore/kv";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * try {
 *   const store = new KvStore(kv, { prefix: ["app1", "sessions"] });
 *   const expiry = new Date(Date.now() + 60_000);
 *   await store.save("t", new Uint8Array([0, 255]), expiry);
 *   assert.deepEqual(await store.find("t"), new Uint8Array([0, 255]));
 *   await store.close(); // leaves kv open: the caller owns it
 * } finally {
 *   kv.close();
 * }
 * ```
 */
export class KvStore implements SessionStore, AsyncDisposable {
  /**
   * Always true: other processes share these entries, so the session
   * manager reads the store on each request rather than trusting a copy.
   */
  readonly shared = true;
  /**
   * Always true: once `save` or `replace` resolves, the data has been sent
   * to Deno KV, so the session manager may reuse the array.
   */
  readonly copiesOnSave = true;
  readonly #kv: Deno.Kv;
  readonly #owned: boolean;
  readonly #entries: Deno.KvKey;
  readonly #chunks: Deno.KvKey;
  readonly #owners: Deno.KvKey;
  readonly #now: () => number;
  readonly #name: string;
  #closed = false;

  /**
   * Opens a KV database and returns a store that owns it: closing the store
   * closes the database.
   *
   * @param path A file path, `:memory:`, or a remote KV URL; omitted, Deno's
   *   default database for the script.
   * @param options Key prefix and clock.
   * @returns The open store.
   * @throws {Error} When `Deno.openKv` is unavailable (run without
   *   `--unstable-kv`) or the database cannot be opened.
   *
   * @example Opening a store in memory, on a file, or on Deploy
   * ```ts
   * import { KvStore } from "@x/buntstore/kv";
   * import assert from "node:assert/strict";
   *
   * // On a file: KvStore.open("data/kv.sqlite3") (--allow-read --allow-write).
   * // On Deno Deploy, or Deno's default database: KvStore.open().
   * await using store = await KvStore.open(":memory:");
   * assert.equal(store.shared, true); // the session manager re-reads it
   * assert.equal(await store.find("no-such-token"), undefined);
   * ```
   */
  static async open(
    path?: string,
    options: KvStoreOptions = {},
  ): Promise<KvStore> {
    if (typeof Deno.openKv !== "function") {
      throw new Error(
        "Cannot open KvStore: Deno.openKv is not available; run with --unstable-kv",
      );
    }
    const kv = await Deno.openKv(path);
    try {
      return new KvStore(kv, options, true, path ?? "kv");
    } catch (error) {
      kv.close();
      throw error;
    }
  }

  /**
   * Wraps a KV database that the caller owns: {@linkcode close} leaves it
   * open.
   *
   * @param kv An open `Deno.Kv`.
   * @param options Key prefix, clock and lock timeout.
   * @throws {TypeError} When an option is unknown or has the wrong type.
   * @throws {RangeError} When `lockTimeout` is negative.
   */
  constructor(kv: Deno.Kv, options?: KvStoreOptions);
  /** @internal Used by {@linkcode KvStore.open}. */
  constructor(
    kv: Deno.Kv,
    options: KvStoreOptions | undefined,
    owned: boolean,
    name: string,
  );
  constructor(
    kv: Deno.Kv,
    options: KvStoreOptions = {},
    owned = false,
    name = "kv",
  ) {
    checkKvOptions(options, KNOWN_OPTIONS);
    const prefix = options.prefix ?? DEFAULT_KV_PREFIX;
    if (!Array.isArray(prefix)) {
      throw new TypeError(
        'Cannot create KvStore: option "prefix" must be an array of key parts',
      );
    }
    this.#kv = retryLocked(
      kv,
      name,
      options.lockTimeout ?? DEFAULT_LOCK_TIMEOUT_MS,
    );
    this.#owned = owned;
    this.#entries = [...prefix, "entry"];
    this.#chunks = [...prefix, "chunk"];
    this.#owners = [...prefix, "owner"];
    this.#now = options.now ?? Date.now;
    this.#name = name;
  }

  /**
   * Returns the data saved under `token`, or `undefined`.
   *
   * @param token The session token.
   * @returns The data, or `undefined` when missing or expired.
   * @throws {StoreClosedError} After `close()`.
   *
   * @example An expired entry is never returned
   * ```ts
   * import { KvStore } from "@x/buntstore/kv";
   * import assert from "node:assert/strict";
   *
   * let time = Date.now();
   * await using store = await KvStore.open(":memory:", { now: () => time });
   * await store.save("t", new Uint8Array([1]), new Date(time + 1000));
   * assert.deepEqual(await store.find("t"), new Uint8Array([1]));
   * time += 2000; // KV may keep the key a while; find() checks the expiry
   * assert.equal(await store.find("t"), undefined);
   * ```
   */
  async find(token: string): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    assertToken(token);
    const key = [...this.#entries, token];
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const entry = await this.#kv.get(key);
      if (entry.value === null) return undefined;
      const data = await this.#read(token, entry);
      if (data !== null) return data;
      // Its chunks are gone: the entry was replaced or deleted meanwhile.
      const now = await this.#kv.get(key);
      if (now.versionstamp === entry.versionstamp) return undefined;
    }
    throw new Error(
      `Cannot read session from "${this.#name}": it changed on every read`,
    );
  }

  /**
   * Saves `data` under `token` until `expiry`; an expiry that has passed
   * deletes the entry.
   *
   * With `options.owner`, the same atomic commit also sets the owner's
   * index key `[...prefix, "owner", owner, token]` with the entry's
   * `expireIn`; with `options.previousOwner`, it deletes that owner's key.
   *
   * @param token The session token.
   * @param data The bytes to keep.
   * @param expiry When the entry expires.
   * @param options The owner to index it under, for
   * {@linkcode KvStore.findByOwner}, and the one it was indexed under.
   * @throws {TypeError} When an argument has the wrong type.
   * @throws {RangeError} When the token is empty or too long, or the date is invalid.
   * @throws {StoreClosedError} After `close()`.
   *
   * @example Data over KV's 64 KiB value limit
   * ```ts
   * import { KvStore } from "@x/buntstore/kv";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open(":memory:");
   * const big = new Uint8Array(200_000).fill(7); // split into chunks
   * await store.save("t", big, new Date(Date.now() + 60_000));
   * assert.deepEqual(await store.find("t"), big);
   * ```
   */
  async save(
    token: string,
    data: Uint8Array,
    expiry: Date,
    options?: OwnerOptions,
  ): Promise<void> {
    await this.#write(token, data, expiry, options, false);
  }

  /**
   * Saves like {@linkcode KvStore.save}, but only over a live entry: when
   * `token` has none (deleted, or expired), it writes nothing.
   *
   * @param token The session token.
   * @param data The bytes to keep.
   * @param expiry When the entry expires.
   * @param options The owner to index it under, as for `save`.
   * @returns Whether it wrote; `false` when there was no live entry.
   * @throws What Deno KV throws.
   */
  replace(
    token: string,
    data: Uint8Array,
    expiry: Date,
    options?: OwnerOptions,
  ): Promise<boolean> {
    return this.#write(token, data, expiry, options, true);
  }

  /**
   * Deletes `token`; no error when it is missing. With `options.owner`, the
   * same atomic commit deletes that owner's index key for it.
   *
   * @param token The session token.
   * @param options The owner it was last saved with.
   * @throws {TypeError} When an argument has the wrong type.
   * @throws {StoreClosedError} After `close()`.
   *
   * @example Deleting a session
   * ```ts
   * import { KvStore } from "@x/buntstore/kv";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open(":memory:");
   * await store.save("t", new Uint8Array([1]), new Date(Date.now() + 60_000));
   * await store.delete("t");
   * assert.equal(await store.find("t"), undefined);
   * await store.delete("t"); // missing: no error
   * ```
   */
  async delete(token: string, options?: OwnerOptions): Promise<void> {
    this.#assertOpen();
    assertToken(token);
    const { owner } = checkOwners(options, "delete session");
    return this.#remove(token, [owner]);
  }

  /**
   * Returns the live entries indexed under `owner`: lists that owner's
   * index keys and reads their entries with `getMany`, 10 keys at a time
   * (KV's limit), so the cost grows with that owner's entries only. Index
   * keys whose entry is gone or expired are deleted. It may return an entry
   * that was saved with another owner since without `previousOwner`;
   * `SessionManager` checks each entry's data.
   *
   * @param owner The owner passed to `save`.
   * @returns A map from token to data.
   * @throws {TypeError} When `owner` is not a string.
   * @throws {StoreClosedError} After `close()`.
   *
   * @example Finding, moving and deleting one user's sessions
   * ```ts
   * import { KvStore } from "@x/buntstore/kv";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open(":memory:");
   * const expiry = new Date(Date.now() + 60_000);
   * const data = new Uint8Array([1]);
   * // Index keys ["sessions", "owner", "ada", "a"] and so on.
   * await store.save("a", data, expiry, { owner: "ada" });
   * await store.save("b", data, expiry, { owner: "ada" });
   * await store.save("c", data, expiry, { owner: "bob" });
   * assert.deepEqual([...(await store.findByOwner("ada")).keys()], ["a", "b"]);
   * // "b" changes hands, "a" logs out.
   * await store.save("b", data, expiry, { owner: "bob", previousOwner: "ada" });
   * await store.delete("a", { owner: "ada" });
   * assert.equal((await store.findByOwner("ada")).size, 0);
   * assert.deepEqual([...(await store.findByOwner("bob")).keys()], ["b", "c"]);
   * ```
   */
  async findByOwner(owner: string): Promise<Map<string, Uint8Array>> {
    this.#assertOpen();
    checkOwner(owner, "owner", "find sessions");
    const found = new Map<string, Uint8Array>();
    let batch: Deno.KvEntry<unknown>[] = [];
    const prefix = [...this.#owners, owner];
    for await (const entry of this.#kv.list({ prefix })) {
      batch.push(entry);
      if (batch.length < KEYS_PER_READ) continue;
      await this.#readOwned(batch, found);
      batch = [];
    }
    if (batch.length > 0) await this.#readOwned(batch, found);
    return found;
  }

  /**
   * Returns every live entry under the prefix.
   *
   * @returns A map from token to data.
   * @throws {StoreClosedError} After `close()`.
   *
   * @example Listing the live sessions
   * ```ts
   * import { KvStore } from "@x/buntstore/kv";
   * import assert from "node:assert/strict";
   *
   * await using store = await KvStore.open(":memory:");
   * const expiry = new Date(Date.now() + 60_000);
   * await store.save("a", new Uint8Array([1]), expiry);
   * await store.save("b", new Uint8Array([2]), expiry);
   * await store.save("c", new Uint8Array([3]), new Date(Date.now() - 1));
   * assert.deepEqual([...(await store.all()).keys()], ["a", "b"]);
   * ```
   */
  async all(): Promise<Map<string, Uint8Array>> {
    this.#assertOpen();
    const live = new Map<string, Uint8Array>();
    for await (const entry of this.#kv.list({ prefix: this.#entries })) {
      const token = entry.key[this.#entries.length];
      if (typeof token !== "string") continue;
      let data = await this.#read(token, entry);
      // Chunks gone means it changed during the listing: read it afresh.
      if (data === null) data = await this.find(token);
      if (data !== undefined) live.set(token, data);
    }
    return live;
  }

  /**
   * Closes the KV database when the store opened it ({@linkcode open}); a
   * database passed to the constructor stays open. Later calls do nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) this.#kv.close();
  }

  /** Same as {@linkcode KvStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * The data of an entry: `undefined` when expired, `null` when its chunks
   * are missing.
   */
  async #read(
    token: string,
    entry: Deno.KvEntryMaybe<unknown>,
  ): Promise<Uint8Array | undefined | null> {
    const value = asEntry(entry.value, this.#name);
    if (value.expiry <= this.#now()) return undefined;
    if (value.data !== undefined) return value.data;
    const { id, count, length } = value.chunks;
    const data = new Uint8Array(length);
    let offset = 0;
    for (let start = 0; start < count; start += KEYS_PER_READ) {
      const keys: Deno.KvKey[] = [];
      for (let i = start; i < Math.min(count, start + KEYS_PER_READ); i++) {
        keys.push([...this.#chunks, token, id, i]);
      }
      for (const chunk of await this.#kv.getMany(keys)) {
        if (!(chunk.value instanceof Uint8Array)) return null;
        if (offset + chunk.value.length > length) return null;
        data.set(chunk.value, offset);
        offset += chunk.value.length;
      }
    }
    return offset === length ? data : null;
  }

  async #writeChunks(
    token: string,
    id: string,
    data: Uint8Array,
    expireIn: number,
  ): Promise<number> {
    const count = Math.ceil(data.length / CHUNK_BYTES);
    for (let start = 0; start < count; start += CHUNKS_PER_WRITE) {
      const op = this.#kv.atomic();
      for (let i = start; i < Math.min(count, start + CHUNKS_PER_WRITE); i++) {
        const chunk = data.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES);
        op.set([...this.#chunks, token, id, i], chunk, { expireIn });
      }
      const result = await op.commit();
      if (!result.ok) {
        throw new Error(
          `Cannot save session to "${this.#name}": chunk write was rejected`,
        );
      }
    }
    return count;
  }

  /**
   * Deletes `token`'s entry and its index keys under `owners` in one
   * commit, checked against the entry so that it never drops the index key
   * of a save that won a race.
   */
  async #remove(
    token: string,
    owners: (string | undefined)[],
  ): Promise<void> {
    const key = [...this.#entries, token];
    const indexKeys = owners.filter((owner) => owner !== undefined)
      .map((owner) => this.#ownerKey(owner, token));
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const old = await this.#kv.get(key);
      if (old.value === null && indexKeys.length === 0) return;
      const op = this.#kv.atomic().check(old).delete(key);
      for (const indexKey of indexKeys) op.delete(indexKey);
      const result = await op.commit();
      if (result.ok) return this.#deleteChunks(token, old.value);
    }
    throw new Error(
      `Cannot delete session from "${this.#name}": too many concurrent writes`,
    );
  }

  #ownerKey(owner: string, token: string): Deno.KvKey {
    return [...this.#owners, owner, token];
  }

  /**
   * Reads the entries that up to {@linkcode KEYS_PER_READ} index keys name
   * into `found`, and deletes the index keys whose entry is gone.
   */
  async #readOwned(
    indexEntries: Deno.KvEntry<unknown>[],
    found: Map<string, Uint8Array>,
  ): Promise<void> {
    const tokens = indexEntries.map((entry) =>
      String(entry.key[this.#owners.length + 1])
    );
    const entries = await this.#kv.getMany(
      tokens.map((token) => [...this.#entries, token]),
    );
    const stale = this.#kv.atomic();
    let staleCount = 0;
    for (const [i, token] of tokens.entries()) {
      const entry = entries[i]!;
      let data = entry.value === null
        ? undefined
        : await this.#read(token, entry);
      // Chunks gone means it changed during the read: read it afresh.
      if (data === null) data = await this.find(token);
      if (data !== undefined) {
        found.set(token, data);
        continue;
      }
      // The check keeps an index key that a save rewrote meanwhile.
      stale.check(indexEntries[i]!).delete(indexEntries[i]!.key);
      staleCount++;
    }
    // A failed check leaves every key of this batch: the next read prunes
    // those still stale, and nothing depends on the pruning.
    if (staleCount > 0) await stale.commit();
  }

  /** Removes the chunks of a replaced or deleted entry. */
  async #deleteChunks(token: string, old: unknown): Promise<void> {
    if (old === null) return;
    const value = asEntry(old, this.#name);
    if (value.chunks === undefined) return;
    const { id, count } = value.chunks;
    for (let start = 0; start < count; start += DELETES_PER_WRITE) {
      const op = this.#kv.atomic();
      for (let i = start; i < Math.min(count, start + DELETES_PER_WRITE); i++) {
        op.delete([...this.#chunks, token, id, i]);
      }
      await op.commit();
    }
  }

  #isLive(value: unknown, now: number): boolean {
    return value !== null && asEntry(value, this.#name).expiry > now;
  }

  /** Validates and writes; `false` when `replaceOnly` finds no entry. */
  async #write(
    token: string,
    data: Uint8Array,
    expiry: Date,
    options: OwnerOptions | undefined,
    replaceOnly: boolean,
  ): Promise<boolean> {
    this.#assertOpen();
    const expiresAt = checkSave(token, data, expiry);
    const { owner, previousOwner } = checkOwners(options, "save session");
    const now = this.#now();
    if (expiresAt <= now) {
      await this.#remove(token, [owner, previousOwner]);
      return true;
    }
    const expireIn = Math.ceil(expiresAt - now);
    let value: Entry;
    if (data.length <= INLINE_MAX_BYTES) {
      value = { expiry: expiresAt, data: data.slice() };
    } else {
      const id = crypto.randomUUID();
      const count = await this.#writeChunks(
        token,
        id,
        data.slice(),
        expireIn + CHUNK_GRACE_MS,
      );
      value = { expiry: expiresAt, chunks: { id, count, length: data.length } };
    }
    const key = [...this.#entries, token];
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const old = await this.#kv.get(key);
      if (replaceOnly && !this.#isLive(old.value, now)) {
        // Deleted or expired since the caller read it: write nothing.
        await this.#deleteChunks(token, value);
        return false;
      }
      const op = this.#kv.atomic().check(old).set(key, value, { expireIn });
      if (owner !== undefined) {
        op.set(this.#ownerKey(owner, token), expiresAt, { expireIn });
      }
      if (previousOwner !== undefined) {
        op.delete(this.#ownerKey(previousOwner, token));
      }
      const result = await op.commit();
      if (result.ok) {
        await this.#deleteChunks(token, old.value);
        return true;
      }
    }
    throw new Error(
      `Cannot save session to "${this.#name}": too many concurrent writes`,
    );
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError(this.#name);
  }
}

/** What the store keeps under an entry key. */
type Entry =
  | { expiry: number; data: Uint8Array; chunks?: undefined }
  | {
    expiry: number;
    data?: undefined;
    chunks: { id: string; count: number; length: number };
  };

function asEntry(value: unknown, name: string): Entry {
  if (
    typeof value === "object" && value !== null &&
    typeof (value as Entry).expiry === "number" &&
    ((value as Entry).data instanceof Uint8Array ||
      typeof (value as Entry).chunks === "object")
  ) {
    return value as Entry;
  }
  throw new TypeError(
    `Cannot read session from "${name}": the value under the key is not a session entry`,
  );
}
