/**
 * The in-process side of sessions: one shared, decoded state object per
 * live session (so concurrent requests of a session see each other's
 * changes and the store is read once), a bounded cache of them, and the
 * store I/O, serialised per session so an older snapshot never overwrites a
 * newer one.
 *
 * @module
 */

import type { SessionCodec, SessionRecord } from "./types.ts";
import type { SessionCipher } from "./encryption.ts";
import type { OwnerOptions, SessionStore } from "../session_store.ts";
import {
  checkRecord,
  deepFreeze,
  jsonSessionCodec,
  recordJson,
} from "./codec.ts";
import { EncodePool } from "./encode_pool.ts";
import { newToken, TokenHasher } from "./token.ts";
import { type Loading, registryOf, type SessionRegistry } from "./registry.ts";
import { storeFailure } from "./store_failure.ts";

/** The decoded session shared by every request that uses it. */
export interface SessionState {
  /** The token, or "" until first saved (and for listed sessions whose token is unknown because only its hash is stored). */
  token: string;
  /** The store key, or "" until first saved. */
  key: string;
  deadline: number;
  savedAt: number;
  /** When created or renewed; 0 when unknown (saved by an older version). */
  createdAt: number;
  /** The owner (see the `index` option) the store last saved it under. */
  savedOwner: string | undefined;
  rememberMe: boolean | undefined;
  values: Map<string, unknown>;
  /** Bumped on every change; compared with `savedVersion` to skip writes. */
  version: number;
  savedVersion: number;
  destroyed: boolean;
  /**
   * Destroyed because a request renewed the token: requests still holding
   * the old token see an empty session whose changes are never saved, and
   * get no cookie, so they cannot undo the renewal in the browser.
   */
  renewed: boolean;
  /**
   * The store's deletion of this state, once destroyed: every request
   * still using it waits for the outcome before it answers, so none says
   * "logged out" for a delete that failed.
   */
  deletion: Promise<void> | undefined;
  /** Handles using the state now; in-use states are never evicted. */
  users: number;
  /**
   * The token and expiry of the last cookie sent for this state, so a save
   * that changes neither does not send the same cookie again.
   */
  cookieSent: string;
  queue: Promise<unknown>;
}

/** Settings the engine needs, after defaults and checks. */
export interface EngineSettings {
  store: SessionStore;
  codec: SessionCodec;
  now: () => number;
  lifetime: number;
  idleTimeout: number;
  touchInterval: number;
  maxBytes: number;
  hashTokenInStore: boolean;
  cacheSize: number;
  /** The value naming a session's owner, for the store's owner index. */
  index: string | undefined;
  /** Encrypts what the store gets (the `encryption` option). */
  cipher: SessionCipher | undefined;
}

/** Loads, caches, saves and deletes session states. */
export class SessionEngine {
  readonly settings: EngineSettings;
  readonly hasher: TokenHasher;
  /** Shared with every other manager of the same store. */
  readonly registry: SessionRegistry;
  readonly #cache: Map<string, SessionState>;
  /**
   * Buffers to encode into, with the JSON codec, when nothing keeps the
   * encoded bytes: the store copies them, or they are encrypted.
   */
  readonly #pool: EncodePool | undefined;

  constructor(settings: EngineSettings) {
    this.settings = settings;
    this.#pool = settings.codec === jsonSessionCodec &&
        (settings.store.copiesOnSave === true || settings.cipher !== undefined)
      ? new EncodePool()
      : undefined;
    this.hasher = new TokenHasher(
      settings.hashTokenInStore,
      settings.cacheSize,
    );
    this.registry = registryOf(settings.store);
    this.#cache = this.registry.states;
  }

  /** Returns a new, empty, unsaved state. */
  fresh(): SessionState {
    const now = this.settings.now();
    const state = newState("", "", now + this.settings.lifetime, 0);
    state.createdAt = now;
    return state;
  }

  /**
   * The owner `state` names through the `index` option, if any, as the
   * index keeps it for records of encryption key `keyIndex`.
   */
  ownerOf(state: SessionState, keyIndex = 0): string | undefined {
    const { index, cipher } = this.settings;
    if (index === undefined) return undefined;
    const name = ownerKey(state.values.get(index));
    return cipher === undefined || name === undefined
      ? name
      : cipher.owner(name, keyIndex);
  }

