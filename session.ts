/**
 * Session middleware for `Deno.serve` and any framework built on the
 * standard `Request`/`Response`: the session is loaded lazily from a
 * {@linkcode SessionStore}, shared by concurrent requests of the same
 * session, and committed before the response is returned.
 *
 * @example Counting visits
 * ```ts
 * import { MemoryStore, SessionManager } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * await using store = new MemoryStore();
 * const sessions = new SessionManager<{ visits: number }>({
 *   store,
 *   cookie: { secure: false },
 * });
 * const handler = sessions.wrap(async (req) => {
 *   const session = await sessions.of(req);
 *   const visits = (session.get("visits") ?? 0) + 1;
 *   session.put("visits", visits);
 *   return new Response(`visit ${visits}`);
 * });
 *
 * const first = await handler(new Request("http://localhost/"));
 * const cookie = first.headers.get("set-cookie")!.split(";")[0]!;
 * const second = await handler(
 *   new Request("http://localhost/", { headers: { cookie } }),
 * );
 * assert.equal(await second.text(), "visit 2");
 * ```
 *
 * @module
 */

import type {
  DestroyByOptions,
  ReencryptResult,
  Session,
  SessionInfo,
  SessionManagerOptions,
  TokenSessionResult,
} from "./_session/types.ts";
import {
  type CookieSettings,
  readToken,
  writeHeaders,
} from "./_session/cookie.ts";
import { SessionEngine, type SessionState } from "./_session/engine.ts";
import { ABORT, FINISH, SessionHandle } from "./_session/handle.ts";
import { destroyOwned, listOwned } from "./_session/owners.ts";
import { iterateSessions, runWithToken } from "./_session/outside_requests.ts";
import { reencryptSessions } from "./_session/reencrypt.ts";
import { checkCookieOptions, checkManagerOptions } from "./_session/options.ts";
import { RequestSlot } from "./_session/request_slot.ts";
import { isStoreFailure } from "./_session/store_failure.ts";
import { assertKnownOptions } from "./_session_store/validate.ts";

const DESTROY_BY_OPTIONS: ReadonlySet<string> = new Set(["except", "id"]);

export { jsonSessionCodec } from "./_session/codec.ts";
export type { OwnerOptions, SessionStore } from "./session_store.ts";
export type * from "./_session/types.ts";

interface RequestContext<T extends object> {
  promise: Promise<Session<T>>;
  handle: SessionHandle<T> | undefined;
  finalized: boolean;
}

/**
 * Loads, hands out and commits sessions kept in a {@linkcode SessionStore},
 * with a cookie carrying only a random token.
 *
 * @typeParam T The shape of the session's values.
 *
 * @example Logging in, reading and logging out
 * ```ts
 * import { BuntStore, SessionManager } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * await using store = await BuntStore.open(":memory:");
 * const sessions = new SessionManager<{ user: string }>({ store });
 * const handler = sessions.wrap(async (req) => {
 *   const session = await sessions.of(req);
 *   const path = new URL(req.url).pathname;
 *   if (path === "/login") {
 *     await session.renewToken();
 *     session.put("user", "ada");
 *   } else if (path === "/logout") {
 *     await session.destroy();
 *   }
 *   return new Response(session.get("user") ?? "nobody");
 * });
 *
 * const login = await handler(new Request("https://example.com/login"));
 * const setCookie = login.headers.get("set-cookie")!;
 * assert.match(setCookie, /HttpOnly; Secure; SameSite=Lax/);
 * const cookie = setCookie.split(";")[0]!;
 * const me = await handler(
 *   new Request("https://example.com/me", { headers: { cookie } }),
 * );
 * assert.equal(await me.text(), "ada");
 * const logout = await handler(
 *   new Request("https://example.com/logout", { headers: { cookie } }),
 * );
 * assert.match(logout.headers.get("set-cookie")!, /^session=; Max-Age=0/);
 * await login.body?.cancel();
 * await logout.body?.cancel();
 * ```
 */
