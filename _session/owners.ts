/**
 * Finding one owner's sessions (the `index` option): through the store's
 * owner index when it has one, else by reading every session.
 *
 * @module
 */

import { ownerKey, type SessionEngine, type SessionState } from "./engine.ts";
import type { SessionInfo } from "./types.ts";
import { publicId } from "./token.ts";

/** `SessionManager.listBy`: see its documentation. */
export async function listOwned(
  engine: SessionEngine,
  owner: string | number,
  currentKey: string | undefined,
): Promise<SessionInfo[]> {
  const states = await ownedStates(engine, owner, "list sessions");
  return states.map((state): SessionInfo => ({
    id: publicId(state.key),
    createdAt: state.createdAt === 0 ? undefined : new Date(state.createdAt),
    lastSeen: new Date(state.savedAt),
    expiry: new Date(engine.expiresAt(state)),
    current: state.key === currentKey,
  })).sort((a, b) => b.lastSeen.getTime() - a.lastSeen.getTime());
}

/** Which of an owner's sessions `destroyOwned` ends. */
export interface DestroyFilter {
  /** The store key of a session to keep. */
  keptKey: string | undefined;
  /** The public id of the one session to end; all when undefined. */
  id: string | undefined;
}

/**
 * `SessionManager.destroyBy`: see its documentation. Every deletion is
 * tried; if any failed, the first failure is thrown once all are over, and
 * the sessions it could not delete stay valid (a retry deletes them).
 */
export async function destroyOwned(
  engine: SessionEngine,
  owner: string | number,
  filter: DestroyFilter,
): Promise<number> {
  const { keptKey, id } = filter;
  const states = await ownedStates(engine, owner, "destroy sessions");
  const doomed = states.filter((state) =>
    state.key !== keptKey && (id === undefined || publicId(state.key) === id)
  );
  const outcomes = await Promise.allSettled(
    doomed.map((state) => engine.destroy(state)),
  );
  const failed = outcomes.find((outcome) => outcome.status === "rejected");
  if (failed !== undefined) throw failed.reason;
  return doomed.length;
}

/**
 * Returns the live states whose `index` value is `owner`. Costs that
 * owner's sessions on a store with `findByOwner`, all sessions otherwise.
 *
 * @throws {TypeError} When the manager has no `index` option, or the store
 * has neither `findByOwner` nor `all`.
 */
async function ownedStates(
  engine: SessionEngine,
  owner: string | number,
  action: string,
): Promise<SessionState[]> {
  const { store, index } = engine.settings;
  if (index === undefined) {
    throw new TypeError(
      `Cannot ${action}: the session manager has no "index" option naming the owner value`,
    );
  }
  const name = ownerName(owner, action);
  if (
    typeof store.findByOwner !== "function" && typeof store.all !== "function"
  ) {
    throw new TypeError(
      `Cannot ${action}: the store has neither findByOwner() nor all()`,
    );
  }
  const registry = engine.registry;
  // A logout racing this read must not be undone by adopting its entry.
  registry.startListing();
  try {
    const entries = typeof store.findByOwner === "function"
      ? await findByOwner(engine, name)
      : await store.all!();
    const states = [];
    for (const [key, data] of entries) {
      const state = engine.adopt(key, data);
      // The index may be behind a change of owner: trust only the data.
      if (state !== undefined && ownerKey(state.values.get(index)) === name) {
        states.push(state);
      }
    }
    return states;
  } finally {
    registry.endListing();
  }
}

/**
 * The entries indexed under owner `name`: with encryption, under each
 * key's hash of it (a session moves to the first key's on its next save).
 */
async function findByOwner(
  engine: SessionEngine,
  name: string,
): Promise<Map<string, Uint8Array>> {
  const { store, cipher } = engine.settings;
  if (cipher === undefined) return await store.findByOwner!(name);
  const found = await Promise.all(
    cipher.ownerNames(name).map((blinded) => store.findByOwner!(blinded)),
  );
  const entries = new Map<string, Uint8Array>();
  for (const map of found) {
    for (const [key, data] of map) entries.set(key, data);
  }
  return entries;
}

/** The owner as the index stores it: a string, numbers in decimal. */
function ownerName(owner: unknown, action: string): string {
  const name = ownerKey(owner);
  if (name !== undefined) return name;
  throw new TypeError(
    `Cannot ${action}: the owner must be a non-empty string or a finite number, got ${
      typeof owner === "string" ? "an empty string" : typeof owner
    }`,
  );
}