  /**
   * Returns, without I/O, a fresh state when there is no token, the shared
   * live state when it is in memory, or `undefined` when the store must be
   * asked.
   */
  peek(token: string | undefined): SessionState | undefined {
    if (token === undefined) return this.fresh();
    const key = this.hasher.keyOf(token);
    const cached = this.#cache.get(key);
    if (cached === undefined) return undefined;
    if (!this.#isLive(cached)) {
      this.#cache.delete(key);
      return undefined;
    }
    // A state listed by iterate() learns its token from the first request
    // that presents it.
    if (cached.token === "") cached.token = token;
    // Re-insert to keep the map in least-recently-used order, once eviction
    // is near: below half the bound, order does not matter yet and the
    // re-insert would cost every read.
    if (this.#cache.size > this.settings.cacheSize >> 1) {
      this.#cache.delete(key);
      this.#cache.set(key, cached);
    }
    return cached;
  }

  /** Whether `save` would write now. */
  needsSave(state: SessionState): boolean {
    if (state.destroyed) return false;
    if (state.version !== state.savedVersion) return true;
    const { idleTimeout, touchInterval, now } = this.settings;
    return idleTimeout > 0 && state.key !== "" &&
      now() - state.savedAt >= touchInterval;
  }

  /**
   * Reads `token`'s state from the store, after {@linkcode peek} found it
   * not in memory. Concurrent requests of one token share the read and the
   * state; an unknown or expired token gives a fresh state: a client's
   * token is never adopted.
   *
   * @throws What the store's `find` throws.
   */
  async load(token: string): Promise<SessionState> {
    const key = this.hasher.keyOf(token);
    const deletion = this.registry.deletionOf(key);
    // Destroyed here and not deleted yet: if the delete fails, the session
    // is still valid and must load, so a retried logout deletes it.
    if (deletion !== undefined && await deletion.then(yes, no)) {
      return this.fresh();
    }
    if (this.registry.isDead(key)) return this.fresh();
    const pending = this.registry.loading;
    let loading = pending.get(key);
    if (loading === undefined) {
      const started: Loading = {
        promise: Promise.resolve(undefined),
        voided: false,
      };
      started.promise = this.#fetch(token, key, started);
      const done = () => {
        if (pending.get(key) === started) pending.delete(key);
      };
      started.promise.then(done, done);
      pending.set(key, started);
      loading = started;
    }
    return (await loading.promise) ?? this.fresh();
  }

