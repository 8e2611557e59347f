/**
 * The lazily loaded session the framework adapters (`hono.ts`, `oak.ts`)
 * put on their context: nothing is parsed or read until a route awaits it.
 *
 * @module
 */

import type { Session } from "./types.ts";
import type { SessionManager } from "../session.ts";

/**
 * A session that loads when first awaited; `used` tells the adapter
 * whether there is anything to commit.
 */
export class LazySession<T extends object> implements PromiseLike<Session<T>> {
  /** Whether a route awaited the session. */
  used = false;
  readonly #manager: SessionManager<T>;
  #request: Request | (() => Request);

  /**
   * @param manager Loads and commits the session.
   * @param request The request, or a function that makes it on first use
   * (oak on Node's `http` has none of its own).
   */
  constructor(
    manager: SessionManager<T>,
    request: Request | (() => Request),
  ) {
    this.#manager = manager;
    this.#request = request;
  }

  /** The request whose session this is. */
  get request(): Request {
    if (typeof this.#request === "function") this.#request = this.#request();
    return this.#request;
  }

  /**
   * Runs the rest of the framework's chain, then ends the request's use of
   * the session: a throw, or a response `failed` judges failed, takes back
   * what the request changed; otherwise `commit` runs. Nothing happens when
   * no route awaited the session.
   */
  async around(
    next: () => Promise<unknown>,
    failed: () => boolean,
    commit: () => Promise<void>,
  ): Promise<void> {
    try {
      await next();
    } catch (error) {
      // Frameworks rethrow what their error handler does not take: the
      // request failed all the same.
      if (this.used) await this.#manager.discard(this.request);
      throw error;
    }
    if (!this.used) return;
    if (failed()) return await this.#manager.discard(this.request);
    await commit();
  }

  then<A = Session<T>, B = never>(
    onfulfilled?: ((session: Session<T>) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.used = true;
    // of() returns the same promise for every call with one request.
    return this.#manager.of(this.request).then(onfulfilled, onrejected);
  }
}
