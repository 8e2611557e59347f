/**
 * The owner index: which session keys belong to which owner, and until
 * when, for `findByOwner` at the cost of one owner's sessions. `BuntStore`
 * also keeps it in its log, as one extra buntdb key per indexed session
 * with the session's expiry (a Go reader just sees more keys).
 *
 * @module
 */

/**
 * Starts every index key in the log. No session key may start with it: a
 * NUL never appears in a token, and `BuntStore` refuses such keys.
 */
export const INDEX_KEY_PREFIX = "\u0000owner\u0000";

import type { Keyspace } from "./keyspace.ts";

const EMPTY = new Uint8Array(0);

/** Where index records go: the write queue's record writer. */
export interface IndexRecords {
  set(key: string, value: Uint8Array, expiresAt: number): void;
  del(key: string): void;
}

/** Where index records go for a store without a file: nowhere. */
export const NO_RECORDS: IndexRecords = { set() {}, del() {} };

/** One index entry as a compaction writes it. */
export interface IndexSnapshotEntry {
  key: string;
  value: Uint8Array;
  expiresAt: number;
}

/** The log key of `key`'s entry under `owner`: length-prefixed, so unambiguous. */
function indexKey(owner: string, key: string): string {
  return `${INDEX_KEY_PREFIX}${owner.length}:${owner}${key}`;
}

/** The owner and session key of a log key, or `undefined` if not an index key. */
function parseIndexKey(
  logKey: string,
): { owner: string; key: string } | undefined {
  if (!logKey.startsWith(INDEX_KEY_PREFIX)) return undefined;
  const colon = logKey.indexOf(":", INDEX_KEY_PREFIX.length);
  const length = Number(logKey.slice(INDEX_KEY_PREFIX.length, colon));
  if (colon < 0 || !Number.isSafeInteger(length)) return undefined;
  const start = colon + 1;
  return {
    owner: logKey.slice(start, start + length),
    key: logKey.slice(start + length),
  };
}

/** Index expiry by owner, for one session key. */
type Owners = Map<string, number>;

/**
 * Session keys by owner, and owners by key (so a delete needs no owner). A
 * key is normally under one owner; after a crash in the middle of a change
 * of owner it may be under two until its next save, which is harmless
 * because readers check the session's data.
 */
export class OwnerIndex {
  readonly #byOwner = new Map<string, Set<string>>();
  readonly #byKey = new Map<string, Owners>();

  /** Number of indexed keys. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Whether `key` is indexed under any owner. */
  has(key: string): boolean {
    return this.#byKey.has(key);
  }

  /** Indexes `key` under `owner` until at least `expiresAt`. */
  set(owner: string, key: string, expiresAt: number): void {
    let owners = this.#byKey.get(key);
    if (owners === undefined) this.#byKey.set(key, owners = new Map());
    owners.set(owner, Math.max(owners.get(owner) ?? 0, expiresAt));
    let keys = this.#byOwner.get(owner);
    if (keys === undefined) this.#byOwner.set(owner, keys = new Set());
    keys.add(key);
  }

  /** Drops `key` from the index; returns its owners. */
  delete(key: string): Owners | undefined {
    const owners = this.#byKey.get(key);
    if (owners === undefined) return undefined;
    for (const owner of owners.keys()) this.#dropFromOwner(owner, key);
    this.#byKey.delete(key);
    return owners;
  }

  /** Drops `key` from `owner`'s entries only. */
  deleteUnder(owner: string, key: string): void {
    const owners = this.#byKey.get(key);
    if (owners === undefined || !owners.delete(owner)) return;
    if (owners.size === 0) this.#byKey.delete(key);
    this.#dropFromOwner(owner, key);
  }

  /**
   * Copies of the live sessions in `keyspace` indexed under `owner`. Drops
   * from memory the entries that expired or whose session is gone (a log
   * keeps its own until they expire: harmless, as readers check the data).
   */
  find(
    owner: string,
    keyspace: Keyspace,
    now: number,
  ): Map<string, Uint8Array> {
    const found = new Map<string, Uint8Array>();
    for (const key of this.keysOf(owner, now)) {
      const value = keyspace.copy(key, now);
      if (value === undefined) this.deleteUnder(owner, key);
      else found.set(key, value);
    }
    return found;
  }