  /**
   * Returns the decoded state for store entry `key` (a listed session),
   * reusing the shared state when it is in memory.
   */
  adopt(key: string, data: Uint8Array): SessionState | undefined {
    // The listing's snapshot may predate a logout.
    if (this.registry.isDead(key)) return undefined;
    const cached = this.#cache.get(key);
    if (cached !== undefined && this.#isLive(cached)) return cached;
    const token = this.settings.hashTokenInStore ? "" : key;
    const state = this.#decode(token, key, data);
    // A shared store's state is kept only while a request uses it (see
    // release()); a listed one, used by none, would outlive a logout made
    // by another server and be served from memory.
    if (state !== undefined && this.settings.store.shared !== true) {
      this.#remember(state);
    }
    return state;
  }

  /** When the session expires: the deadline, or sooner when idle. */
  expiresAt(state: SessionState, savedAt = state.savedAt): number {
    const { idleTimeout } = this.settings;
    return idleTimeout > 0
      ? Math.min(state.deadline, savedAt + idleTimeout)
      : state.deadline;
  }

  /**
   * Saves `state` if it changed since its last save, or if an idle timeout
   * is set and the last save is older than `touchInterval`. Returns whether
   * it wrote.
   *
   * @throws {RangeError} When the encoded session exceeds `maxBytes`.
   * @throws What the codec or the store's `save` throws.
   */
  save(state: SessionState): Promise<boolean> {
    return enqueue(state, () => this.#saveNow(state));
  }

  /**
   * Deletes `state` from the store, after any write of it already under
   * way, and from memory; later saves of it do nothing, and no read or
   * listing brings it back. When the store fails to delete, the key is
   * valid again for reads (it is still in the store), and the failure is
   * thrown.
   *
   * @throws What the store's `delete` throws, marked as a store failure.
   */
  destroy(state: SessionState): Promise<void> {
    this.drop(state);
    const key = state.key;
    if (key === "") return Promise.resolve();
    const owner = state.savedOwner;
    const { store } = this.settings;
    const deletion: Promise<void> = enqueue(state, async () => {
      try {
        await (owner === undefined
          ? store.delete(key)
          : store.delete(key, { owner }));
      } catch (error) {
        this.registry.revive(key, deletion);
        throw storeFailure(error);
      }
      this.registry.buried(key, deletion);
    });
    // The queued delete runs on a later microtask, after this.
    this.registry.kill(key, deletion);
    state.deletion = deletion;
    return deletion;
  }

  /**
   * Splits `state`: returns a new state with its data, a new token and a
   * new deadline, for the renewing request alone, and destroys `state`, so
   * requests still holding the old token never learn the new one.
   *
   * @returns The new state and the deletion of the old one.
   */
  renew(state: SessionState): [SessionState, Promise<void>] {
    const next = this.fresh();
    for (const [name, value] of state.values) next.values.set(name, value);
    next.rememberMe = state.rememberMe;
    next.version = 1;
    this.#assignToken(next);
    this.#remember(next);
    state.renewed = true;
    return [next, this.destroy(state)];
  }

  /**
   * Ends `state` in memory only: destroyed, emptied, out of the cache. For
   * a state its failed request made and never saved, one the store no
   * longer has, and as the first half of {@linkcode destroy}.
   */
  drop(state: SessionState): void {
    state.destroyed = true;
    state.values.clear();
    state.version++;
    if (this.#cache.get(state.key) === state) this.#cache.delete(state.key);
    if (state.token !== "") this.hasher.forget(state.token);
  }

  async #saveNow(state: SessionState): Promise<boolean> {
    if (!this.needsSave(state)) return false;
    const { store, cipher } = this.settings;
    const now = this.settings.now();
    if (state.key === "") {
      this.#assignToken(state);
    }
    const version = state.version;
    const key = state.key;
    const owner = this.ownerOf(state);
    let written;
    try {
      const bytes = this.#encode(state, now);
      const expiry = new Date(this.expiresAt(state, now));
      const options = ownerOptions(state, owner);
      try {
        if (state.savedAt > 0 && typeof store.replace === "function") {
          written = await store.replace(key, bytes, expiry, options);
        } else {
          await store.save(key, bytes, expiry, options);
        }
      } catch (error) {
        // Not given back to the pool: a store that failed or timed out
        // may still read the bytes.
        throw storeFailure(error);
      }
      // Encrypted bytes are the store's: only plain ones came from the pool.
      if (cipher === undefined) this.#pool?.release(bytes);
    } catch (error) {
      // Memory must not hold what the store refused: drop the shared state
      // so the next request reloads the last saved version.
      if (this.#cache.get(key) === state) this.#cache.delete(key);
      throw error;
    }
    if (written === false) {
      // Gone from the store since it was loaded or last saved: logged out
      // through another server, or expired. It stays gone.
      this.drop(state);
      return false;
    }
    state.savedAt = now;
    state.savedVersion = version;
    state.savedOwner = owner;
    if (!state.destroyed && state.key === key) this.#remember(state);
    return true;
  }

  /**
   * The bytes the store gets for `state`: encoded, checked against
   * `maxBytes`, and encrypted with the `encryption` option.
   *
   * @throws {RangeError} When the encoded session exceeds `maxBytes`.
   */
  #encode(state: SessionState, now: number): Uint8Array {
    const { codec, maxBytes, cipher } = this.settings;
    const pool = this.#pool;
    const record = recordOf(state, now);
    const bytes = pool === undefined
      ? codec.encode(record)
      : pool.encode(recordJson(record));
    if (bytes.byteLength > maxBytes) {
      pool?.release(bytes);
      throw new RangeError(
        `Cannot save session: it encodes to ${bytes.byteLength} bytes, more than maxBytes (${maxBytes})`,
      );
    }
    if (cipher === undefined) return bytes;
    // Sealing copies: the plain bytes can go back at once.
    const sealed = cipher.seal(state.key, bytes);
    pool?.release(bytes);
    return sealed;
  }

  async #fetch(
    token: string,
    key: string,
    loading: Loading,
  ): Promise<SessionState | undefined> {
    let data;
    try {
      data = await this.settings.store.find(key);
    } catch (error) {
      throw storeFailure(error);
    }
    if (data === undefined || loading.voided) return undefined;
    // Another request may have created the state while the store was read.
    const raced = this.#cache.get(key);
    if (raced !== undefined) return raced;
    const state = this.#decode(token, key, data);
    if (state !== undefined) this.#remember(state);
    return state;
  }

  #decode(
    token: string,
    key: string,
    data: Uint8Array,
  ): SessionState | undefined {
    const { codec, cipher } = this.settings;
    let record;
    try {
      const plain = cipher === undefined ? data : cipher.open(key, data);
      record = checkRecord(codec.decode(plain));
    } catch {
      // Undecodable data is treated as no session: the client gets a fresh
      // one, which is the documented outcome, not an error to report.
      return undefined;
    }
    if (record === undefined) return undefined;
    const state = newState(token, key, record.deadline, record.savedAt);
    state.rememberMe = record.rememberMe;
    state.createdAt = record.createdAt ?? 0;
    for (const [name, value] of Object.entries(record.values)) {
      state.values.set(name, deepFreeze(value));
    }
    state.savedOwner = this.ownerOf(state, cipher?.keyIndexOf(data));
    return this.#isLive(state) ? state : undefined;
  }

