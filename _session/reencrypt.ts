/**
 * Rewriting every session with the first encryption key, so that an older
 * key can be removed from the list without logging anyone out.
 *
 * @module
 */

import { checkRecord } from "./codec.ts";
import { enqueue, ownerKey, type SessionEngine } from "./engine.ts";
import type { OwnerOptions } from "../session_store.ts";
import type { ReencryptResult } from "./types.ts";

/** `SessionManager.reencrypt`: see its documentation. */
export async function reencryptSessions(
  engine: SessionEngine,
): Promise<ReencryptResult> {
  const { store, cipher } = engine.settings;
  if (cipher === undefined) {
    throw new TypeError(
      'Cannot re-encrypt sessions: the session manager has no "encryption" option',
    );
  }
  if (typeof store.all !== "function") {
    throw new TypeError(
      "Cannot re-encrypt sessions: the store has no all() method",
    );
  }
  const result: ReencryptResult = { reencrypted: 0, unreadable: 0 };
  const registry = engine.registry;
  // A logout racing the walk must not be undone by adopting its entry.
  registry.startListing();
  try {
    for (const [key, data] of await store.all()) {
      if (cipher.keyIndexOf(data) === 0) continue;
      if (!readable(engine, key, data)) {
        result.unreadable++;
        continue;
      }
      // The shared state: a request of this session that saves meanwhile
      // queues behind the rewrite (or the rewrite behind it), in-process.
      const state = engine.adopt(key, data);
      if (state === undefined) continue; // expired or destroyed meanwhile
      // In use while rewritten, then released like a request's session: a
      // shared store's state must not stay in memory once unused.
      state.users++;
      try {
        const written = await enqueue(
          state,
          () =>
            state.destroyed ? Promise.resolve(undefined) : rewrite(engine, key),
        );
        if (written) {
          state.savedOwner = written.owner;
          result.reencrypted++;
        }
      } finally {
        engine.release(state);
      }
    }
  } finally {
    registry.endListing();
  }
  return result;
}

/**
 * Rewrites what the store holds now under `key` with the first key, its
 * content, expiry and last-save time unchanged (so no session is kept
 * alive by the rewrite); `undefined` when there was nothing to do.
 */
async function rewrite(
  engine: SessionEngine,
  key: string,
): Promise<OwnerOptions | undefined> {
  const { store, codec, index, idleTimeout } = engine.settings;
  const cipher = engine.settings.cipher!;
  // Read again: a save may have come between the listing and this turn.
  const data = await store.find(key);
  if (data === undefined || engine.registry.isDead(key)) return undefined;
  const keyIndex = cipher.keyIndexOf(data);
  if (keyIndex === 0) return undefined;
  let plain, record;
  try {
    plain = cipher.open(key, data);
    record = checkRecord(codec.decode(plain));
  } catch {
    // Unreadable data is a fresh session to every reader: leave it be.
    return undefined;
  }
  if (record === undefined) return undefined;
  const expiry = idleTimeout > 0
    ? Math.min(record.deadline, record.savedAt + idleTimeout)
    : record.deadline;
  const name = index === undefined ? undefined : ownerKey(record.values[index]);
  const options: OwnerOptions = name === undefined ? {} : {
    owner: cipher.owner(name),
    previousOwner: cipher.owner(name, keyIndex),
  };
  const sealed = cipher.seal(key, plain);
  const written = typeof store.replace === "function"
    ? await store.replace(key, sealed, new Date(expiry), options)
    : (await store.save(key, sealed, new Date(expiry), options), true);
  return written ? options : undefined;
}

function readable(
  engine: SessionEngine,
  key: string,
  data: Uint8Array,
): boolean {
  try {
    engine.settings.cipher!.open(key, data);
    return true;
  } catch {
    // A removed key or damaged data: the caller counts it.
    return false;
  }
}
