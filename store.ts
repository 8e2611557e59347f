/**
 * `BuntStore`: sessions in memory (a hash table and value arena in large
 * typed arrays, see `_store/keyspace.ts`), every change appended to one log
 * file in buntdb's format, with an expiry index, a sync policy and
 * compaction.
 *
 * @module
 */

import {
  type LogFile,
  type LogRecord,
  openAndRecover,
  setRecordBytes,
} from "./aof.ts";
import { StoreClosedError } from "./errors.ts";
import {
  type CensusEntry,
  joinAsFileOwner,
  joinAsMemory,
} from "./_store/worker_census.ts";
import { explainLock, refuseSharedMemory } from "./_store/one_worker.ts";
import { type Entry, Keyspace, type Previous } from "./_store/keyspace.ts";
import { everySecond, hooksOf, type StoreHooks } from "./_store/hooks.ts";
import { compact, type CompactionTarget } from "./_store/compactor.ts";
import { replayRecord } from "./_store/replay.ts";
import { Sweeper } from "./_store/sweeper.ts";
import { type SyncPolicy, WriteQueue } from "./_store/write_queue.ts";
import {
  assertData,
  assertToken,
  checkOwner,
  checkOwners,
  expiryMillis,
} from "./_session_store/validate.ts";
import { checkedTokenHash } from "./_store/token_hash.ts";
import {
  type BuntStoreOptions,
  type BuntStoreStats,
  validateOptions,
} from "./_store/options.ts";
import type { OwnerOptions, SessionStore } from "./session_store.ts";
import { storePath } from "./_store/path.ts";
import {
  INDEX_KEY_PREFIX,
  NO_RECORDS,
  OwnerIndex,
} from "./_store/owner_index.ts";

export type { SyncPolicy } from "./_store/write_queue.ts";
export type { BuntStoreOptions, BuntStoreStats } from "./_store/options.ts";

/** What a save without a write to wait for returns. */
const DONE: Promise<void> = Promise.resolve();

/** The path that keeps a store in memory only, with no file. */
export const MEMORY_PATH = ":memory:";

/**
 * An embedded session store: everything in memory, every change appended
 * to one log in buntdb's format so it survives restarts.
 *
 * @example Saving, finding and deleting in memory
 * ```ts
 * import { BuntStore } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * await using store = await BuntStore.open(":memory:");
 * const expiry = new Date(Date.now() + 60_000);
 * await store.save("token", new Uint8Array([1, 2, 3]), expiry);
 * assert.deepEqual(await store.find("token"), new Uint8Array([1, 2, 3]));
 * await store.delete("token");
 * assert.equal(await store.find("token"), undefined);
 * ```
 *
 * @example A file-backed store (needs --allow-read --allow-write)
 * ```ts ignore
 * import { BuntStore } from "@x/buntstore";
 *
 * await using store = await BuntStore.open("data/sessions.db", {
 *   sync: "everysecond",
 * });
 * await store.save("token", new Uint8Array([1]), new Date(Date.now() + 3600_000));
 * ```
 */
export class BuntStore implements SessionStore, AsyncDisposable {
  /**
   * Always true: `save` and `replace` keep a copy of the data, so the
   * session manager may reuse the array once they resolve.
   */
  readonly copiesOnSave = true;
  readonly #path: string;
  /** The log's real path, resolved at open; compactions use it. */
  #filePath = "";
  readonly #policy: SyncPolicy;
  readonly #options: BuntStoreOptions;
  readonly #hooks: StoreHooks;
  readonly #now: () => number;
  readonly #keyspace = new Keyspace();
  readonly #owners = new OwnerIndex();
  readonly #sweeper: Sweeper;
  #stopHousekeeping: (() => void) | undefined;
  #queue: WriteQueue | undefined;
  #rawFile: Deno.FsFile | undefined;
  #compaction: Promise<void> | undefined;
  #lastCompactedBytes = 0;
  #compactions = 0;
  #recordsLoaded = 0;
  #recoveredBytes = 0;
  #lastError: Error | undefined;
  #closing: Promise<void> | undefined;
  /** Slots replaced by changes of the batch {@linkcode #retiringBatch}. */
  #retiring: Previous[] = [];
  /** Slots replaced by changes, waiting for an idle queue (not "always"). */
  readonly #retired: Previous[] = [];
  #retiringBatch: Promise<void> | undefined;
  /** Its place in the census of `deno serve --parallel` workers. */
  #census: CensusEntry | undefined;

