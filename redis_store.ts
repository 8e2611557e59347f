/**
 * `RedisStore`: a {@linkcode SessionStore} on a Redis server, so that
 * several app servers behind a load balancer share their sessions.
 *
 * It lives on its own entry point, `@x/buntstore/redis`, so that users of
 * the core never load the Redis client.
 *
 * @example Sharing sessions through Redis
 * ```ts ignore
 * // Needs a Redis server and --allow-net --allow-env --allow-read --allow-sys.
 * import { RedisStore } from "@x/buntstore/redis";
 * import assert from "node:assert/strict";
 *
 * await using store = await RedisStore.connect("redis://127.0.0.1:6379");
 * const expiry = new Date(Date.now() + 60_000);
 * await store.save("token", new TextEncoder().encode("hi"), expiry);
 * assert.equal(new TextDecoder().decode(await store.find("token")), "hi");
 * ```
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createClient, RESP_TYPES } from "@redis/client";
import type { RedisClientOptions } from "@redis/client";
import {
  assertKnownOptions,
  assertToken,
  checkOwner,
  checkOwners,
  checkSave,
} from "./_session_store/validate.ts";
import { StoreClosedError } from "./errors.ts";
import {
  assertNotReserved,
  DELETE,
  FIND_BY_OWNER,
  OWNER_MARK,
  OWNER_MARK_BYTES,
  SAVE,
  type Script,
} from "./_redis_store/owner_index.ts";
import type { OwnerOptions, SessionStore } from "./session_store.ts";
import { CommandDeadlines } from "./_redis_store/deadlines.ts";

/** The default key prefix: a token `t` is kept under the key `session:t`. */
export const DEFAULT_REDIS_PREFIX = "session:";

// Replies as Buffers, so values and keys come back byte for byte.
const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer };
const MAX_RECONNECT_DELAY_MS = 2000;
/** The default time bound of one command, in milliseconds. */
const DEFAULT_COMMAND_TIMEOUT_MS = 3000;
/** The longest delay a timer takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const STORE_OPTIONS: ReadonlySet<string> = new Set([
  "prefix",
  "scanCount",
  "commandTimeout",
]);
const CONNECT_OPTIONS: ReadonlySet<string> = new Set([
  ...STORE_OPTIONS,
  "onConnectionError",
]);
// Keeps a leading U+FEFF, which the default decoder drops from a token.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * The part of a node-redis client that {@linkcode RedisStore} uses. A client
 * from `createClient()` of `redis` or `@redis/client` (v5 or later), or a
 * client pool, fits.
 */
export interface RedisClientLike {
  /**
   * Sends one raw command and resolves with its reply.
   *
   * @param args The command and its arguments.
   * @param options Per-command options; the store sets `typeMapping`.
   */
  sendCommand(
    args: ReadonlyArray<string | Buffer>,
    options?: { typeMapping?: object },
  ): Promise<unknown>;
}

/** Options for {@linkcode RedisStore}. */
export interface RedisStoreOptions {
  /**
   * Prepended to every token to form its Redis key.
   *
   * @default {"session:"}
   */
  prefix?: string;
  /**
   * The `COUNT` hint of each `SCAN` call in {@linkcode RedisStore.all}.
   *
   * @default {100}
   */
  scanCount?: number;
  /**
   * Milliseconds one command may take before it fails with an error, so a
   * stopped or overloaded Redis fails the request instead of holding it for
   * as long as Redis hangs. The command itself cannot be taken back: Redis
   * may still run it when it recovers.
   *
   * @default {3000}
   */
  commandTimeout?: number;
}

/** Options for {@linkcode RedisStore.connect}. */
export interface RedisConnectOptions extends RedisStoreOptions {
  /**
   * Called with the client's connection errors (the socket closed, a
   * reconnection failed). Commands issued while disconnected reject as well,
   * so requests still see the outage; this is for logging.
   *
   * @default {console.error}
   */
  onConnectionError?: (error: Error) => void;
}

