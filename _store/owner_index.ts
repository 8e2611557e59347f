/**
 * An in-memory owner index: which session keys belong to which owner, and
 * until when, for `findByOwner` at the cost of one owner's sessions.
 *
 * @module
 */

/** Owner and expiry of one indexed session key. */
interface Indexed {
  owner: string;
  expiresAt: number;
}

/** Session keys by owner, with a reverse map so a delete needs no owner. */
export class OwnerIndex {
  readonly #byOwner = new Map<string, Set<string>>();
  readonly #byKey = new Map<string, Indexed>();

  /** Number of indexed keys. */
  get size(): number {
    return this.#byKey.size;
  }

  /** The owner and index expiry of `key`, if indexed. */
  get(key: string): Indexed | undefined {
    return this.#byKey.get(key);
  }

  /**
   * Indexes `key` under `owner` until at least `expiresAt` (an earlier
   * expiry never shortens it), moving it from any other owner.
   */
  set(owner: string, key: string, expiresAt: number): void {
    const known = this.#byKey.get(key);
    if (known !== undefined && known.owner === owner) {
      known.expiresAt = Math.max(known.expiresAt, expiresAt);
      return;
    }
    if (known !== undefined) this.delete(key);
    this.#byKey.set(key, { owner, expiresAt });
    let keys = this.#byOwner.get(owner);
    if (keys === undefined) this.#byOwner.set(owner, keys = new Set());
    keys.add(key);
  }

  /** Drops `key` from the index; returns what it was. */
  delete(key: string): Indexed | undefined {
    const known = this.#byKey.get(key);
    if (known === undefined) return undefined;
    this.#byKey.delete(key);
    const keys = this.#byOwner.get(known.owner);
    keys?.delete(key);
    if (keys?.size === 0) this.#byOwner.delete(known.owner);
    return known;
  }

  /** The keys of `owner` whose index entry is live at `now`; drops the rest. */
  keysOf(owner: string, now: number): string[] {
    const keys = this.#byOwner.get(owner);
    if (keys === undefined) return [];
    const live = [];
    for (const key of [...keys]) {
      if (this.#byKey.get(key)!.expiresAt > now) live.push(key);
      else this.delete(key);
    }
    return live;
  }

  /** Every indexed key with its owner and expiry, for a compaction. */
  entries(): IterableIterator<[string, Indexed]> {
    return this.#byKey.entries();
  }

  /** Drops everything. */
  clear(): void {
    this.#byOwner.clear();
    this.#byKey.clear();
  }
}
