/**
 * The per-request view of a shared session state: it records what this
 * request did (status, the token the client sent) and decides which cookie
 * the response carries.
 *
 * @module
 */

import type { Session, SessionStatus } from "./types.ts";
import type { SessionEngine, SessionState } from "./engine.ts";
import { copyValue } from "./codec.ts";
import {
  type CookieSettings,
  deletionCookie,
  isSecure,
  sessionCookie,
} from "./cookie.ts";

/** Runs the end-of-request commit; not part of the public interface. */
export const FINISH: unique symbol = Symbol("finish");

/** Where the handle's cookie goes: the request and cookie settings. */
export interface HandleContext {
  request: Request | undefined;
  cookie: CookieSettings;
}

/** One request's (or one listed entry's) access to a session. */
export class SessionHandle<T extends object> implements Session<T> {
  readonly #engine: SessionEngine;
  readonly #context: HandleContext;
  #state: SessionState;
  #status: SessionStatus = "unmodified";
  /** The token the browser holds: the one it sent, then any we set. */
  #browserToken: string | undefined;
  #finished = false;

  constructor(
    engine: SessionEngine,
    state: SessionState,
    sentToken: string | undefined,
    context: HandleContext,
  ) {
    this.#engine = engine;
    this.#state = state;
    this.#browserToken = sentToken;
    this.#context = context;
    state.users++;
  }

  get status(): SessionStatus {
    return this.#status;
  }

  get token(): string {
    return this.#state.token;
  }

  get deadline(): Date {
    return new Date(this.#state.deadline);
  }

  get expiry(): Date {
    const state = this.#state;
    return new Date(
      this.#engine.expiresAt(
        state,
        state.savedAt === 0 ? this.#engine.settings.now() : state.savedAt,
      ),
    );
  }

  get<K extends keyof T & string>(key: K): T[K] | undefined {
    return this.#state.values.get(key) as T[K] | undefined;
  }

  has(key: keyof T & string): boolean {
    return this.#state.values.has(key);
  }

  keys(): (keyof T & string)[] {
    return [...this.#state.values.keys()].sort() as (keyof T & string)[];
  }

  put<K extends keyof T & string>(key: K, value: T[K]): void {
    const copy = copyValue(key, value, this.#engine.settings.codec);
    this.#writable().values.set(key, copy);
    this.#changed();
  }

  pop<K extends keyof T & string>(key: K): T[K] | undefined {
    const values = this.#state.values;
    if (!values.has(key)) return undefined;
    const value = values.get(key) as T[K];
    this.#writable().values.delete(key);
    this.#changed();
    return value;
  }

  remove(key: keyof T & string): void {
    if (!this.#state.values.has(key)) return;
    this.#writable().values.delete(key);
    this.#changed();
  }

  clear(): void {
    if (this.#state.values.size === 0) return;
    this.#writable().values.clear();
    this.#changed();
  }

  rememberMe(value: boolean): void {
    if (typeof value !== "boolean") {
      throw new TypeError(
        `Cannot set remember-me: expected a boolean, got ${typeof value}`,
      );
    }
    this.#writable().rememberMe = value;
    this.#changed();
  }

  async renewToken(): Promise<void> {
    this.#assertCookieCanChange("renew the session token");
    const state = this.#writable();
    this.#status = "modified";
    await this.#engine.renew(state);
  }

  async destroy(): Promise<void> {
    this.#assertCookieCanChange("destroy the session");
    this.#status = "destroyed";
    await this.#engine.destroy(this.#state);
  }

  async commit(): Promise<void> {
    const state = this.#state;
    const needsNewCookie = state.key === ""
      ? state.version !== state.savedVersion
      : state.token !== this.#browserToken;
    if (
      this.#finished && this.#context.request !== undefined && needsNewCookie
    ) {
      throw new Error(
        "Cannot commit session: its token changed after the response headers were sent",
      );
    }
    await this.#engine.save(state);
  }

  /**
   * Saves what needs saving and returns the `Set-Cookie` value the response
   * must carry, if any. Called once, when the response is ready; answers
   * synchronously when nothing needs saving, the common read-only case.
   */
  [FINISH](): string | undefined | Promise<string | undefined> {
    this.#finished = true;
    const state = this.#state;
    if (this.#engine.needsSave(state)) return this.#saveAndFinish(state);
    this.#engine.release(state);
    return this.#cookie(false);
  }

  async #saveAndFinish(state: SessionState): Promise<string | undefined> {
    try {
      return this.#cookie(await this.#engine.save(state));
    } finally {
      this.#engine.release(state);
    }
  }

  #cookie(saved: boolean): string | undefined {
    const state = this.#state;
    const { request, cookie } = this.#context;
    if (request === undefined) return undefined;
    if (state.key === "" && !state.destroyed) return undefined;
    if (state.destroyed) {
      // Destroyed here or by a concurrent request of the same session.
      if (this.#browserToken === undefined) return undefined;
      this.#browserToken = undefined;
      return deletionCookie(cookie, isSecure(cookie, request));
    }
    const known = state.token === this.#browserToken;
    if (!saved && this.#status === "unmodified" && known) return undefined;
    const persistent = state.rememberMe ?? cookie.persist;
    const at = this.#engine.expiresAt(state);
    // A write that moves neither the token nor the cookie's expiry (no idle
    // timeout) leaves the browser's cookie right: skip the headers.
    const sent = `${state.token} ${persistent ? Math.floor(at / 1000) : ""}`;
    if (known && state.cookieSent === sent) return undefined;
    state.cookieSent = sent;
    this.#browserToken = state.token;
    return sessionCookie(cookie, isSecure(cookie, request), state.token, {
      persistent,
      at,
      now: this.#engine.settings.now(),
    });
  }

  /**
   * Returns the state to change. After a destroy, a change starts a
   * brand-new session, as in scs.
   */
  #writable(): SessionState {
    if (this.#state.destroyed) {
      this.#assertCookieCanChange("start a new session");
      this.#engine.release(this.#state);
      this.#state = this.#engine.fresh();
      this.#state.users++;
    }
    return this.#state;
  }

  #changed(): void {
    this.#state.version++;
    this.#status = "modified";
  }

  #assertCookieCanChange(action: string): void {
    if (this.#finished && this.#context.request !== undefined) {
      throw new Error(
        `Cannot ${action}: the response headers were already sent`,
      );
    }
  }
}