/**
 * A {@linkcode SessionStore} on a Redis server: one string key per session,
 * `SET key value PXAT <expiry>` so Redis expires it at the session's absolute
 * deadline, `SCAN` (never `KEYS`) to list.
 *
 * The owner index (for `SessionManager`'s `index` option) is one sorted set
 * per owner, `<prefix>\0owner\0<owner>`, whose members are the session keys
 * scored by their expiry; the set itself expires with its latest member. It
 * changes in the same Lua script as the session, and
 * {@linkcode RedisStore.findByOwner} prunes it when it reads it. Tokens
 * starting with `"\0owner\0"` are refused. Redis 6.2 or later; not Redis
 * Cluster (a save touches keys in different slots).
 *
 * Values are binary-safe. Expiry is Redis's own, by the Redis server's
 * clock; keep the clocks of the app servers and Redis in sync (NTP).
 *
 * @example Using a client the application already has
 * ```ts ignore
 * // Needs a Redis server and --allow-net --allow-env --allow-read --allow-sys.
 * import { createClient } from "npm:@redis/client@^6.3.1";
 * import { RedisStore } from "@x/buntstore/redis";
 * import assert from "node:assert/strict";
 *
 * const client = await createClient({ url: "redis://127.0.0.1:6379" })
 *   .connect();
 * try {
 *   const store = new RedisStore(client, { prefix: "app1:session:" });
 *   const expiry = new Date(Date.now() + 60_000);
 *   await store.save("t", new Uint8Array([0, 255]), expiry);
 *   assert.deepEqual(await store.find("t"), new Uint8Array([0, 255]));
 *   await store.close(); // leaves the client open: the caller owns it
 * } finally {
 *   await client.close();
 * }
 * ```
 */
export class RedisStore implements SessionStore, AsyncDisposable {
  /**
   * Always true: other processes share these entries, so the session
   * manager reads the store on each request rather than trusting a copy.
   */
  readonly shared = true;
  /**
   * Always true: `save` and `replace` copy the data before they send it,
   * so the session manager may reuse the array once they resolve.
   */
  readonly copiesOnSave = true;
  readonly #client: RedisClientLike;
  readonly #closeClient: (() => Promise<void>) | undefined;
  readonly #prefix: string;
  /** The prefix's length in UTF-8 bytes, to cut it off listed keys. */
  readonly #prefixLength: number;
  /** Starts the key of every owner's index: the prefix and the mark. */
  readonly #ownerPrefix: string;
  readonly #scanCount: string;
  readonly #name: string;
  readonly #deadlines: CommandDeadlines;
  #closed = false;

  /**
   * Connects to Redis and returns a store that owns the connection: closing
   * the store closes it. Fails fast when the first connection fails; after
   * that the client reconnects on its own with a backoff of up to 2 s, and
   * commands issued while it is disconnected reject instead of waiting.
   *
   * @param url A `redis://` or `rediss://` URL, or node-redis client options.
   * @param options Key prefix, scan size and connection error callback.
   * @returns The connected store.
   * @throws {Error} When Redis cannot be reached.
   * @throws {RangeError} When an option is out of range.
   *
   * @example Connecting with a prefix per application
   * ```ts ignore
   * // Needs a Redis server and --allow-net --allow-env --allow-read --allow-sys.
   * import { RedisStore } from "@x/buntstore/redis";
   * import { SessionManager } from "@x/buntstore";
   *
   * await using store = await RedisStore.connect("redis://10.0.0.5:6379", {
   *   prefix: "shop:session:", // keys shop:session:<token>
   *   onConnectionError: (error) => console.error("redis down:", error),
   * });
   * const sessions = new SessionManager({ store });
   * Deno.serve(sessions.wrap(async (req) => {
   *   const session = await sessions.of(req);
   *   return new Response(String(session.get("user") ?? "nobody"));
   * }));
   * ```
   */
  static async connect(
    url: string | RedisClientOptions = "redis://127.0.0.1:6379",
    options: RedisConnectOptions = {},
  ): Promise<RedisStore> {
    assertKnownOptions(options, CONNECT_OPTIONS, "connect to Redis");
    const { onConnectionError, ...storeOptions } = options;
    // Checked before any connection is made.
    const { timeout } = storeSettings(storeOptions);
    const clientOptions: RedisClientOptions = typeof url === "string"
      ? { url }
      : { ...url };
    let connected = false;
    clientOptions.disableOfflineQueue ??= true;
    clientOptions.socket = {
      // Fail the first connect instead of retrying forever; then back off.
      reconnectStrategy: (retries: number, cause: Error) =>
        connected
          ? Math.min(50 * 2 ** Math.min(retries, 10), MAX_RECONNECT_DELAY_MS)
          : cause,
      ...clientOptions.socket,
    } as NonNullable<RedisClientOptions["socket"]>;
    const name = describe(clientOptions.url ?? "redis://127.0.0.1:6379");
    const client = createClient(clientOptions);
    const onError = onConnectionError ??
      ((error: Error) => console.error("RedisStore:", error));
    // The first connect's failure is thrown, so reporting it as well would
    // print it twice.
    client.on("error", (error: Error) => connected && onError(error));
    const deadline = timeoutOf(timeout, name);
    try {
      await deadline.watch(client.connect());
    } catch (error) {
      client.destroy();
      throw connectError(name, error);
    } finally {
      deadline.stop();
    }
    connected = true;
    return new RedisStore(client, storeOptions, () => client.close(), name);
  }

