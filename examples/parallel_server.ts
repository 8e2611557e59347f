/**
 * The example server in the form `deno serve` runs: `export default {
 * fetch }`, so `deno serve --parallel` can start one worker per core, all
 * on one port. Every worker evaluates this module and opens the store, so
 * the store must be one that workers share: KvStore on a local file (the
 * default here) or RedisStore.
 *
 * ```sh
 * deno task serve   # SESSION_STORE=kv:data/kv.sqlite3, one worker per core
 * SESSION_STORE=redis://127.0.0.1:6379 deno task serve
 * ```
 *
 * A BuntStore (`SESSION_STORE=file:...`) or a memory store (`memory:`)
 * belongs to one worker: under `--parallel` the server refuses to start,
 * and says why and what to use instead. Without `--parallel`
 * (`deno serve examples/parallel_server.ts`) every store works.
 *
 * Needs the permissions of `deno task start`.
 *
 * @module
 */

import { exampleHandler } from "./server.ts";
import { storeFromUrl } from "./_store_from_url.ts";

/** What `--parallel` workers share when `SESSION_STORE` is not set. */
const DEFAULT_PARALLEL_STORE = "kv:data/kv.sqlite3";

const url = Deno.env.get("SESSION_STORE") ?? DEFAULT_PARALLEL_STORE;
if (url.startsWith("kv:") && url !== "kv:" && url !== "kv::memory:") {
  // Deno.openKv creates the file, not its directory.
  const path = url.slice("kv:".length);
  const slash = path.lastIndexOf("/");
  if (slash > 0) await Deno.mkdir(path.slice(0, slash), { recursive: true });
}
// `deno serve` gives a module no shutdown hook: the store stays open until
// the process ends, which is safe for every store (a BuntStore's log is
// fsynced each second and replayed at the next start).
const store = await storeFromUrl(url);

export default {
  fetch: exampleHandler(store),
} satisfies Deno.ServeDefaultExport;
