import assert from "node:assert/strict";
import { MemoryStore, SessionManager, type SessionStore } from "@x/buntstore";

type Data = { n: number; name: string };

/**
 * A store that holds on to the array it is given until its save resolves,
 * and copies it only then: what `copiesOnSave` allows. Without the flag it
 * keeps the array itself, as the `SessionStore` example does.
 */
class LateCopyStore implements SessionStore {
  readonly entries = new Map<string, Uint8Array>();
  readonly copiesOnSave: boolean;

  constructor(copiesOnSave: boolean) {
    this.copiesOnSave = copiesOnSave;
  }

  async find(token: string): Promise<Uint8Array | undefined> {
    return this.entries.get(token)?.slice();
  }

  async save(token: string, data: Uint8Array, _expiry: Date): Promise<void> {
    // Several event-loop turns with the caller's array in hand.
    await new Promise((resolve) => setTimeout(resolve, 1));
    this.entries.set(token, this.copiesOnSave ? data.slice() : data);
  }

  async delete(token: string): Promise<void> {
    this.entries.delete(token);
  }
}

/** Saves `count` sessions at once, each with its own values. */
async function saveMany(sessions: SessionManager<Data>, count: number) {
  return await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        sessions.withToken(undefined, (session) => {
          session.put("n", i);
          session.put("name", `user-${i}-${"x".repeat(i * 7)}`);
        }),
    ),
  );
}

for (const copiesOnSave of [true, false]) {
  Deno.test(`SessionManager keeps every session's bytes intact while 100 saves are in flight (copiesOnSave: ${copiesOnSave})`, async () => {
    const store = new LateCopyStore(copiesOnSave);
    const sessions = new SessionManager<Data>({ store });
    const saved = await saveMany(sessions, 100);
    // Later saves reuse whatever buffers the pool has by now.
    await saveMany(sessions, 100);
    const fresh = new SessionManager<Data>({ store: plain(store) });
    for (const [i, { token }] of saved.entries()) {
      const read = await fresh.withToken(token, (session) => ({
        n: session.get("n"),
        name: session.get("name"),
      }));
      assert.deepEqual(read.value, {
        n: i,
        name: `user-${i}-${"x".repeat(i * 7)}`,
      });
    }
  });
}

Deno.test("SessionManager gives a failed save's bytes to no later save", async () => {
  // A store that fails once but keeps reading the array afterwards, as a
  // Redis command that timed out may still be sent.
  const kept: Uint8Array[] = [];
  const memory = new MemoryStore();
  let fail = true;
  const store: SessionStore = {
    copiesOnSave: true,
    find: (token) => memory.find(token),
    delete: (token) => memory.delete(token),
    async save(token, data, expiry) {
      if (fail) {
        fail = false;
        kept.push(data);
        throw new Error("timed out");
      }
      await memory.save(token, data, expiry);
    },
  };
  try {
    const sessions = new SessionManager<Data>({ store });
    await assert.rejects(
      sessions.withToken(undefined, (s) => s.put("name", "first")),
      /timed out/,
    );
    const before = new TextDecoder().decode(kept[0]);
    await saveMany(sessions, 20);
    assert.equal(new TextDecoder().decode(kept[0]), before);
  } finally {
    await memory.close();
  }
});

/** The store's methods without its `copiesOnSave` flag. */
function plain(store: LateCopyStore): SessionStore {
  return {
    find: (token) => store.find(token),
    save: (token, data, expiry) => store.save(token, data, expiry),
    delete: (token) => store.delete(token),
  };
}