  /**
   * Wraps a connected client that the caller owns: {@linkcode close} leaves
   * it open.
   *
   * @param client A connected node-redis client or pool.
   * @param options Key prefix and scan size.
   * @throws {TypeError} When `client` has no `sendCommand` method.
   * @throws {RangeError} When an option is out of range.
   */
  constructor(client: RedisClientLike, options?: RedisStoreOptions);
  /** @internal Used by {@linkcode RedisStore.connect}. */
  constructor(
    client: RedisClientLike,
    options: RedisStoreOptions | undefined,
    closeClient: () => Promise<void>,
    name: string,
  );
  constructor(
    client: RedisClientLike,
    options: RedisStoreOptions = {},
    closeClient?: () => Promise<void>,
    name?: string,
  ) {
    if (typeof client?.sendCommand !== "function") {
      throw new TypeError(
        "Cannot create RedisStore: client must be a node-redis client",
      );
    }
    const { prefix, scanCount, timeout } = storeSettings(options);
    this.#client = client;
    this.#closeClient = closeClient;
    this.#prefix = prefix;
    this.#prefixLength = new TextEncoder().encode(prefix).length;
    this.#ownerPrefix = prefix + OWNER_MARK;
    this.#scanCount = String(scanCount);
    this.#name = name ?? `redis (prefix "${prefix}")`;
    this.#deadlines = timeoutOf(timeout, this.#name);
  }