  /** The keys of `owner` whose entry is live at `now`; drops the rest. */
  keysOf(owner: string, now: number): string[] {
    const keys = this.#byOwner.get(owner);
    if (keys === undefined) return [];
    const live = [];
    for (const key of [...keys]) {
      if (this.#byKey.get(key)!.get(owner)! > now) live.push(key);
      else this.deleteUnder(owner, key);
    }
    return live;
  }

  /**
   * Applies `save`'s owner options to the index and writes the index
   * records around the session's own, which `writeSession` writes: the new
   * owner's entry before it and the old owners' deletions after it, so a
   * write cut anywhere never leaves a live session missing from the index
   * of the owner its data names.
   *
   * @returns What undoes the index change, when there was one.
   */
  save(
    key: string,
    expiresAt: number,
    options: { owner?: string | undefined; previousOwner?: string | undefined },
    records: IndexRecords,
    writeSession: () => void,
  ): (() => void) | undefined {
    const owner = options.owner;
    if (owner === undefined) {
      writeSession();
      if (options.previousOwner === undefined) return undefined;
      return this.remove(key, records);
    }
    const known = this.#byKey.get(key);
    const current = known?.get(owner) ?? 0;
    const others = [...(known?.keys() ?? [])].filter((o) => o !== owner);
    if (current >= expiresAt && others.length === 0) {
      writeSession();
      return undefined;
    }
    const before = known === undefined ? undefined : new Map(known);
    if (current < expiresAt) {
      records.set(indexKey(owner, key), EMPTY, expiresAt);
    }
    writeSession();
    for (const other of others) {
      records.del(indexKey(other, key));
      this.deleteUnder(other, key);
    }
    this.set(owner, key, expiresAt);
    return () => this.#restore(key, before);
  }

  /**
   * Drops `key` from the index and writes its deletions to `records`; call
   * it after the session's own deletion is written.
   *
   * @returns What undoes it, when it was indexed.
   */
  remove(key: string, records: IndexRecords): (() => void) | undefined {
    const owners = this.delete(key);
    if (owners === undefined) return undefined;
    for (const owner of owners.keys()) records.del(indexKey(owner, key));
    return () => this.#restore(key, owners);
  }

  /** Replays one record of the log; returns whether it was an index record. */
  replay(logKey: string, deleted: boolean, expiresAt: number): boolean {
    const parsed = parseIndexKey(logKey);
    if (parsed === undefined) return false;
    if (deleted) this.deleteUnder(parsed.owner, parsed.key);
    else this.set(parsed.owner, parsed.key, expiresAt);
    return true;
  }

  /** The index as log records, for a compaction. */
  *snapshot(): IterableIterator<IndexSnapshotEntry> {
    for (const [key, owners] of this.#byKey) {
      for (const [owner, expiresAt] of owners) {
        yield { key: indexKey(owner, key), value: EMPTY, expiresAt };
      }
    }
  }

  /**
   * The entry of one index key as a compaction writes it, or `undefined`
   * when the index no longer holds it live at `now`.
   */
  entryOf(
    logKey: string,
    now: number,
  ): { value: Uint8Array; expiresAt: number } | undefined {
    const parsed = parseIndexKey(logKey);
    if (parsed === undefined) return undefined;
    const expiresAt = this.#byKey.get(parsed.key)?.get(parsed.owner);
    if (expiresAt === undefined || expiresAt <= now) return undefined;
    return { value: EMPTY, expiresAt };
  }

  /** Drops everything. */
  clear(): void {
    this.#byOwner.clear();
    this.#byKey.clear();
  }

  #restore(key: string, owners: Owners | undefined): void {
    this.delete(key);
    for (const [owner, expiresAt] of owners ?? []) {
      this.set(owner, key, expiresAt);
    }
  }

  #dropFromOwner(owner: string, key: string): void {
    const keys = this.#byOwner.get(owner);
    keys?.delete(key);
    if (keys?.size === 0) this.#byOwner.delete(owner);
  }
}