export class SessionManager<T extends object = Record<string, unknown>> {
  readonly #engine: SessionEngine;
  readonly #cookie: CookieSettings;
  readonly #onError: (
    error: unknown,
    request: Request,
  ) => Response | Promise<Response>;
  readonly #contexts = new RequestSlot<RequestContext<T>>();

  /**
   * Creates a manager; it holds no timers and needs no closing.
   *
   * @param options The store and the session and cookie settings.
   * @throws {TypeError} When an option has the wrong type.
   * @throws {RangeError} When an option is out of range, or the cookie
   * attributes contradict each other (`__Host-` with a Domain, SameSite=None
   * without Secure).
   */
  constructor(options: SessionManagerOptions) {
    this.#engine = new SessionEngine(checkManagerOptions(options));
    this.#cookie = checkCookieOptions(options.cookie ?? {});
    this.#onError = options.onError ?? defaultOnError;
  }

  /** The cookie name, including any `__Host-` prefix. */
  get cookieName(): string {
    return this.#cookie.name;
  }

  /**
   * Wraps a handler so that the session it uses is committed, and the
   * cookie set, before its response is returned. A handler that never
   * calls {@linkcode SessionManager.of} costs one property lookup: no
   * cookie parsing, no store read, no headers. A handler that throws, or
   * answers with a 5xx status, commits nothing: what the request changed is
   * taken back. (Hono turns a thrown error into a 500 before `wrap` sees
   * it; one it answers with a 4xx, such as an `HTTPException`, looks like
   * success here, so for Hono and oak use `@x/buntstore/hono` or
   * `@x/buntstore/oak` instead.)
   *
   * @param handler A `Deno.serve` handler, or any function of a `Request`.
   * @returns The wrapped handler.
   */
  wrap<A extends unknown[]>(
    handler: (request: Request, ...rest: A) => Response | Promise<Response>,
  ): (request: Request, ...rest: A) => Promise<Response> {
    // Promise reactions rather than an async function: a request whose
    // session needs no write then costs one reaction here, not three awaits.
    return (request, ...rest) => {
      const failed = (error: unknown) => this.#failed(request, error);
      const answered = (response: Response) =>
        this.#answered(request, response);
      let result;
      try {
        result = handler(request, ...rest);
      } catch (error) {
        return failed(error);
      }
      return Promise.resolve(result).then(answered, failed);
    };
  }

  /**
   * Returns the session of `request`, loading it on the first call; later
   * calls for the same request return the same session. An unknown,
   * expired or malformed token gives a new, empty session.
   *
   * @param request The request (for frameworks, the native one: Hono's
   * `c.req.raw`, oak's `ctx.request.source`).
   * @returns The session.
   * @throws What the store's `find` throws; inside `wrap` that goes to
   * `onError`.
   */
  of(request: Request): Promise<Session<T>> {
    const known = this.#contexts.get(request);
    if (known !== undefined) return known.promise;
    const token = readToken(request.headers.get("cookie"), this.#cookie.name);
    const state = this.#engine.peek(token);
    // In memory (or new): no store read and no extra promise hops.
    const handle = state === undefined
      ? undefined
      : this.#handle(state, token, request);
    const promise: Promise<Session<T>> = handle !== undefined
      ? Promise.resolve(handle)
      // peek() answers for a request without a token, so there is one here.
      : this.#engine.load(token!).then((loaded) =>
        context.handle = this.#handle(loaded, token, request)
      );
    const context: RequestContext<T> = { promise, handle, finalized: false };
    // The caller gets the failure through the promise; this only keeps an
    // unawaited load failure from being reported as unhandled.
    if (handle === undefined) promise.catch(ignore);
    this.#contexts.set(request, context);
    return context.promise;
  }

  /**
   * Commits the session of `request`, if it was used, and returns
   * `response` with `Set-Cookie`, `Vary: Cookie` and `Cache-Control`
   * added (a copy when its headers are immutable, as after
   * `Response.redirect`). Use it where `wrap` does not fit, such as Hono
   * middleware; it does nothing the second time.
   *
   * @param request The request passed to {@linkcode SessionManager.of}.
   * @param response The handler's response.
   * @returns The response to send.
   *
   * @example Committing in framework middleware
   * ```ts
   * import { MemoryStore, SessionManager } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * await using store = new MemoryStore();
   * const sessions = new SessionManager<{ theme: string }>({ store });
   * const request = new Request("https://example.com/settings");
   * (await sessions.of(request)).put("theme", "dark");
   * const response = await sessions.finalize(request, new Response("saved"));
   * assert.match(response.headers.get("set-cookie")!, /^session=/);
   * assert.equal(response.headers.get("vary"), "Cookie");
   * ```
   */
  async finalize(request: Request, response: Response): Promise<Response> {
    return await this.#finalize(request, response);
  }

  /**
   * Commits the session of `request`, if it was used, and appends its
   * headers to `headers`: for frameworks that build the response after the
   * middleware runs, such as oak (`ctx.response.headers`).
   *
   * @param request The request passed to {@linkcode SessionManager.of}.
   * @param headers The mutable headers of the response being built.
   * @throws What the store's `save` throws, or a `RangeError` for
   * `maxBytes`; `onError` is not called here.
   *
   * @example Writing the session headers into a response being built
   * ```ts
   * import { MemoryStore, SessionManager } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * await using store = new MemoryStore();
   * const sessions = new SessionManager<{ visits: number }>({ store });
   * const request = new Request("https://example.com/");
   * (await sessions.of(request)).put("visits", 1);
   * const headers = new Headers(); // as oak's ctx.response.headers
   * await sessions.finalizeHeaders(request, headers);
   * assert.match(headers.get("set-cookie")!, /^session=/);
   * ```
   */
  async finalizeHeaders(request: Request, headers: Headers): Promise<void> {
    const setCookie = await this.#finish(request);
    if (setCookie !== null) writeHeaders(headers, setCookie);
  }

  /**
   * Runs `fn` with the session of `token`, without cookies: for API and
   * mobile clients that send the token themselves, for example as
   * `Authorization: Bearer <token>`. An unknown, expired or malformed
   * token gives a new, empty session. The session is committed when `fn`
   * returns, with the guarantees of {@linkcode SessionManager.wrap}
   * (concurrent calls of one session share it; renewal splits it; a `fn`
   * that throws commits nothing).
   *
   * @param token The token the client sent, or `undefined`.
   * @param fn Uses the session; its result is returned as `value`.
   * @returns `fn`'s result and the token and expiry the client must keep
   * from now on (both `undefined` when no session is kept: nothing was
   * written, or it was destroyed).
   * @throws What `fn` throws, what the store throws, or a `RangeError` for
   * `maxBytes`.
   *
   * @example A bearer-token API
   * ```ts
   * import { MemoryStore, SessionManager } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * await using store = new MemoryStore();
   * const sessions = new SessionManager<{ user: string }>({ store });
   * const login = await sessions.withToken(undefined, async (session) => {
   *   await session.renewToken();
   *   session.put("user", "ada");
   * });
   * // The client keeps login.token and sends it back:
   * const me = await sessions.withToken(
   *   login.token,
   *   (session) => session.get("user"),
   * );
   * assert.equal(me.value, "ada");
   * assert.equal(me.token, login.token);
   * ```
   */
  withToken<R>(
    token: string | undefined,
    fn: (session: Session<T>) => R | Promise<R>,
  ): Promise<TokenSessionResult<Awaited<R>>> {
    return runWithToken(this.#engine, this.#cookie, token, fn);
  }

  /**
   * Takes back what the request changed in its session (`put`, `remove`,
   * `clear`, `rememberMe`; a `renewToken` or `destroy` already happened)
   * and ends the request's use of it, without saving. `wrap` does this when
   * the handler throws; call it yourself where you use `finalize` or
   * `finalizeHeaders` and the request failed. It does nothing after
   * `finalize`, and nothing the second time.
   *
   * @param request The request passed to {@linkcode SessionManager.of}.
   *
   * @example Undoing a failed request in framework middleware
   * ```ts
   * import { MemoryStore, SessionManager } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * await using store = new MemoryStore();
   * const sessions = new SessionManager<{ cart: string[] }>({ store });
   * const request = new Request("https://example.com/checkout");
   * const session = await sessions.of(request);
   * session.put("cart", ["book"]);
   * await sessions.discard(request); // the handler failed
   * assert.equal(session.get("cart"), undefined);
   * ```
   */
  async discard(request: Request): Promise<void> {
    const context = this.#contexts.get(request);
    if (context === undefined || context.finalized) return;
    context.finalized = true;
    const handle = context.handle ??
      await context.promise.then(
        (loaded) => loaded as SessionHandle<T>,
        // The load failed: there is nothing to take back.
        () => undefined,
      );
    await handle?.[ABORT]();
  }

  /**
   * Calls `fn` with every live session in the store, for example to
   * destroy every session of one user. Changes made in `fn` are saved when
   * it returns. With `hashTokenInStore`, `token` is `""` unless the session
   * is in memory with a known token.
   *
   * @param fn Called once per session, one at a time.
   * @throws {TypeError} When the store has no `all()`.
   *
   * @example Clearing a flag in every session
   * ```ts
   * import { MemoryStore, SessionManager } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * await using store = new MemoryStore();
   * const sessions = new SessionManager<{ banner: string }>({ store });
   * await sessions.withToken(undefined, (s) => s.put("banner", "sale"));
   * await sessions.iterate((session) => session.remove("banner"));
   * let banners = 0;
   * await sessions.iterate((session) => {
   *   if (session.has("banner")) banners++;
   * });
   * assert.equal(banners, 0);
   * ```
   */
  iterate(fn: (session: Session<T>) => unknown): Promise<void> {
    return iterateSessions(this.#engine, this.#cookie, fn);
  }

  /**
   * Lists the live sessions of one owner (the value the `index` option
   * names), newest activity first: what a "your devices" page shows. Never
   * the token. Costs that owner's sessions on a store with an owner index
   * (all four stores of this package), every session on other stores.
   *
   * @param owner The owner value, such as a user id.
   * @param request The current request, to mark its session `current`.
   * @returns The sessions.
   * @throws {TypeError} Without the `index` option, or for an owner that
   * is not a non-empty string or a finite number.
   *
   * @example Listing a user's devices
   * ```ts
   * import { MemoryStore, SessionManager } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * await using store = new MemoryStore();
   * const sessions = new SessionManager<{ user: string }>({
   *   store,
   *   index: "user",
   * });
   * for (let device = 0; device < 2; device++) {
   *   await sessions.withToken(undefined, (session) => {
   *     session.put("user", "ada");
   *   });
   * }
   * const devices = await sessions.listBy("ada");
   * assert.equal(devices.length, 2);
   * assert.equal(devices[0]!.current, false);
   * ```
   */
  listBy(owner: string | number, request?: Request): Promise<SessionInfo[]> {
    const current = request === undefined ? undefined : this.#keyOf(request);
    return listOwned(this.#engine, owner, current);
  }

  /**
   * Destroys every live session of one owner ("log out everywhere"), or
   * all but the current request's, with the guarantees of
   * {@linkcode Session.destroy}: requests in flight with those sessions
   * see them destroyed and send the deletion cookie, and no read, listing
   * or save under way brings one back. Sessions created after the owner's
   * sessions were read are not affected. Costs as
   * {@linkcode SessionManager.listBy}.
   *
   * If the store fails to delete a session, every other deletion is still
   * tried and then the first failure is thrown: the sessions not deleted
   * stay valid, and calling again deletes them.
   *
   * @param owner The owner value, such as a user id.
   * @param options `except`: a request whose session stays; `id`: the one
   * session (an id from {@linkcode SessionManager.listBy}) to destroy.
   * @returns How many sessions were destroyed.
   * @throws {TypeError} As {@linkcode SessionManager.listBy}, for an
   * unknown option name, or an `id` that is not a non-empty string.
   * @throws What the store's `delete` throws.
   *
   * @example Logging a user out on every other device
   * ```ts
   * import { MemoryStore, SessionManager } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * await using store = new MemoryStore();
   * const sessions = new SessionManager<{ user: string }>({
   *   store,
   *   index: "user",
   * });
   * const phone = await sessions.withToken(undefined, (session) => {
   *   session.put("user", "ada");
   * });
   * assert.equal(await sessions.destroyBy("ada"), 1);
   * const after = await sessions.withToken(phone.token, (s) => s.get("user"));
   * assert.equal(after.value, undefined);
   * ```
   *
   * @example Logging out one device from a "your devices" page
   * ```ts
   * import { MemoryStore, SessionManager } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * await using store = new MemoryStore();
   * const sessions = new SessionManager<{ user: string }>({
   *   store,
   *   index: "user",
   * });
   * for (let device = 0; device < 2; device++) {
   *   await sessions.withToken(undefined, (s) => s.put("user", "ada"));
   * }
   * const [, older] = await sessions.listBy("ada");
   * assert.equal(await sessions.destroyBy("ada", { id: older!.id }), 1);
   * assert.equal((await sessions.listBy("ada")).length, 1);
   * ```
   */
  async destroyBy(
    owner: string | number,
    options: DestroyByOptions = {},
  ): Promise<number> {
    const action = "destroy sessions";
    assertKnownOptions(options, DESTROY_BY_OPTIONS, action);
    const { except, id } = options;
    if (id !== undefined && (typeof id !== "string" || id === "")) {
      throw new TypeError(
        `Cannot ${action}: option "id" must be a string from listBy()`,
      );
    }
    const keptKey = except === undefined ? undefined : this.#keyOf(except);
    return await destroyOwned(this.#engine, owner, { keptKey, id });
  }

  /**
   * Rewrites every session encrypted with an older key of the
   * `encryption` option with the first one, leaving its data, expiry and
   * last-seen time unchanged, so the older keys can then be removed.
   *
   * Safe while this manager serves requests: each rewrite reads the
   * session again and is queued with the requests' saves of it. Not safe
   * against other processes writing the same store (Redis or Deno KV
   * shared by several servers): a save another server makes between this
   * rewrite's read and write of one session is lost. There, run it with one
   * server up, or wait `lifetime` after the key stopped being first: no
   * session written under it is alive then. Reads every session.
   *
   * @returns How many sessions were rewritten, and how many no key reads.
   * @throws {TypeError} Without the `encryption` option, or when the store
   * has no `all()`.
   *
   * @example Rotating a key out
   * ```ts
   * import { MemoryStore, SessionManager } from "@x/buntstore";
   * import assert from "node:assert/strict";
   *
   * const oldKey = crypto.getRandomValues(new Uint8Array(32));
   * const newKey = crypto.getRandomValues(new Uint8Array(32));
   * await using store = new MemoryStore();
   * const before = new SessionManager({ store, encryption: { keys: [oldKey] } });
   * const { token } = await before.withToken(undefined, (s) => s.put("n", 1));
   *
   * const during = new SessionManager({
   *   store,
   *   encryption: { keys: [newKey, oldKey] },
   * });
   * assert.deepEqual(await during.reencrypt(), { reencrypted: 1, unreadable: 0 });
   *
   * const after = new SessionManager({ store, encryption: { keys: [newKey] } });
   * const read = await after.withToken(token, (s) => s.get("n"));
   * assert.equal(read.value, 1);
   * ```
   */
  reencrypt(): Promise<ReencryptResult> {
    return reencryptSessions(this.#engine);
  }

  /** The store key of the session `request` uses (or sent), if any. */
  #keyOf(request: Request): string | undefined {
    const token = this.#contexts.get(request)?.handle?.token ||
      readToken(request.headers.get("cookie"), this.#cookie.name);
    return token ? this.#engine.hasher.keyOf(token) : undefined;
  }

  #handle(
    state: SessionState,
    token: string | undefined,
    request: Request,
  ): SessionHandle<T> {
    return new SessionHandle<T>(this.#engine, state, token, {
      request,
      cookie: this.#cookie,
      listing: false,
    });
  }

  /** {@linkcode SessionManager.wrap}'s answer to a handler that threw. */
  async #failed(request: Request, error: unknown): Promise<Response> {
    await this.discard(request);
    if (isStoreFailure(error)) return await this.#onError(error, request);
    throw error;
  }

  /** {@linkcode SessionManager.wrap}'s answer to a handler's response. */
  #answered(
    request: Request,
    response: Response,
  ): Response | Promise<Response> {
    // Frameworks (Hono, oak) answer a thrown error with a 5xx before
    // wrap sees it: a server error is a failed request all the same.
    if (response.status >= 500) {
      return this.discard(request).then(() => response);
    }
    return this.#finalize(request, response);
  }

  /**
   * {@linkcode SessionManager.finalize}, answering synchronously when the
   * session needs no write (the common read-only request).
   */
  #finalize(
    request: Request,
    response: Response,
  ): Response | Promise<Response> {
    let result;
    try {
      result = this.#finish(request);
    } catch (error) {
      return this.#replaceWithError(request, response, error);
    }
    if (result instanceof Promise) {
      return result.then(
        (setCookie) => withSessionHeaders(response, setCookie),
        (error) => this.#replaceWithError(request, response, error),
      );
    }
    return withSessionHeaders(response, result);
  }

  /** The `onError` answer that replaces `response` after a failed commit. */
  #replaceWithError(
    request: Request,
    response: Response,
    error: unknown,
  ): Response | Promise<Response> {
    // The handler's response is replaced: close a stream it holds open.
    cancelBody(response);
    return this.#onError(error, request);
  }

  /**
   * Returns `null` when the request's session was never used (or already
   * finished), else the `Set-Cookie` value or `undefined` for none.
   */
  #finish(
    request: Request,
  ): string | undefined | null | Promise<string | undefined | null> {
    const context = this.#contexts.get(request);
    if (context === undefined || context.finalized) return null;
    context.finalized = true;
    if (context.handle !== undefined) return context.handle[FINISH]();
    return context.promise.then(
      (handle) => (handle as SessionHandle<T>)[FINISH](),
      // The load failure reached the handler, which answered anyway.
      () => null,
    );
  }
}

function defaultOnError(error: unknown, request: Request): Response {
  console.error(`Session error on ${request.method} ${request.url}:`, error);
  return new Response("Internal Server Error", { status: 500 });
}

/**
 * `response` with the session headers for `setCookie` (the result of a
 * commit: `null` when the session was not used), or a copy of it with them
 * when its headers are immutable (`Response.redirect()`, `fetch()`).
 */
function withSessionHeaders(
  response: Response,
  setCookie: string | undefined | null,
): Response {
  if (setCookie === null) return response;
  try {
    writeHeaders(response.headers, setCookie);
    return response;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    const copy = new Response(response.body, response);
    writeHeaders(copy.headers, setCookie);
    return copy;
  }
}

function ignore(): void {}

function cancelBody(response: Response): void {
  // A body that is already locked or closed needs no cancelling; the
  // rejection says only that, so it is safe to ignore.
  response.body?.cancel().catch(() => {});
}
