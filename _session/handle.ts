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
import { MAX_DATE_MILLIS } from "./options.ts";
import {
  type CookieSettings,
  deletionCookie,
  isSecure,
  sessionCookie,
} from "./cookie.ts";

/** Runs the end-of-request commit; not part of the public interface. */
export const FINISH: unique symbol = Symbol("finish");
/** Undoes a failed request's changes; not part of the public interface. */
export const ABORT: unique symbol = Symbol("abort");
/** What a client must keep after the commit; not part of the interface. */
export const KEPT: unique symbol = Symbol("kept");

/** Marks a value that was not set, in the change journal. */
const ABSENT: unique symbol = Symbol("absent");
/** The journal's key for the remember-me flag. */
const REMEMBER_ME: unique symbol = Symbol("rememberMe");
/** The journal's key for the absolute deadline. */
const DEADLINE: unique symbol = Symbol("deadline");

/** One key's value before this request first changed it, and after. */
interface Change {
  before: unknown;
  after: unknown;
}

/** Where the handle's cookie goes: the request and cookie settings. */
export interface HandleContext {
  /** The request whose response carries the cookie; none by token. */
  request: Request | undefined;
  cookie: CookieSettings;
  /** A session listed by `iterate()`, which no client holds. */
  listing: boolean;
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
  /**
   * What this request changed in a state it shares, so that a failed
   * request can take exactly its own changes back.
   */
  #journal: Map<string | symbol, Change> | undefined;
  /** The state's version before this request's first change. */
  #baseVersion = -1;
  /** Versions this request added. */
  #bumps = 0;
  /** The state was made for this request (renewal, restart after destroy). */
  #owned = false;
  /** The store deletion this request started (destroy, renewal), if any. */
  #deletion: Promise<void> | undefined;
  /** The end-of-request commit, once it went asynchronous. */
  #finishing: Promise<unknown> | undefined;

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
    this.#set(key, copy);
  }

  pop<K extends keyof T & string>(key: K): T[K] | undefined {
    const values = this.#state.values;
    if (!values.has(key)) return undefined;
    const value = values.get(key) as T[K];
    this.#set(key, ABSENT);
    return value;
  }

  remove(key: keyof T & string): void {
    if (!this.#state.values.has(key)) return;
    this.#set(key, ABSENT);
  }

  clear(): void {
    if (this.#state.values.size === 0) return;
    for (const key of [...this.#state.values.keys()]) this.#set(key, ABSENT);
  }

  rememberMe(value: boolean): void {
    if (typeof value !== "boolean") {
      throw new TypeError(
        `Cannot set remember-me: expected a boolean, got ${typeof value}`,
      );
    }
    const state = this.#writable();
    this.#record(REMEMBER_ME, state.rememberMe, value);
    state.rememberMe = value;
    this.#changed();
  }

  setDeadline(deadline: Date): void {
    const millis = deadline instanceof Date ? deadline.getTime() : NaN;
    if (Number.isNaN(millis)) {
      throw new TypeError(
        "Cannot set the session deadline: expected a valid Date",
      );
    }
    if (millis >= MAX_DATE_MILLIS) {
      throw new RangeError(
        `Cannot set the session deadline: ${millis} is past the last date a Date can hold`,
      );
    }
    const state = this.#writable();
    this.#record(DEADLINE, state.deadline, millis);
    state.deadline = millis;
    this.#changed();
  }

  async renewToken(): Promise<void> {
    this.#assertCookieCanChange("renew the session token");
    const old = this.#writable();
    this.#status = "modified";
    const [next, deleted] = this.#engine.renew(old);
    this.#adopt(next);
    this.#deletion = deleted;
    await deleted;
  }

  async destroy(): Promise<void> {
    this.#assertCookieCanChange("destroy the session");
    this.#status = "destroyed";
    this.#deletion = this.#engine.destroy(this.#state);
    await this.#deletion;
  }

  async commit(): Promise<void> {
    // The response's own commit is still choosing its cookie: a commit
    // from its stream must not race it, and the cookie then covers both.
    if (this.#finishing !== undefined) await this.#finishing.catch(ignore);
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
    // Committed on purpose: a later failure of the request keeps it.
    this.#owned = false;
    this.#forgetChanges();
  }

  /**
   * The token and expiry the client must keep after {@linkcode FINISH}, or
   * `undefined` when there is no session to keep.
   */
  [KEPT](): { token: string; expiry: Date } | undefined {
    const state = this.#state;
    if (state.destroyed || state.key === "") return undefined;
    return { token: state.token, expiry: this.expiry };
  }

  /**
   * Saves what needs saving and returns the `Set-Cookie` value the response
   * must carry, if any. Called once, when the response is ready; answers
   * synchronously when nothing needs saving, the common read-only case.
   */
  [FINISH](): string | undefined | Promise<string | undefined> {
    this.#finished = true;
    const deletion = this.#deletion ?? this.#state.deletion;
    const result = deletion !== undefined
      ? this.#finishAfter(deletion)
      : this.#finishNow();
    if (result instanceof Promise) this.#finishing = result;
    return result;
  }

  #finishNow(): string | undefined | Promise<string | undefined> {
    const state = this.#state;
    if (this.#engine.needsSave(state)) return this.#saveAndFinish(state);
    this.#engine.release(state);
    return this.#cookie(false);
  }

  /**
   * Finishes once the session's deletion is over. If the store could not
   * delete, the request fails even when its handler caught the error: no
   * response may tell the browser it is logged out, or hand it a renewed
   * token, while the old one is still valid.
   */
  async #finishAfter(deletion: Promise<void>): Promise<string | undefined> {
    try {
      await deletion;
    } catch (error) {
      const state = this.#state;
      try {
        await this.#rollBack(state);
      } finally {
        this.#engine.release(state);
      }
      throw error;
    }
    return await this.#finishNow();
  }

  async #saveAndFinish(state: SessionState): Promise<string | undefined> {
    let saved;
    try {
      saved = await this.#engine.save(state);
    } catch (error) {
      await this.#rollBack(state);
      throw error;
    } finally {
      this.#engine.release(state);
    }
    return this.#cookie(saved);
  }

  /**
   * Takes back what this request changed, for a request that failed, and
   * ends its use of the session. Does nothing after {@linkcode FINISH}.
   */
  async [ABORT](): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    const state = this.#state;
    try {
      await this.#rollBack(state);
    } finally {
      this.#engine.release(state);
    }
  }

  async #rollBack(state: SessionState): Promise<void> {
    if (this.#owned) return this.#engine.drop(state);
    if (state.destroyed || !this.#revert(state)) return;
    if (state.savedVersion > this.#baseVersion) {
      // A concurrent request committed the shared state after this one
      // changed it, so the store may hold these changes: write it again.
      state.version++;
      try {
        await this.#engine.save(state);
      } catch {
        // The request's own failure is what gets reported; a failed save
        // has already dropped the state from memory, so the next request
        // reads what the store holds.
      }
    } else if (state.version === this.#baseVersion + this.#bumps) {
      // Only this request changed it since the last save: it is clean again.
      state.version = this.#baseVersion;
    }
  }

  /**
   * Restores every value this request set that nobody has set since.
   * Returns whether anything changed.
   */
  #revert(state: SessionState): boolean {
    let reverted = false;
    for (const [key, { before, after }] of this.#journal ?? []) {
      if (key === REMEMBER_ME) {
        if (state.rememberMe !== after) continue;
        state.rememberMe = before as boolean | undefined;
      } else if (key === DEADLINE) {
        if (state.deadline !== after) continue;
        state.deadline = before as number;
      } else {
        const values = state.values;
        const current = values.has(key as string)
          ? values.get(key as string)
          : ABSENT;
        if (current !== after) continue;
        if (before === ABSENT) values.delete(key as string);
        else values.set(key as string, before);
      }
      reverted = true;
    }
    return reverted;
  }

  #cookie(saved: boolean): string | undefined {
    const state = this.#state;
    const { request, cookie } = this.#context;
    if (request === undefined) return undefined;
    if (state.key === "" && !state.destroyed) return undefined;
    if (state.destroyed) {
      // Renewed by another request, whose response sets the new cookie:
      // deleting the cookie here could undo that in the browser.
      if (state.renewed) return undefined;
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
   * brand-new session, as in scs. A state renewed away by another request
   * stays: changes to it are never saved.
   */
  #writable(): SessionState {
    const state = this.#state;
    if (!state.destroyed || state.renewed) return state;
    this.#assertCookieCanChange("start a new session");
    if (this.#context.listing) {
      throw new Error(
        "Cannot start a new session: the session was destroyed, and a session listed by iterate() is outside a request",
      );
    }
    this.#adopt(this.#engine.fresh());
    return this.#state;
  }

  /** Switches this handle to a state made for it alone. */
  #adopt(state: SessionState): void {
    this.#engine.release(this.#state);
    this.#state = state;
    state.users++;
    this.#owned = true;
    this.#forgetChanges();
  }

  #forgetChanges(): void {
    this.#journal = undefined;
    this.#baseVersion = -1;
    this.#bumps = 0;
  }

  /** Sets (or, with `ABSENT`, deletes) one value and journals it. */
  #set(key: string, value: unknown): void {
    const values = this.#writable().values;
    this.#record(key, values.has(key) ? values.get(key) : ABSENT, value);
    if (value === ABSENT) values.delete(key);
    else values.set(key, value);
    this.#changed();
  }

  #record(key: string | symbol, before: unknown, after: unknown): void {
    if (this.#owned) return;
    // Made on the first change, so reads allocate no journal.
    this.#journal ??= new Map();
    const change = this.#journal.get(key);
    if (change === undefined) this.#journal.set(key, { before, after });
    else change.after = after;
  }

  #changed(): void {
    const state = this.#state;
    if (this.#baseVersion < 0) this.#baseVersion = state.version;
    state.version++;
    this.#bumps++;
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

function ignore(): void {}