  private constructor(path: string, options: BuntStoreOptions) {
    this.#path = path;
    this.#options = options;
    this.#hooks = hooksOf(options);
    this.#policy = options.sync ?? "everysecond";
    this.#now = options.now ?? Date.now;
    this.#sweeper = new Sweeper(options.sweepInterval ?? 1000, {
      keyspace: this.#keyspace,
      now: this.#now,
      // The index records expire on disk by themselves.
      forget: (key) => this.#owners.delete(key),
      onExpired: options.onExpired,
    });
  }

  /**
   * Opens (creating if missing) the store at `path`, or an in-memory store
   * for `":memory:"`, replaying the log and cutting off a torn last write.
   *
   * @param path The log file (a path, or a `file:` URL as a string or
   * `URL`), or `":memory:"`.
   * @param options Sync policy, compaction, sweep and hooks.
   * @returns The open store; close it with `close()` or `await using`.
   * @throws {TypeError} When an option has the wrong type, or `path` is a
   * URL of another scheme than `file:`.
   * @throws {RangeError} When an option is out of range.
   * @throws {StoreLockedError} When the file is already open, in this
   * isolate or another process; the message says which. When another
   * worker of this process running the same module holds it (`deno serve
   * --parallel`), the error is printed and the process exits with code 1,
   * because Deno would otherwise keep serving on fewer workers without a
   * word. A `":memory:"` store used by several such workers does the same.
   * @throws {CorruptLogError} When the log is damaged before its end.
   */
  static async open(
    location: string | URL,
    options: BuntStoreOptions = {},
  ): Promise<BuntStore> {
    const path = storePath(location);
    validateOptions(options);
    const store = new BuntStore(path, options);
    if (path === MEMORY_PATH) {
      store.#census = joinAsMemory(() =>
        refuseSharedMemory('BuntStore.open(":memory:")')
      );
      return store;
    }
    try {
      await store.#load();
    } catch (error) {
      store.#sweeper.stop();
      store.#rawFile?.close();
      store.#census?.leave();
      throw await explainLock(error);
    }
    return store;
  }

  /** The store's path, or `:memory:`. */
  get path(): string {
    return this.#path;
  }

  /** Number of live (unexpired) entries. */
  get size(): number {
    return this.#keyspace.liveSize(this.#now());
  }

  /**
   * Returns a copy of the data saved under `token`.
   *
   * @param token The session token.
   * @returns The data, or `undefined` when missing or expired.
   * @throws {StoreClosedError} After `close()`.
   */
  async find(token: string): Promise<Uint8Array | undefined> {
    this.#assertOpen();
    const hash = checkedTokenHash(token);
    return this.#keyspace.copy(token, this.#now(), hash);
  }

  /**
   * Saves a copy of `data` under `token` until `expiry`, replacing what was
   * there; an expiry already past deletes. Resolves when the sync policy
   * counts the write as done.
   *
   * @param token The session token (at most 1 KiB).
   * @param data The bytes to keep.
   * @param expiry When the entry expires; kept in whole seconds on disk.
   * @param options The owner to index it under, for `findByOwner`: kept in
   * the log as one more key with the same expiry.
   * @throws {TypeError} When an argument has the wrong type.
   * @throws {RangeError} When the token is empty or too long, the date is
   * invalid, or the token starts with the owner index's reserved prefix.
   * @throws {Error} When the write or fsync fails; memory is rolled back.
   */
  save(
    token: string,
    data: Uint8Array,
    expiry: Date,
    options?: OwnerOptions,
  ): Promise<void> {
    // Not an async function: it hands back the batch's own promise, which
    // an async wrapper would follow with two more promise jobs per save.
    try {
      const written = this.#write(token, data, expiry, options, false);
      return written === false || written === undefined ? DONE : written;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Saves like {@linkcode BuntStore.save}, but only over a live entry: when
   * `token` has none (deleted, or expired), it writes nothing.
   *
   * @example Not writing back a deleted session
   * ```ts
   * import { BuntStore } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * await using store = await BuntStore.open(":memory:");
   * const expiry = new Date(Date.now() + 60_000);
   * await store.save("t", new Uint8Array([1]), expiry);
   * await store.delete("t"); // a logout elsewhere
   * assert.equal(await store.replace("t", new Uint8Array([2]), expiry), false);
   * assert.equal(await store.find("t"), undefined);
   * ```
   *
   * @param token The session token.
   * @param data The bytes to keep.
   * @param expiry When the entry expires.
   * @param options The owner to index it under, as for `save`.
   * @returns Whether it wrote; `false` when there was no live entry.
   * @throws {Error} When the write or fsync fails; memory is rolled back.
   */
  async replace(
    token: string,
    data: Uint8Array,
    expiry: Date,
    options?: OwnerOptions,
  ): Promise<boolean> {
    const written = this.#write(token, data, expiry, options, true);
    if (written === false) return false;
    await written;
    return true;
  }

  /**
   * Deletes `token`; resolves without error when it is missing.
   *
   * @param token The session token.
   * @throws {Error} When the write or fsync fails; memory is rolled back.
   */
  async delete(token: string): Promise<void> {
    this.#assertOpen();
    assertToken(token);
    this.#assertWritable();
    return this.#remove(token);
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

  /**
   * Returns copies of the live entries saved with `owner`, at the cost of
   * that owner's entries (the index is in memory, rebuilt at open from its
   * own keys in the log without decoding any session).
   *
   * @param owner The owner passed to `save`.
   * @returns A map from token to data.
   *
   * @example Finding one user's sessions
   * ```ts
   * import { BuntStore } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * await using store = await BuntStore.open(":memory:");
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
   * Compacts the log now: rewrites it as one record per live entry while
   * the store keeps serving, then swaps it in atomically. Resolves when
   * done; a call during a running compaction joins it.
   *
   * @example Compacting a log after many overwrites
   * ```ts ignore
   * // Needs --allow-read --allow-write.
   * import { BuntStore } from "@x/buntstore";
   *
   * await using store = await BuntStore.open("data/sessions.db");
   * const expiry = new Date(Date.now() + 60_000);
   * for (let i = 0; i < 1000; i++) {
   *   await store.save("token", new Uint8Array([i % 256]), expiry);
   * }
   * await store.shrink(); // the log now holds one record
   * console.log(store.stats().fileBytes);
   * ```
   */
  async shrink(): Promise<void> {
    this.#assertOpen();
    if (this.#queue === undefined) return;
    this.#compaction ??= this.#runCompaction();
    return this.#compaction;
  }

  /** Writes pending records and fsyncs the log now. */
  async sync(): Promise<void> {
    this.#assertOpen();
    await this.#queue?.sync();
  }

  /**
   * Reports counters and the last background error.
   *
   * @example Watching a store
   * ```ts
   * import { BuntStore } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * await using store = await BuntStore.open(":memory:");
   * await store.save("t", new Uint8Array([1]), new Date(Date.now() + 60_000));
   * const stats = store.stats();
   * assert.equal(stats.keys, 1);
   * assert.equal(stats.lastError, undefined);
   * ```
   *
   * @returns A snapshot of the store's state.
   */
  stats(): BuntStoreStats {
    const now = this.#now();
    const keys = this.#keyspace.liveSize(now);
    return {
      path: this.#path,
      sync: this.#policy,
      keys,
      expiredPending: this.#keyspace.rawSize - keys,
      fileBytes: this.#queue?.size ?? 0,
      lastCompactedBytes: this.#lastCompactedBytes,
      compactions: this.#compactions,
      compacting: this.#compaction !== undefined,
      syncs: this.#queue?.counters.syncs ?? 0,
      writes: this.#queue?.counters.writes ?? 0,
      bytesWritten: this.#queue?.counters.bytesWritten ?? 0,
      recordsLoaded: this.#recordsLoaded,
      recoveredBytes: this.#recoveredBytes,
      lastError: this.#lastError,
    };
  }

  /**
   * Writes pending records, waits for a running compaction, fsyncs, then
   * unlocks and closes the file. Later calls do nothing.
   *
   * @throws {Error} When the final fsync fails.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutDown();
    return this.#closing;
  }

  /** Same as {@linkcode BuntStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #load(): Promise<void> {
    const now = this.#now();
    const keyspace = this.#keyspace;
    let legacy = false;
    // Before the replay, so a worker whose lock fails meanwhile is answered.
    const onLocked = (realPath: string) => {
      this.#census?.leave();
      this.#census = joinAsFileOwner(realPath);
    };
    const onRecord = (record: LogRecord) => {
      if (record.legacy) legacy = true;
      replayRecord(record, keyspace, this.#owners, now);
    };
    const log = await openAndRecover(this.#path, onRecord, now, onLocked);
    this.#rawFile = log.file;
    this.#filePath = log.realPath;
    this.#recordsLoaded = log.records;
    this.#recoveredBytes = log.recoveredBytes;
    this.#queue = new WriteQueue(this.#logFile(log.file), {
      path: this.#path,
      size: log.size,
      policy: this.#policy,
      onError: (error) => this.#reportError(error),
    });
    this.#lastCompactedBytes = keyspace.sumOver(setRecordBytes);
    // Legacy `ex` expiries count from the file's mtime, which the next
    // append moves (bringing expired entries back): rewrite them as `ae`
    // before anything is appended.
    if (legacy) await this.shrink();
    const start = this.#hooks.startHousekeeping ?? everySecond;
    this.#stopHousekeeping = start(() => this.#tick());
  }

  /** The once-a-second housekeeping: fsync when dirty, auto-compaction. */
  #tick(): void {
    const queue = this.#queue;
    if (queue === undefined || this.#closing !== undefined) return;
    this.#releaseSettled();
    if (this.#policy === "everysecond" && queue.dirty && !queue.paused) {
      // The error is already reported through onError and stats.
      queue.sync().catch(() => {});
    }
    if (this.#shouldAutoShrink(queue.size)) {
      this.#compaction = this.#runCompaction();
      // The error is already reported through onError and stats.
      this.#compaction.catch(() => {});
    }
  }

  #shouldAutoShrink(fileBytes: number): boolean {
    const options = this.#options;
    if (options.autoShrinkDisabled || this.#compaction !== undefined) {
      return false;
    }
    const minSize = options.autoShrinkMinSize ?? 32 * 1024 * 1024;
    const percentage = options.autoShrinkPercentage ?? 100;
    return fileBytes > minSize &&
      fileBytes > this.#lastCompactedBytes * (1 + percentage / 100);
  }

  async #runCompaction(): Promise<void> {
    try {
      const target: CompactionTarget = {
        path: this.#filePath,
        queue: this.#queue!,
        entries: () => snapshotEntries(this.#keyspace, this.#owners),
        current: (key, now) =>
          key.startsWith(INDEX_KEY_PREFIX)
            ? this.#owners.entryOf(key, now)
            : this.#keyspace.entry(key, now),
        now: this.#now,
        cancelled: () => this.#closing !== undefined,
        adopt: (file) => {
          const previous = this.#rawFile;
          this.#rawFile = file;
          return { log: this.#logFile(file), previous };
        },
        phase: this.#hooks.compactionPhase,
      };
      const size = await compact(target);
      if (size === undefined) return;
      // buntdb's rule: the next one when the log has grown by the
      // percentage over its size right after this one.
      this.#lastCompactedBytes = size;
      this.#compactions++;
    } catch (error) {
      const wrapped = new Error(
        `Cannot compact store at "${this.#path}": ${(error as Error).message}`,
        { cause: error },
      );
      this.#reportError(wrapped);
      throw wrapped;
    } finally {
      this.#compaction = undefined;
    }
  }

  #remove(token: string): Promise<void> | undefined {
    this.#releaseSettled();
    const queue = this.#queue;
    const indexed = this.#owners.has(token);
    const previous = this.#keyspace.delete(token);
    const live = this.#keyspace.wasLive(previous, this.#now());
    if (queue === undefined) {
      this.#keyspace.release(previous);
      this.#owners.delete(token);
      return;
    }
    // A missing key may be missing only because of a write still in
    // flight; if that write fails, its undo brings the key back, so this
    // delete must be written and share its fate rather than succeed.
    if (!live && queue.idle && !indexed) {
      this.#keyspace.release(previous);
      return;
    }
    queue.records.del(token);
    const undoIndex = this.#owners.remove(token, queue.records);
    return this.#retire(
      previous,
      queue.enqueue(() => {
        this.#keyspace.restore(token, previous);
        undoIndex?.();
      }),
    );
  }

  async #shutDown(): Promise<void> {
    this.#sweeper.stop();
    this.#stopHousekeeping?.();
    // A running compaction sees the close and stops early.
    await this.#compaction?.catch(() => {});
    try {
      await this.#queue?.sync();
    } finally {
      this.#rawFile?.close();
      this.#rawFile = undefined;
      this.#census?.leave();
    }
  }

  /** The handle the write queue uses: `file`, wrapped by a test hook. */
  #logFile(file: Deno.FsFile): LogFile {
    return this.#hooks.wrapFile?.(file) ?? file;
  }

  #reportError(error: Error): void {
    this.#lastError = error;
    (this.#options.onError ?? console.error)(error);
  }

  #assertWritable(): void {
    const broken = this.#queue?.broken;
    if (broken !== undefined) throw broken;
  }

  /** Validates and writes; `false` when `replaceOnly` finds no entry. */
  #write(
    token: string,
    data: Uint8Array,
    expiry: Date,
    options: OwnerOptions | undefined,
    replaceOnly: boolean,
  ): Promise<void> | undefined | false {
    this.#assertOpen();
    const hash = checkedTokenHash(token);
    assertData(data);
    const expiresAt = expiryMillis(expiry);
    const owners = options === undefined
      ? undefined
      : checkOwners(options, "save session");
    if (token.startsWith(INDEX_KEY_PREFIX)) {
      throw new RangeError(
        "Cannot use session token: it starts with the owner index's reserved prefix",
      );
    }
    this.#assertWritable();
    const now = this.#now();
    if (expiresAt <= now) return this.#remove(token);
    this.#releaseSettled();
    if (replaceOnly && !this.#keyspace.has(token, now)) return false;
    const queue = this.#queue;
    const ascii = hash >= 0;
    // Without owner options the index is left as it is (see
    // OwnerIndex.save): only the session's own record is written.
    const undoIndex = owners === undefined
      ? void queue?.records.set(token, data, expiresAt, ascii)
      : this.#owners.save(
        token,
        expiresAt,
        owners,
        queue?.records ?? NO_RECORDS,
        () => queue?.records.set(token, data, expiresAt, ascii),
      );
    const previous = this.#keyspace.set(token, data, expiresAt, hash);
    if (queue === undefined) {
      this.#keyspace.release(previous);
      return;
    }
    return this.#retire(
      previous,
      queue.enqueue(() => {
        this.#keyspace.restore(token, previous);
        undoIndex?.();
      }),
    );
  }

  /**
   * Keeps the slot a change replaced until the batch that wrote the change
   * settles: freed once it is written, left alone when it fails (the
   * batch's undo has put it back or freed it).
   *
   * With `"always"`, one reaction per batch frees its slots when its fsync
   * resolves (a queue under steady load is never idle), and so it does for
   * a large standalone value, whose memory must come back at once.
   * Otherwise a batch settles within its own write, so the slots wait in
   * one list that the next change or tick frees once the queue is idle: a
   * reaction per batch cost sequential deletes and overwrites ~0.6 µs each.
   */
  #retire(previous: Previous, written: Promise<void>): Promise<void> {
    if (previous < 0) return written;
    if (this.#policy !== "always" && !this.#keyspace.isLarge(previous)) {
      this.#retired.push(previous);
      return written;
    }
    if (written !== this.#retiringBatch) {
      const slots: Previous[] = [];
      this.#retiring = slots;
      this.#retiringBatch = written;
      const keyspace = this.#keyspace;
      written.then(() => keyspace.releaseHeld(slots), () => {
        // The batch's undos restored or freed every slot in the list.
      });
    }
    this.#keyspace.hold(previous);
    this.#retiring.push(previous);
    return written;
  }

  /**
   * Frees the slots in the retired list once every change is settled; a
   * slot that a failed write's undo put back is skipped by the keyspace.
   */
  #releaseSettled(): void {
    if (this.#retired.length === 0 || this.#queue?.idle !== true) return;
    this.#keyspace.releaseRetired(this.#retired);
    this.#retired.length = 0;
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw new StoreClosedError(this.#path);
  }
}

/** What a compaction writes: every session, then every index entry. */
function* snapshotEntries(
  keyspace: Keyspace,
  owners: OwnerIndex,
): IterableIterator<Pick<Entry, "key" | "value" | "expiresAt">> {
  yield* keyspace.entries();
  yield* owners.snapshot();
}
