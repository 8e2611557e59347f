/**
 * What every `SessionManager` over one store shares: the decoded live
 * states, the reads under way, and the keys destroyed in this process. One
 * registry per store object, so a logout through one manager is seen by
 * every other manager of that store, and no read or listing that raced the
 * logout can bring the session back.
 *
 * @module
 */

import type { SessionStore } from "../session_store.ts";
import type { SessionState } from "./engine.ts";

/** A store read under way for one key. */
export interface Loading {
  promise: Promise<SessionState | undefined>;
  /** Set when the key is destroyed during the read: its result is void. */
  voided: boolean;
}

/** The shared in-memory side of one store's sessions. */
export class SessionRegistry {
  /** Live states by store key, least recently used first. */
  readonly states = new Map<string, SessionState>();
  /** Store reads under way, by store key. */
  readonly loading = new Map<string, Loading>();
  /**
   * Keys destroyed here whose deletion the store has not confirmed, with
   * that deletion: a read of such a key waits for its outcome.
   */
  readonly #dying = new Map<string, Promise<void>>();
  /** Keys destroyed since the oldest running listing took its snapshot. */
  readonly #diedDuringListing = new Set<string>();
  #listings = 0;

  /**
   * Marks `key` destroyed: it leaves memory, a read of it under way comes
   * back empty, and no read or listing may adopt it until the store
   * confirms the deletion (and every listing that may hold it has ended).
   *
   * @param deletion The store's deletion of `key`, under way.
   */
  kill(key: string, deletion: Promise<void>): void {
    this.#dying.set(key, deletion);
    if (this.#listings > 0) this.#diedDuringListing.add(key);
    const loading = this.loading.get(key);
    if (loading !== undefined) loading.voided = true;
    this.states.delete(key);
  }

  /** Records that the store deleted `key`, so it needs no more guarding. */
  buried(key: string, deletion: Promise<void>): void {
    if (this.#dying.get(key) === deletion) this.#dying.delete(key);
    // A listing that started before the deletion may still list the key.
    if (this.#listings > 0) this.#diedDuringListing.add(key);
  }

  /**
   * Records that the store failed to delete `key`: it is still there and
   * still valid, so reads load it again and a new destroy tries again.
   */
  revive(key: string, deletion: Promise<void>): void {
    if (this.#dying.get(key) !== deletion) return;
    this.#dying.delete(key);
    this.#diedDuringListing.delete(key);
  }

  /** The deletion of `key` under way, if it was destroyed here. */
  deletionOf(key: string): Promise<void> | undefined {
    return this.#dying.get(key);
  }

  /** Whether `key` was destroyed and may still be found in the store. */
  isDead(key: string): boolean {
    return this.#dying.has(key) || this.#diedDuringListing.has(key);
  }

  /** Call before a listing asks the store for its snapshot. */
  startListing(): void {
    this.#listings++;
  }

  /** Call when a listing is done with its snapshot. */
  endListing(): void {
    if (--this.#listings === 0) this.#diedDuringListing.clear();
  }
}

const registries = new WeakMap<SessionStore, SessionRegistry>();

/** Returns the registry of `store`, creating it on first use. */
export function registryOf(store: SessionStore): SessionRegistry {
  let registry = registries.get(store);
  if (registry === undefined) {
    registry = new SessionRegistry();
    registries.set(store, registry);
  }
  return registry;
}
