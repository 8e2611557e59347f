/**
 * Sessions for Deno that survive restarts. {@linkcode BuntStore} keeps every
 * session in memory and appends each change to one log file in
 * [buntdb](https://github.com/tidwall/buntdb)'s format: crash-safe (a torn
 * last write is cut off at open), fsynced once a second by default, compacted
 * in the background. {@linkcode SessionManager} is the middleware: the
 * cookie holds only a random token, the session is loaded on first use and
 * saved before the response leaves, and it works with `Deno.serve`, Hono,
 * oak or anything built on the standard `Request`.
 *
 * Entry points:
 *
 * - `@x/buntstore` (this one): {@linkcode BuntStore}, {@linkcode MemoryStore},
 *   {@linkcode SessionManager}, the errors worth catching, and the
 *   {@linkcode SessionStore} contract for stores of your own.
 * - [`@x/buntstore/session`](https://jsr.io/@x/buntstore/doc/session): the
 *   middleware alone.
 * - [`@x/buntstore/redis`](https://jsr.io/@x/buntstore/doc/redis):
 *   `RedisStore`, for sessions shared by several servers.
 * - [`@x/buntstore/kv`](https://jsr.io/@x/buntstore/doc/kv): `KvStore`, on
 *   Deno KV (Deno Deploy, or a local or remote database).
 * - [`@x/buntstore/hono`](https://jsr.io/@x/buntstore/doc/hono) and
 *   [`@x/buntstore/oak`](https://jsr.io/@x/buntstore/doc/oak): the
 *   middleware for Hono (`c.var.session`) and oak (`ctx.state.session`),
 *   typed and loaded on first use; a failed request commits nothing.
 * - [`@x/buntstore/cli`](https://jsr.io/@x/buntstore/doc/cli): the
 *   `buntstore` command that inspects, verifies, repairs, compacts, exports
 *   and imports a log.
 *
 * A store on a file needs `--allow-read --allow-write`; `":memory:"` stores,
 * as in the examples below, need no permissions.
 *
 * @example A store: save, find, expire
 * ```ts
 * import { BuntStore } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * // A path such as "data/sessions.db" keeps the log on disk.
 * await using store = await BuntStore.open(":memory:");
 * const data = new TextEncoder().encode(JSON.stringify({ user: "ada" }));
 * await store.save("token-1", data, new Date(Date.now() + 60_000));
 * assert.deepEqual(await store.find("token-1"), data);
 * assert.equal(store.size, 1);
 *
 * // An expiry in the past deletes; find() never returns expired data.
 * await store.save("token-1", data, new Date(Date.now() - 1));
 * assert.equal(await store.find("token-1"), undefined);
 * ```
 *
 * @example The middleware: log in, read, log out
 * ```ts
 * import { BuntStore, SessionManager } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * await using store = await BuntStore.open(":memory:");
 * const sessions = new SessionManager<{ user: string }>({ store });
 * // Pass the wrapped handler to Deno.serve; here it is called directly.
 * const handler = sessions.wrap(async (req) => {
 *   const session = await sessions.of(req); // loaded on first use
 *   const path = new URL(req.url).pathname;
 *   if (path === "/login") {
 *     await session.renewToken(); // a new token on login
 *     session.put("user", "ada");
 *   } else if (path === "/logout") {
 *     await session.destroy(); // the response deletes the cookie
 *   }
 *   return new Response(session.get("user") ?? "nobody");
 * });
 *
 * const login = await handler(new Request("https://example.com/login"));
 * const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
 * assert.equal(await login.text(), "ada");
 *
 * const me = await handler(
 *   new Request("https://example.com/", { headers: { cookie } }),
 * );
 * assert.equal(await me.text(), "ada");
 * assert.equal(me.headers.get("set-cookie"), null); // a read writes nothing
 *
 * const logout = await handler(
 *   new Request("https://example.com/logout", { headers: { cookie } }),
 * );
 * assert.match(logout.headers.get("set-cookie")!, /^session=; Max-Age=0/);
 * await logout.body?.cancel();
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./memory_store.ts";
export type * from "./session_store.ts";
export * from "./store.ts";
export * from "./session.ts";