  /**
   * Returns the data saved under `token`, or `undefined`.
   *
   * @param token The session token.
   * @returns The data, or `undefined` when missing or expired.
   * @throws {RangeError} When the token is empty, too long, or starts with
   * the owner index's reserved `"\0owner\0"`.
   * @throws {StoreClosedError} After `close()`.
   * @throws {Error} When Redis cannot be reached or answers with an error.
   *
   * @example Reading a session
   * ```ts ignore
   * // Needs a Redis server and --allow-net --allow-env --allow-read --allow-sys.
   * import { RedisStore } from "@x/buntstore/redis";
   * import assert from "node:assert/strict";
   *
   * await using store = await RedisStore.connect("redis://127.0.0.1:6379");
   * assert.equal(await store.find("no-such-token"), undefined);
   * await store.save("t", new Uint8Array([0, 255]), new Date(Date.now() + 60_000));
   * assert.deepEqual(await store.find("t"), new Uint8Array([0, 255]));
   * ```
   */
  async find(token: string): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    assertToken(token);
    assertNotReserved(token);
    const reply = await this.#send(["GET", this.#prefix + token]);
    return reply === null ? undefined : toBytes(reply);
  }

  /**
   * Saves `data` under `token` until `expiry` with `SET ... PXAT`; an expiry
   * that has passed deletes the key.
   *
   * With `options.owner`, the same Lua script also adds the key to that
   * owner's sorted set with `ZADD ... GT` (its score only ever rises to the
   * latest expiry) and sets the set's expiry to its highest score; with
   * `options.previousOwner`, it removes the key from that owner's set. One
   * round trip either way (two the first time Redis lacks the script).
   *
   * @param token The session token.
   * @param data The bytes to keep.
   * @param expiry When the entry expires.
   * @param options The owner to index it under, for
   * {@linkcode RedisStore.findByOwner}, and the one it was indexed under.
   * @throws {TypeError} When an argument has the wrong type.
   * @throws {RangeError} When the token is empty, too long, or starts with
   * `"\0owner\0"`, or the date is invalid.
   * @throws {StoreClosedError} After `close()`.
   * @throws {Error} When Redis cannot be reached or answers with an error.
   *
   * @example Saving until an absolute expiry
   * ```ts ignore
   * // Needs a Redis server and --allow-net --allow-env --allow-read --allow-sys.
   * import { RedisStore } from "@x/buntstore/redis";
   * import assert from "node:assert/strict";
   *
   * await using store = await RedisStore.connect("redis://127.0.0.1:6379");
   * const data = new TextEncoder().encode(JSON.stringify({ user: "ada" }));
   * // SET session:t <data> PXAT <expiry>: Redis drops the key at that instant.
   * await store.save("t", data, new Date(Date.now() + 30 * 60_000));
   * assert.deepEqual(await store.find("t"), data);
   * // An expiry already past deletes the key.
   * await store.save("t", data, new Date(0));
   * assert.equal(await store.find("t"), undefined);
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
   * Saves like {@linkcode RedisStore.save}, but only over a live entry: when
   * `token` has none (deleted, or expired), it writes nothing.
   *
   * @param token The session token.
   * @param data The bytes to keep.
   * @param expiry When the entry expires.
   * @param options The owner to index it under, as for `save`.
   * @returns Whether it wrote; `false` when there was no live entry.
   * @throws What the Redis client throws.
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
   * same Lua script removes it from that owner's sorted set (`DEL` and
   * `ZREM`, one round trip).
   *
   * @param token The session token.
   * @param options The owner it was last saved with.
   * @throws {TypeError} When an argument has the wrong type.
   * @throws {RangeError} When the token is empty, too long, or starts with
   * `"\0owner\0"`.
   * @throws {StoreClosedError} After `close()`.
   * @throws {Error} When Redis cannot be reached or answers with an error.
   *
   * @example Deleting a session
   * ```ts ignore
   * // Needs a Redis server and --allow-net --allow-env --allow-read --allow-sys.
   * import { RedisStore } from "@x/buntstore/redis";
   * import assert from "node:assert/strict";
   *
   * await using store = await RedisStore.connect("redis://127.0.0.1:6379");
   * await store.save("t", new Uint8Array([1]), new Date(Date.now() + 60_000));
   * await store.delete("t");
   * assert.equal(await store.find("t"), undefined);
   * await store.delete("t"); // missing: no error
   * ```
   */
  async delete(token: string, options?: OwnerOptions): Promise<void> {
    this.#assertOpen();
    assertToken(token);
    assertNotReserved(token);
    const { owner } = checkOwners(options, "delete session");
    await this.#remove(this.#prefix + token, [owner]);
  }

  /**
   * Returns the live entries indexed under `owner`, in one round trip
   * whatever the store's size: a Lua script drops the owner's expired
   * members (`ZREMRANGEBYSCORE`), reads the rest (`ZRANGE`) and their data
   * (`MGET`), and drops the members whose session is gone. It may return an
   * entry that was saved with another owner since without `previousOwner`;
   * `SessionManager` checks each entry's data.
   *
   * @param owner The owner passed to `save`.
   * @returns A map from token to data.
   * @throws {TypeError} When `owner` is not a string.
   * @throws {StoreClosedError} After `close()`.
   * @throws {Error} When Redis cannot be reached or answers with an error.
   *
   * @example Finding, moving and deleting one user's sessions
   * ```ts ignore
   * // Needs a Redis server and --allow-net --allow-env --allow-read --allow-sys.
   * import { RedisStore } from "@x/buntstore/redis";
   * import assert from "node:assert/strict";
   *
   * await using store = await RedisStore.connect("redis://127.0.0.1:6379", {
   *   prefix: "example:owners:",
   * });
   * const expiry = new Date(Date.now() + 60_000);
   * const data = new Uint8Array([1]);
   * // Members of the sorted set "example:owners:\0owner\0ada".
   * await store.save("a", data, expiry, { owner: "ada" });
   * await store.save("b", data, expiry, { owner: "ada" });
   * await store.save("c", data, expiry, { owner: "bob" });
   * assert.deepEqual([...(await store.findByOwner("ada")).keys()].sort(), [
   *   "a",
   *   "b",
   * ]);
   * // "b" changes hands, "a" logs out.
   * await store.save("b", data, expiry, { owner: "bob", previousOwner: "ada" });
   * await store.delete("a", { owner: "ada" });
   * assert.equal((await store.findByOwner("ada")).size, 0);
   * assert.deepEqual([...(await store.findByOwner("bob")).keys()].sort(), [
   *   "b",
   *   "c",
   * ]);
   * ```
   */
  async findByOwner(owner: string): Promise<Map<string, Uint8Array>> {
    this.#assertOpen();
    checkOwner(owner, "owner", "find sessions");
    const reply = await this.#run(
      FIND_BY_OWNER,
      [this.#ownerPrefix + owner],
      [],
    ) as Buffer[];
    const found = new Map<string, Uint8Array>();
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const key = reply[i]!;
      found.set(
        decoder.decode(key.subarray(this.#prefixLength)),
        toBytes(reply[i + 1]),
      );
    }
    return found;
  }

  /**
   * Returns every live entry under the prefix, found with `SCAN` and read
   * with `MGET` one page at a time, so Redis never blocks on a large
   * keyspace. Keys that expire during the scan are left out.
   *
   * @returns A map from token to data.
   * @throws {StoreClosedError} After `close()`.
   * @throws {Error} When Redis cannot be reached or answers with an error.
   *
   * @example Listing one application's sessions
   * ```ts ignore
   * // Needs a Redis server and --allow-net --allow-env --allow-read --allow-sys.
   * import { RedisStore } from "@x/buntstore/redis";
   * import assert from "node:assert/strict";
   *
   * await using store = await RedisStore.connect("redis://127.0.0.1:6379", {
   *   prefix: "example:all:",
   * });
   * const expiry = new Date(Date.now() + 60_000);
   * await store.save("a", new Uint8Array([1]), expiry);
   * await store.save("b", new Uint8Array([2]), expiry);
   * // Only keys under the prefix, scanned page by page (never KEYS).
   * const live = await store.all();
   * assert.deepEqual([...live.keys()].sort(), ["a", "b"]);
   * ```
   */
  async all(): Promise<Map<string, Uint8Array>> {
    this.#assertOpen();
    const entries = new Map<string, Uint8Array>();
    const match = escapeGlob(this.#prefix) + "*";
    let cursor = "0";
    do {
      const reply = await this.#send([
        "SCAN",
        cursor,
        "MATCH",
        match,
        "COUNT",
        this.#scanCount,
      ]) as [Buffer, Buffer[]];
      cursor = reply[0].toString();
      const keys = reply[1].filter((key) => !this.#isIndexKey(key));
      if (keys.length === 0) continue;
      const values = await this.#send(["MGET", ...keys]) as (Buffer | null)[];
      keys.forEach((key, i) => {
        const value = values[i];
        if (value === null || value === undefined) return;
        entries.set(
          decoder.decode(key.subarray(this.#prefixLength)),
          toBytes(value),
        );
      });
    } while (cursor !== "0");
    return entries;
  }

  /**
   * Closes the connection when the store opened it ({@linkcode connect}),
   * after the commands in flight finish; a client passed to the constructor
   * stays open. Later calls do nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#closeClient?.();
    } finally {
      this.#deadlines.stop();
    }
  }

  /** Same as {@linkcode RedisStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #send(args: (string | Buffer)[]): Promise<unknown> {
    return this.#deadlines.watch(
      this.#client.sendCommand(args, { typeMapping: BUFFERS }),
    );
  }

  /** Runs `script` by its SHA-1, sending its source only when Redis lacks it. */
  async #run(
    script: Script,
    keys: string[],
    args: (string | Buffer)[],
  ): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.#send(["EVALSHA", script.sha, ...tail]);
    } catch (error) {
      // A restart, failover or SCRIPT FLUSH empties Redis's script cache.
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) {
        throw error;
      }
      return await this.#send(["EVAL", script.source, ...tail]);
    }
  }

  /** Deletes a session key and drops it from the given owners' indexes. */
  async #remove(key: string, owners: (string | undefined)[]): Promise<void> {
    const indexes = owners.filter((owner) => owner !== undefined)
      .map((owner) => this.#ownerPrefix + owner);
    if (indexes.length === 0) await this.#send(["DEL", key]);
    else await this.#run(DELETE, [key, ...indexes], []);
  }

  /** Whether a key `SCAN` found under the prefix is an owner's index. */
  #isIndexKey(key: Buffer): boolean {
    const end = this.#prefixLength + OWNER_MARK_BYTES.length;
    return key.length >= end &&
      key.subarray(this.#prefixLength, end).equals(OWNER_MARK_BYTES);
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
    assertNotReserved(token);
    const { owner, previousOwner } = checkOwners(options, "save session");
    const key = this.#prefix + token;
    if (expiresAt <= Date.now()) {
      await this.#remove(key, [owner, previousOwner]);
      return true;
    }
    // Buffer.from copies, so the caller may reuse `data` at once.
    const value = Buffer.from(data);
    const at = String(expiresAt);
    if (owner === undefined && previousOwner === undefined) {
      const set = ["SET", key, value, "PXAT", at];
      // XX: only over a key that exists; the reply is then null if none.
      if (replaceOnly) set.push("XX");
      return (await this.#send(set)) !== null;
    }
    const keys = [key];
    if (owner !== undefined) keys.push(this.#ownerPrefix + owner);
    if (previousOwner !== undefined) {
      keys.push(this.#ownerPrefix + previousOwner);
    }
    const written = await this.#run(SAVE, keys, [
      value,
      at,
      owner === undefined ? "0" : "1",
      replaceOnly ? "1" : "0",
    ]);
    return written !== 0;
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError(this.#name);
  }
}

/** Checks `RedisStore`'s options and applies their defaults. */
function storeSettings(
  options: RedisStoreOptions,
): { prefix: string; scanCount: number; timeout: number } {
  assertKnownOptions(options, STORE_OPTIONS, "create RedisStore");
  const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
  if (typeof prefix !== "string") {
    throw new TypeError(
      'Cannot create RedisStore: option "prefix" must be a string',
    );
  }
  const timeout = options.commandTimeout ?? DEFAULT_COMMAND_TIMEOUT_MS;
  if (
    typeof timeout !== "number" || !Number.isSafeInteger(timeout) ||
    timeout < 1 || timeout > MAX_TIMER_MS
  ) {
    throw new RangeError(
      `Cannot create RedisStore: option "commandTimeout" must be an integer number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${
        String(timeout)
      }`,
    );
  }
  const scanCount = options.scanCount ?? 100;
  if (
    typeof scanCount !== "number" || !Number.isSafeInteger(scanCount) ||
    scanCount < 1
  ) {
    throw new RangeError(
      `Cannot create RedisStore: option "scanCount" must be a positive integer, got ${
        String(scanCount)
      }`,
    );
  }
  return { prefix, scanCount, timeout };
}

/** The time bound of a store's commands, with its error message. */
function timeoutOf(ms: number, name: string): CommandDeadlines {
  return new CommandDeadlines(
    ms,
    () =>
      new Error(
        `Redis did not answer within ${ms} ms (commandTimeout) at ${name}: it may be stopped, overloaded or unreachable`,
      ),
  );
}

/** The first connect's failure, with what to check. */
function connectError(name: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const hint = /NOAUTH|WRONGPASS|AUTH/.test(message)
    ? "check the password (and user) in the URL"
    : /ENOTFOUND|EAI_AGAIN/.test(message)
    ? "check the host name in the URL"
    : "check that redis-server runs and listens on that host and port";
  return new Error(`Cannot connect to Redis at ${name}: ${message}; ${hint}`, {
    cause: error,
  });
}

function toBytes(reply: unknown): Uint8Array {
  if (!(reply instanceof Uint8Array)) {
    throw new TypeError(
      `Cannot read session from Redis: expected a string reply, got ${typeof reply}`,
    );
  }
  // A plain copy: not a Buffer, and not a view that pins the socket's chunk.
  return new Uint8Array(reply);
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}

/** The URL without credentials, for error messages. */
function describe(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    return parsed.href;
  } catch (error) {
    // Not a URL (node-redis will have rejected it already): name it plainly.
    if (error instanceof TypeError) return "redis";
    throw error;
  }
}
