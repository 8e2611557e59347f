/**
 * Hono middleware for {@linkcode SessionManager}: every route gets
 * `c.var.session`, typed by the manager's data and loaded on first
 * `await`; the session is committed before the response leaves, and a
 * request that failed commits nothing. This entry point imports nothing
 * of Hono's, not even its types: it names only the few members of Hono 4's
 * `Context` it uses, so it adds no dependency to your app.
 *
 * @example A visit counter
 * ```ts
 * import { MemoryStore, SessionManager } from "@x/buntstore";
 * import { type SessionEnv, sessionMiddleware } from "@x/buntstore/hono";
 * import { Hono } from "hono";
 * import assert from "node:assert/strict";
 *
 * type Data = { visits: number };
 * await using store = new MemoryStore();
 * const sessions = new SessionManager<Data>({ store });
 * const app = new Hono<SessionEnv<Data>>();
 * app.use(sessionMiddleware(sessions));
 * app.get("/", async (c) => {
 *   const session = await c.var.session; // loaded here, on first use
 *   const visits = (session.get("visits") ?? 0) + 1;
 *   session.put("visits", visits);
 *   return c.text(`visit ${visits}`);
 * });
 *
 * const first = await app.request("https://example.com/");
 * const cookie = first.headers.get("set-cookie")!.split(";")[0]!;
 * const second = await app.request("https://example.com/", {
 *   headers: { cookie },
 * });
 * assert.equal(await second.text(), "visit 2");
 * ```
 *
 * @module
 */

import type { Session, SessionManager } from "./session.ts";
import { LazySession } from "./_session/lazy.ts";

/**
 * The variables {@linkcode sessionMiddleware} sets: `c.var.session`, the
 * request's session, loaded when first awaited.
 *
 * @typeParam T The shape of the session's values.
 */
export type SessionVariables<T extends object = Record<string, unknown>> = {
  /** The request's session: `const session = await c.var.session`. */
  session: PromiseLike<Session<T>>;
};

/**
 * The Hono environment of an app that uses {@linkcode sessionMiddleware}:
 * `new Hono<SessionEnv<Data>>()`. Combine it with your own bindings and
 * variables as `{ Bindings: ...; Variables: SessionVariables<Data> & ... }`.
 *
 * @typeParam T The shape of the session's values.
 */
export type SessionEnv<T extends object = Record<string, unknown>> = {
  /** `c.var.session`. */
  Variables: SessionVariables<T>;
};

/**
 * The members of Hono 4's `Context` that {@linkcode sessionMiddleware}
 * uses, so that this module needs nothing of Hono's.
 *
 * @typeParam T The shape of the session's values.
 */
export interface HonoContext<T extends object = Record<string, unknown>> {
  /** Hono's request; `raw` is the native `Request`. */
  readonly req: { readonly raw: Request };
  /** The response so far; reassigned only when its headers are immutable. */
  res: Response;
  /** What the route threw, when Hono's `onError` answered it. */
  readonly error: Error | undefined;
  /**
   * Sets `c.var.session`.
   *
   * @param key `"session"`.
   * @param value The request's session, loaded when first awaited.
   */
  set(key: "session", value: PromiseLike<Session<T>>): void;
}

/**
 * A Hono middleware (`MiddlewareHandler` in Hono's types).
 *
 * @typeParam T The shape of the session's values.
 */
export type SessionMiddleware<T extends object = Record<string, unknown>> = (
  c: HonoContext<T>,
  next: () => Promise<void>,
) => Promise<void>;

/**
 * Returns a Hono middleware that sets `c.var.session` for the routes
 * registered after it. A route that never awaits it costs one `c.set`: no
 * cookie parsing, no store read, no headers. After the route, the session
 * is committed and `Set-Cookie`, `Vary: Cookie` and `Cache-Control` are
 * added to `c.res` in place (`c.res` is reassigned only when its headers
 * are immutable, since Hono copies a response assigned to it).
 *
 * A request commits nothing when its route threw (Hono's `onError`
 * answered it and set `c.error`, `HTTPException` included) or answered
 * 5xx: what it changed is taken back, as {@linkcode SessionManager.discard}
 * does. A store failure while loading is thrown from `await c.var.session`
 * and reaches Hono's `onError`; one while committing goes to the manager's
 * `onError`. A streaming route that changes the session after returning
 * its response calls `await session.commit()` itself, and should await
 * the session before it returns the response, so the cookie can go out.
 *
 * @typeParam T The shape of the session's values.
 * @param manager The session manager.
 * @returns The middleware; register it before the routes that use it.
 *
 * @example A failed request commits nothing
 * ```ts
 * import { MemoryStore, SessionManager } from "@x/buntstore";
 * import { type SessionEnv, sessionMiddleware } from "@x/buntstore/hono";
 * import { Hono } from "hono";
 * import assert from "node:assert/strict";
 *
 * type Data = { cart: string[] };
 * await using store = new MemoryStore();
 * const sessions = new SessionManager<Data>({ store });
 * const app = new Hono<SessionEnv<Data>>()
 *   .use(sessionMiddleware(sessions))
 *   .get("/checkout", async (c) => {
 *     (await c.var.session).put("cart", ["book"]);
 *     throw new Error("payment failed");
 *   });
 * app.onError((_error, c) => c.text("failed", 500));
 *
 * const response = await app.request("https://example.com/checkout");
 * assert.equal(response.status, 500);
 * assert.equal(response.headers.get("set-cookie"), null);
 * assert.equal(store.size, 0);
 * ```
 */
export function sessionMiddleware<T extends object>(
  manager: SessionManager<T>,
): SessionMiddleware<T> {
  return async function session(c, next) {
    const lazy = new LazySession(manager, c.req.raw);
    c.set("session", lazy);
    // Hono rethrows what is not an Error, and answers the rest with
    // onError, setting c.error.
    await lazy.around(
      next,
      () => c.error !== undefined || c.res.status >= 500,
      async () => {
        const response = c.res;
        const finalized = await manager.finalize(lazy.request, response);
        // Assigning c.res copies the response and its headers in Hono 4.
        if (finalized !== response) c.res = finalized;
      },
    );
  };
}