  #isLive(state: SessionState): boolean {
    return !state.destroyed && this.expiresAt(state) > this.settings.now();
  }

  #remember(state: SessionState): void {
    this.#cache.delete(state.key);
    this.#cache.set(state.key, state);
    if (this.#cache.size <= this.settings.cacheSize) return;
    for (const [key, old] of this.#cache) {
      if (this.#cache.size <= this.settings.cacheSize) break;
      // A state in use stays: evicting it would let a second copy load.
      if (old.users === 0) this.#cache.delete(key);
    }
    // Handles that are never finished (of() without wrap or finalize) keep
    // their states "in use"; past twice the bound, memory wins.
    for (const key of this.#cache.keys()) {
      if (this.#cache.size <= 2 * this.settings.cacheSize) break;
      this.#cache.delete(key);
    }
  }

  /**
   * Ends one request's use of `state`. A store that other processes write
   * to must be read again next time, so an unused state is dropped.
   */
  release(state: SessionState): void {
    state.users--;
    if (
      state.users === 0 && this.settings.store.shared === true &&
      state.key !== "" && this.#cache.get(state.key) === state
    ) this.#cache.delete(state.key);
  }

  #assignToken(state: SessionState): void {
    state.token = newToken();
    state.key = this.hasher.keyOf(state.token);
  }
}

/**
 * An owner value as the index stores it: a non-empty string as is, a
 * finite number in decimal; anything else names no owner.
 */
export function ownerKey(value: unknown): string | undefined {
  if (typeof value === "string" && value !== "") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return undefined;
}

function newState(
  token: string,
  key: string,
  deadline: number,
  savedAt: number,
): SessionState {
  return {
    token,
    key,
    deadline,
    savedAt,
    createdAt: 0,
    savedOwner: undefined,
    rememberMe: undefined,
    values: new Map(),
    version: 0,
    savedVersion: 0,
    destroyed: false,
    renewed: false,
    deletion: undefined,
    users: 0,
    cookieSent: "",
    queue: Promise.resolve(),
  };
}

/** The record the codec encodes for `state`, saved at `now`. */
function recordOf(state: SessionState, now: number): SessionRecord {
  // Members added one by one and the values copied in a loop: spreads and
  // Object.fromEntries() were a third of the save's own time in a profile.
  const record: SessionRecord = {
    deadline: state.deadline,
    savedAt: now,
    values: valuesOf(state.values),
  };
  if (state.createdAt !== 0) record.createdAt = state.createdAt;
  if (state.rememberMe !== undefined) record.rememberMe = state.rememberMe;
  return record;
}

/** The values as an object for the codec, as `Object.fromEntries()` does. */
function valuesOf(values: Map<string, unknown>): Record<string, unknown> {
  const object: Record<string, unknown> = {};
  values.forEach((value, name) => {
    // Assigning `__proto__` would set the prototype, not add a member.
    if (name === "__proto__") {
      Object.defineProperty(object, name, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else object[name] = value;
  });
  return object;
}

/**
 * What `store.save` is told of the session's owner, for its index; nothing
 * (no object on the hot path) when no owner is involved.
 */
function ownerOptions(
  state: SessionState,
  owner: string | undefined,
): OwnerOptions | undefined {
  const previous = state.savedOwner;
  const moved = previous !== undefined && previous !== owner;
  if (owner === undefined) {
    return moved ? { previousOwner: previous } : undefined;
  }
  return moved ? { owner, previousOwner: previous } : { owner };
}

/** Runs `op` after every store operation of `state` already queued. */
export function enqueue<R>(
  state: SessionState,
  op: () => Promise<R>,
): Promise<R> {
  const run = state.queue.then(op);
  // The caller gets the failure through `run`; the queue only needs to know
  // that the operation is over.
  state.queue = run.then(ignore, ignore);
  return run;
}

function ignore(): void {}

function yes(): boolean {
  return true;
}

function no(): boolean {
  return false;
}
