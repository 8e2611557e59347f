// Shared helpers for the tests of the `encryption` option.

import assert from "node:assert/strict";
import {
  BuntStore,
  MemoryStore,
  type OwnerOptions,
  SessionManager,
  type SessionManagerOptions,
  type SessionStore,
} from "@x/buntstore";
import { KvStore } from "@x/buntstore/kv";
import { RedisStore } from "@x/buntstore/redis";
import { startRedisServer } from "./_redis_server.ts";

export type Data = { user: string; secret: string; n: number };
export type Store = SessionStore & AsyncDisposable;

export const EMAIL = "ada.lovelace@example.com";
export const SECRET = "oauth-access-token-7f3a9c";

export function newKey(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

export async function redisStore(): Promise<Store> {
  const server = await startRedisServer();
  try {
    const store = await RedisStore.connect(server.url);
    return Object.assign(store, {
      async [Symbol.asyncDispose]() {
        await store.close();
        await server.stop();
      },
    });
  } catch (error) {
    await server.stop();
    throw error;
  }
}

/** Every store, on the wall clock (Redis expires by its own). */
export const STORES: [string, () => Promise<Store>][] = [
  ["MemoryStore", () => Promise.resolve(new MemoryStore())],
  ["BuntStore", () => BuntStore.open(":memory:")],
  ["KvStore", () => KvStore.open(":memory:")],
  ["RedisStore", redisStore],
];

/**
 * A second store object over the same data (a restarted server: managers
 * share what is in memory per store object), forwarding the owner index.
 */
export function restarted(store: SessionStore): SessionStore {
  return {
    find: (key) => store.find(key),
    save: (key, data, expiry, options) =>
      store.save(key, data, expiry, options),
    ...(store.replace === undefined ? {} : {
      replace: (
        key: string,
        data: Uint8Array,
        expiry: Date,
        options?: OwnerOptions,
      ) => store.replace!(key, data, expiry, options),
    }),
    delete: (key, options) => store.delete(key, options),
    ...(store.findByOwner === undefined
      ? {}
      : { findByOwner: (owner: string) => store.findByOwner!(owner) }),
    all: () => store.all!(),
  };
}

export function manager(
  store: SessionStore,
  keys: (Uint8Array | string)[],
  options: Partial<SessionManagerOptions> = {},
): SessionManager<Data> {
  return new SessionManager<Data>({
    store,
    index: "user",
    encryption: { keys },
    ...options,
  });
}

/** Logs `user` in with a new session; returns its token. */
export async function login(
  sessions: SessionManager<Data>,
  user = EMAIL,
  n = 1,
): Promise<string> {
  const { token } = await sessions.withToken(undefined, (session) => {
    session.put("user", user);
    session.put("secret", SECRET);
    session.put("n", n);
  });
  assert.ok(token);
  return token;
}

/** The session's `n` as a manager with a cold cache reads it. */
export async function readN(
  store: SessionStore,
  keys: Uint8Array[],
  token: string,
): Promise<number | undefined> {
  const cold = manager(restarted(store), keys);
  return (await cold.withToken(token, (s) => s.get("n"))).value;
}

/** The key id (bytes 1-4, hex) of every record in the store. */
export async function keyIds(store: SessionStore): Promise<string[]> {
  const ids = [];
  for (const data of (await store.all!()).values()) {
    assert.equal(data[0], 0xe1, "every record is encrypted");
    ids.push([...data.subarray(1, 5)].map((b) => b.toString(16)).join(""));
  }
  return ids;
}

export function contains(haystack: Uint8Array, needle: string): boolean {
  return new TextDecoder("latin1").decode(haystack).includes(needle);
}
