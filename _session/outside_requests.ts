/**
 * Sessions used outside a request's cookie: by explicit token (API
 * clients), and every session of the store (`iterate`).
 *
 * @module
 */

import type { Session, TokenSessionResult } from "./types.ts";
import type { SessionEngine } from "./engine.ts";
import type { CookieSettings } from "./cookie.ts";
import { ABORT, FINISH, KEPT, SessionHandle } from "./handle.ts";
import { isWellFormedToken } from "./token.ts";

/** `SessionManager.withToken`: see its documentation. */
export async function runWithToken<T extends object, R>(
  engine: SessionEngine,
  cookie: CookieSettings,
  token: string | undefined,
  fn: (session: Session<T>) => R | Promise<R>,
): Promise<TokenSessionResult<Awaited<R>>> {
  const sent = typeof token === "string" && isWellFormedToken(token)
    ? token
    : undefined;
  // peek() answers for a missing token, so load() gets a real one.
  const state = engine.peek(sent) ?? await engine.load(sent!);
  const handle = new SessionHandle<T>(engine, state, sent, {
    request: undefined,
    cookie,
    listing: false,
  });
  let value;
  try {
    value = await fn(handle);
  } catch (error) {
    await handle[ABORT]();
    throw error;
  }
  await handle[FINISH]();
  const kept = handle[KEPT]();
  return { value, token: kept?.token, expiry: kept?.expiry };
}

/** `SessionManager.iterate`: see its documentation. */
export async function iterateSessions<T extends object>(
  engine: SessionEngine,
  cookie: CookieSettings,
  fn: (session: Session<T>) => unknown,
): Promise<void> {
  const store = engine.settings.store;
  if (typeof store.all !== "function") {
    throw new TypeError(
      "Cannot iterate sessions: the store has no all() method",
    );
  }
  const context = { request: undefined, cookie, listing: true };
  const registry = engine.registry;
  // A logout racing the walk must not be undone by adopting its entry.
  registry.startListing();
  try {
    for (const [key, data] of await store.all()) {
      const state = engine.adopt(key, data);
      if (state === undefined) continue;
      const handle = new SessionHandle<T>(engine, state, undefined, context);
      try {
        await fn(handle);
      } catch (error) {
        await handle[ABORT]();
        throw error;
      }
      await handle[FINISH]();
    }
  } finally {
    registry.endListing();
  }
}
