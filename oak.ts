/**
 * oak middleware for {@linkcode SessionManager}: every later middleware
 * gets `ctx.state.session`, typed by the manager's data and loaded on
 * first `await`; the session's headers are written into
 * `ctx.response.headers` before oak sends the response, and a request that
 * failed commits nothing. This entry point imports nothing of oak's: it
 * names only the few members of oak's `Context` it uses, so it works with
 * JSR's `@oak/oak` and npm's `@oakserver/oak` alike.
 *
 * @example A visit counter (needs `--allow-net`)
 * ```ts ignore
 * import { MemoryStore, SessionManager } from "@x/buntstore";
 * import { type SessionState, sessionMiddleware } from "@x/buntstore/oak";
 * import { Application } from "@oak/oak";
 *
 * type Data = { visits: number };
 * const sessions = new SessionManager<Data>({ store: new MemoryStore() });
 * const app = new Application<SessionState<Data>>();
 * app.use(sessionMiddleware(sessions));
 * app.use(async (ctx) => {
 *   const session = await ctx.state.session; // loaded here, on first use
 *   const visits = (session.get("visits") ?? 0) + 1;
 *   session.put("visits", visits);
 *   ctx.response.body = `visit ${visits}`;
 * });
 * await app.listen({ port: 8000 });
 * ```
 *
 * @module
 */

import type { Session, SessionManager } from "./session.ts";
import { LazySession } from "./_session/lazy.ts";

/**
 * The state {@linkcode sessionMiddleware} sets: `ctx.state.session`, the
 * request's session, loaded when first awaited. Give it to oak as
 * `new Application<SessionState<Data>>()`.
 *
 * @typeParam T The shape of the session's values.
 */
export type SessionState<T extends object = Record<string, unknown>> = {
  /** The request's session: `const session = await ctx.state.session`. */
  session: PromiseLike<Session<T>>;
};

/** The members of a `Headers` object the middleware uses. */
export interface HeadersLike {
  /**
   * Returns a header's value.
   *
   * @param name The header name.
   * @returns The value, or `null`.
   */
  get(name: string): string | null;
  /**
   * Sets a header.
   *
   * @param name The header name.
   * @param value The value.
   */
  set(name: string, value: string): void;
  /**
   * Adds a value to a header.
   *
   * @param name The header name.
   * @param value The value.
   */
  append(name: string, value: string): void;
  /**
   * Returns every header.
   *
   * @returns Name and value pairs.
   */
  entries(): Iterable<[string, string]>;
}

/**
 * The members of oak's `Context` (oak 14 or later) that
 * {@linkcode sessionMiddleware} uses, so that this module needs nothing of
 * oak's.
 */
export interface OakContext {
  /** oak's request. */
  readonly request: {
    /**
     * The native `Request` (on Deno's own server, or `app.handle()`);
     * `undefined` when oak serves through Node's `http`.
     */
    readonly source?: unknown;
    /** The request URL. */
    readonly url: URL;
    /** The request method. */
    readonly method: string;
    /** The request headers. */
    readonly headers: HeadersLike;
  };
  /** oak's response, built after the middleware chain. */
  readonly response: {
    /** The status so far. */
    readonly status: number;
    /** The mutable response headers. */
    readonly headers: HeadersLike;
  };
  /** The request's state; the middleware sets `session` on it. */
  state: object;
}

/**
 * An oak middleware.
 *
 * @typeParam C The context oak passes.
 */
export type SessionMiddleware<C extends OakContext = OakContext> = (
  ctx: C,
  next: () => Promise<unknown>,
) => Promise<void>;

/**
 * Returns an oak middleware that sets `ctx.state.session` for the
 * middleware after it. One that never awaits it costs one property set: no
 * cookie parsing, no store read, no headers. After the chain, the session
 * is committed and `Set-Cookie`, `Vary: Cookie` and `Cache-Control` are
 * written into `ctx.response.headers`.
 *
 * A request commits nothing when a later middleware threw (`ctx.throw()`
 * included; the error goes on to oak, which answers it) or the response
 * status is 5xx: what it changed is taken back, as
 * {@linkcode SessionManager.discard} does. A store failure while loading
 * is thrown from `await ctx.state.session`; one while committing is thrown
 * from the middleware, and oak answers both with a 500.
 *
 * The session is keyed by `ctx.request.source`, the native `Request`.
 * Where there is none (npm's `@oakserver/oak` serves through Node's
 * `http`, under Deno too), the middleware makes a `Request` of oak's URL,
 * method and headers on first use; {@linkcode requestOf} returns it, for
 * `listBy` and `destroyBy`.
 *
 * @param manager The session manager.
 * @returns The middleware; register it before the ones that use it.
 */
export function sessionMiddleware<T extends object>(
  manager: SessionManager<T>,
): SessionMiddleware {
  return async function session(ctx, next) {
    const lazy = new LazySession(manager, () => requestOf(ctx));
    (ctx.state as SessionState<T>).session = lazy;
    await lazy.around(next, () => ctx.response.status >= 500, () =>
      // oak's headers are a Headers object (undici's on npm's build).
      manager.finalizeHeaders(
        lazy.request,
        ctx.response.headers as unknown as Headers,
      ));
  };
}

const MADE = new WeakMap<object, Request>();

/**
 * Returns the `Request` that sessions of `ctx` are keyed by: oak's
 * `ctx.request.source`, or the one {@linkcode sessionMiddleware} made
 * where oak gives none. Pass it to `sessions.listBy()`,
 * `sessions.destroyBy({ except })` or `sessions.of()`.
 *
 * @param ctx oak's context.
 * @returns The request.
 * @throws {TypeError} When `ctx.request` has neither a `source` nor a URL.
 *
 * @example Listing a user's devices, this one marked
 * ```ts
 * import { MemoryStore, SessionManager } from "@x/buntstore";
 * import { type OakContext, requestOf } from "@x/buntstore/oak";
 * import assert from "node:assert/strict";
 *
 * await using store = new MemoryStore();
 * const sessions = new SessionManager<{ user: string }>({
 *   store,
 *   index: "user",
 * });
 * // What npm's oak gives on Node's http: a URL and headers, no source.
 * const ctx: OakContext = {
 *   request: {
 *     url: new URL("https://example.com/devices"),
 *     method: "GET",
 *     headers: new Headers(),
 *   },
 *   response: { status: 200, headers: new Headers() },
 *   state: {},
 * };
 * (await sessions.of(requestOf(ctx))).put("user", "ada");
 * await sessions.finalizeHeaders(requestOf(ctx), new Headers());
 * const [device] = await sessions.listBy("ada", requestOf(ctx));
 * assert.equal(device?.current, true);
 * ```
 */
export function requestOf(ctx: OakContext): Request {
  const { request } = ctx;
  if (request.source instanceof Request) return request.source;
  let made = MADE.get(request);
  if (made !== undefined) return made;
  if (!(request.url instanceof URL)) {
    throw new TypeError(
      "Cannot use the session: oak's context has no Request and no URL",
    );
  }
  // Only the headers matter here: the manager reads Cookie (and, with
  // trustProxy, X-Forwarded-Proto) and the URL's scheme, never the body.
  made = new Request(request.url, {
    method: request.method,
    headers: [...request.headers.entries()],
  });
  MADE.set(request, made);
  return made;
}
