/**
 * Picks a session store from a URL, such as the `SESSION_STORE` environment
 * variable of the examples:
 *
 * - `file:data/sessions.db`: a `BuntStore` on that file (the default)
 * - `memory:`: a `BuntStore` in memory only
 * - `redis://127.0.0.1:6379` or `rediss://...`: a `RedisStore`
 * - `kv:`: a `KvStore` on Deno's default KV database; `kv:data/kv.sqlite3`
 *   on that file, `kv::memory:` in memory, `kv:https://...` remote
 *
 * @module
 */

import { dirname } from "node:path";
import { BuntStore, MEMORY_PATH, type SessionStore } from "@x/buntstore";
import { RedisStore } from "@x/buntstore/redis";
import { KvStore } from "@x/buntstore/kv";

/** The store used when `SESSION_STORE` is not set. */
const DEFAULT_STORE_URL = "file:data/sessions.db";

/** A store that the caller closes with `await using` or `close()`. */
export type ClosableStore = SessionStore & AsyncDisposable & {
  close(): Promise<void>;
};

/**
 * Opens the store that `url` names.
 *
 * @param url One of the forms listed in the module doc.
 * @returns The open store.
 * @throws {RangeError} When the URL's scheme is not one of those.
 */
export async function storeFromUrl(
  url: string = DEFAULT_STORE_URL,
): Promise<ClosableStore> {
  if (url.startsWith("redis://") || url.startsWith("rediss://")) {
    return await RedisStore.connect(url);
  }
  if (url.startsWith("kv:")) {
    const path = url.slice("kv:".length);
    return await KvStore.open(path === "" ? undefined : path);
  }
  if (url === "memory:") return await BuntStore.open(MEMORY_PATH);
  if (url.startsWith("file:")) {
    const path = url.startsWith("file://")
      ? decodeURIComponent(new URL(url).pathname)
      : url.slice("file:".length);
    await Deno.mkdir(dirname(path), { recursive: true });
    return await BuntStore.open(path);
  }
  throw new RangeError(
    `Cannot open session store "${url}": expected file:, memory:, redis://, rediss:// or kv:`,
  );
}
