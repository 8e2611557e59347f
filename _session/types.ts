/**
 * The public types of the session middleware: options, the codec contract
 * and the per-request {@linkcode Session}.
 *
 * @module
 */

import type { SessionStore } from "../session_store.ts";

/** What a request did to its session. */
export type SessionStatus = "unmodified" | "modified" | "destroyed";

/** A session as a codec sees it. Times are Unix milliseconds. */
export interface SessionRecord {
  /** The absolute deadline, set at creation; never extended. */
  deadline: number;
  /** When the session was last saved; the idle timeout counts from here. */
  savedAt: number;
  /** When the session was created (or last renewed), when known. */
  createdAt?: number;
  /** The remember-me choice, when one was made. */
  rememberMe?: boolean;
  /** The session's values. */
  values: Record<string, unknown>;
}

/**
 * Turns session records into bytes for the store and back.
 *
 * @example Wrapping the JSON codec with a version prefix
 * ```ts
 * import {
 *   jsonSessionCodec,
 *   MemoryStore,
 *   type SessionCodec,
 *   SessionManager,
 * } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * const versioned: SessionCodec = {
 *   encode: (record) => new Uint8Array([1, ...jsonSessionCodec.encode(record)]),
 *   decode(data) {
 *     if (data[0] !== 1) throw new TypeError("Unknown session version");
 *     return jsonSessionCodec.decode(data.subarray(1));
 *   },
 * };
 * await using store = new MemoryStore();
 * const sessions = new SessionManager({ store, codec: versioned });
 * const session = await sessions.of(new Request("https://example.com/"));
 * session.put("user", "ada");
 * await session.commit();
 * const [bytes] = (await store.all()).values();
 * assert.equal(bytes![0], 1);
 * ```
 */
export interface SessionCodec {
  /**
   * Encodes a record.
   *
   * @param record The session.
   * @returns The bytes to store.
   */
  encode(record: SessionRecord): Uint8Array;
  /**
   * Decodes bytes made by {@linkcode SessionCodec.encode}; may throw, and
   * the session is then treated as missing.
   *
   * @param data The stored bytes.
   * @returns The session.
   */
  decode(data: Uint8Array): SessionRecord;
}

/** Attributes of the session cookie. */
export interface SessionCookieOptions {
  /**
   * Cookie name; with `hostPrefix` it is sent as `__Host-<name>`.
   *
   * @default {"session"}
   */
  name?: string;
  /**
   * Prefix the name with `__Host-`, which makes browsers require Secure,
   * Path=/ and no Domain, so a sibling subdomain cannot plant the cookie.
   *
   * @default {false}
   */
  hostPrefix?: boolean;
  /** Domain attribute; unset means this host only. */
  domain?: string;
  /**
   * Path attribute.
   *
   * @default {"/"}
   */
  path?: string;
  /**
   * HttpOnly attribute: hides the cookie from page scripts.
   *
   * @default {true}
   */
  httpOnly?: boolean;
  /**
   * SameSite attribute; `false` sends none.
   *
   * @default {"lax"}
   */
  sameSite?: "lax" | "strict" | "none" | false;
  /**
   * Secure attribute: `true` always, `"auto"` only when the request URL is
   * https (behind a TLS-terminating proxy the URL is http, so prefer
   * `true`), `false` never: only for plain-http development.
   *
   * @default {true}
   */
  secure?: boolean | "auto";
  /**
   * With `secure: "auto"`, also count a request as https when its
   * `X-Forwarded-Proto` header says so (its first value), as Express's
   * `trust proxy` does. Enable it only behind a proxy that sets or
   * overwrites that header: any client can send it.
   *
   * @default {false}
   */
  trustProxy?: boolean;
  /**
   * Partitioned attribute (CHIPS).
   *
   * @default {false}
   */
  partitioned?: boolean;
  /**
   * Send `Max-Age`/`Expires` so the cookie outlives the browser session;
   * `Session.rememberMe()` overrides it per session.
   *
   * @default {true}
   */
  persist?: boolean;
}

/** One of an owner's sessions, as a "your devices" page shows it. */
export interface SessionInfo {
  /**
   * A stable, non-secret identifier of the session (a digest of its store
   * key): safe to put in a page, useless as a credential.
   */
  id: string;
  /** When the session was created or last renewed (log-in), if known. */
  createdAt: Date | undefined;
  /** When it was last saved: the last request that changed or touched it. */
  lastSeen: Date;
  /** When it expires if left alone. */
  expiry: Date;
  /** Whether it is the session of the request passed in. */
  current: boolean;
}

/** Options for {@linkcode SessionManager.destroyBy}. */
export interface DestroyByOptions {
  /** Keep the session of this request (log out the other devices). */
  except?: Request;
  /**
   * Destroy only the session with this {@linkcode SessionInfo.id} (from
   * {@linkcode SessionManager.listBy}): log out one device. An id that is
   * not one of the owner's live sessions destroys nothing, so one user can
   * never end another's session by guessing ids.
   */
  id?: string;
}

/** What {@linkcode SessionManager.withToken} returns. */
export interface TokenSessionResult<R> {
  /** What the callback returned. */
  value: R;
  /**
   * The token the client must send from now on, or `undefined` when no
   * session is kept (nothing was written, or it was destroyed).
   */
  token: string | undefined;
  /** When that session expires if left alone, or `undefined`. */
  expiry: Date | undefined;
}

/**
 * Options for encrypting session data at rest (the manager's `encryption`
 * option): AES-256-GCM, each record bound to its store key.
 */
export interface SessionEncryptionOptions {
  /**
   * 32-byte random keys, as `Uint8Array` or base64 (standard or URL-safe;
   * `openssl rand -base64 32` makes one). The first encrypts; every one
   * decrypts. Put a new key first to rotate; remove an old one once no
   * session uses it ({@linkcode SessionManager.reencrypt}, or `lifetime`
   * later). Sessions under a removed key start fresh. Passwords are
   * refused, never stretched.
   */
  keys: readonly (Uint8Array | string)[];
  /**
   * Also read records that are not encrypted (saved before encryption was
   * turned on), so turning it on logs nobody out. Turn it off once
   * {@linkcode SessionManager.reencrypt} has run: until then, whoever can
   * write to the store can plant a session.
   *
   * @default {false}
   */
  acceptUnencrypted?: boolean;
}

/** What {@linkcode SessionManager.reencrypt} did. */
export interface ReencryptResult {
  /** Sessions rewritten with the first key. */
  reencrypted: number;
  /** Sessions that no key decrypts (a removed key, or damaged): left alone. */
  unreadable: number;
}

/** Options for {@linkcode SessionManager}. */
export interface SessionManagerOptions {
  /** Where sessions are kept: `BuntStore`, `MemoryStore` or your own. */
  store: SessionStore;
  /**
   * Absolute lifetime in milliseconds, from creation (or renewal).
   *
   * @default {86400000}
   */
  lifetime?: number;
  /**
   * Milliseconds without a request after which the session expires; `0`
   * turns the idle timeout off.
   *
   * @default {0}
   */
  idleTimeout?: number;
  /**
   * With an idle timeout, an unmodified session is re-saved (and its cookie
   * re-sent) at most once per this many milliseconds, so the idle timeout
   * may fire up to this much early.
   *
   * @default {idleTimeout / 10}
   */
  touchInterval?: number;
  /** Cookie attributes. */
  cookie?: SessionCookieOptions;
  /**
   * Encodes sessions for the store.
   *
   * @default {jsonSessionCodec}
   */
  codec?: SessionCodec;
  /**
   * Encrypt each encoded session before it reaches the store (AES-256-GCM,
   * a list of keys for rotation), and index owners by a keyed hash.
   *
   * @default {no encryption}
   */
  encryption?: SessionEncryptionOptions;
  /**
   * Store the SHA-256 of the token rather than the token, so a leaked store
   * file holds no usable tokens.
   *
   * @default {true}
   */
  hashTokenInStore?: boolean;
  /**
   * Largest encoded session in bytes; a larger one fails its commit.
   *
   * @default {1048576}
   */
  maxBytes?: number;
  /**
   * Sessions (and token hashes) kept decoded in memory, least recently
   * used dropped first. Sessions in use by a request are never dropped.
   *
   * @default {10000}
   */
  cacheSize?: number;
  /**
   * The session value that names its owner, such as `"user"`: with it,
   * {@linkcode SessionManager.listBy} and
   * {@linkcode SessionManager.destroyBy} find one owner's sessions through
   * the store's owner index (a string or finite number value; other
   * values index nothing). Without it, or on a store without
   * `findByOwner`, they read every session.
   */
  index?: string;
  /**
   * Answers a request whose session could not be loaded or committed
   * (store failure, `maxBytes`).
   *
   * @default {logs the error and returns a 500}
   */
  onError?: (error: unknown, request: Request) => Response | Promise<Response>;
  /**
   * The clock, in Unix milliseconds; tests inject their own.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

/**
 * One request's session. Reads are synchronous: the data was loaded by
 * {@linkcode SessionManager.of}. Values are JSON data, copied on `put` and
 * deeply frozen, so `get` returns exactly what a reload from the store
 * would: a `Date` comes back as its ISO string, `undefined` members of
 * objects vanish, and `put` throws a `TypeError` for a top-level
 * `undefined` (use `remove`), function, symbol, bigint or binary value
 * (store bytes as base64). Change a stored object by putting a new one.
 *
 * Concurrent requests of one session share its data, so a change made
 * without an `await` between reading and writing is never lost.
 *
 * @typeParam T The shape of the session's values.
 *
 * @example Flash messages with pop
 * ```ts
 * import { MemoryStore, SessionManager } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * await using store = new MemoryStore();
 * const sessions = new SessionManager<{ flash: string }>({ store });
 * const handler = sessions.wrap(async (req) => {
 *   const session = await sessions.of(req);
 *   if (req.method === "POST") {
 *     session.put("flash", "Saved!");
 *     return new Response("ok");
 *   }
 *   return new Response(session.pop("flash") ?? "");
 * });
 *
 * const post = await handler(
 *   new Request("https://example.com/", { method: "POST" }),
 * );
 * await post.body?.cancel();
 * const cookie = post.headers.get("set-cookie")!.split(";")[0]!;
 * const get = () =>
 *   handler(new Request("https://example.com/", { headers: { cookie } }));
 * assert.equal(await (await get()).text(), "Saved!");
 * assert.equal(await (await get()).text(), "");
 * ```
 */
export interface Session<T extends object = Record<string, unknown>> {
  /** `"unmodified"`, `"modified"` or `"destroyed"` by this request. */
  readonly status: SessionStatus;
  /** The token, or `""` for a new session not yet committed. */
  readonly token: string;
  /** The absolute deadline: creation (or renewal) plus `lifetime`. */
  readonly deadline: Date;
  /** When the session expires if left alone: the deadline, or sooner when idle. */
  readonly expiry: Date;
  /**
   * Returns the value under `key`.
   *
   * @param key The name.
   * @returns The value, or `undefined` when missing.
   */
  get<K extends keyof T & string>(key: K): T[K] | undefined;
  /**
   * Returns whether `key` holds a value.
   *
   * @param key The name.
   * @returns Whether it is set.
   */
  has(key: keyof T & string): boolean;
  /**
   * Returns the names that hold values, sorted.
   *
   * @returns The names.
   */
  keys(): (keyof T & string)[];
  /**
   * Stores a copy of `value` under `key`.
   *
   * @param key The name.
   * @param value JSON data.
   * @throws {TypeError} When `value` is not JSON data.
   */
  put<K extends keyof T & string>(key: K, value: T[K]): void;
  /**
   * Removes and returns the value under `key`: a flash message.
   *
   * @param key The name.
   * @returns The value, or `undefined` when missing.
   */
  pop<K extends keyof T & string>(key: K): T[K] | undefined;
  /**
   * Removes the value under `key`; nothing happens when missing.
   *
   * @param key The name.
   */
  remove(key: keyof T & string): void;
  /** Removes every value; the token and deadline stay. */
  clear(): void;
  /**
   * Makes the cookie persistent (`true`) or last until the browser closes
   * (`false`) for this session, whatever the `persist` option says.
   *
   * @param value Whether to remember the browser.
   */
  rememberMe(value: boolean): void;
  /**
   * Sets the absolute deadline, as scs's `SetDeadline`: the session ends
   * then at the latest, sooner when an idle timeout runs out first. It may
   * be later than `lifetime` allows (a "remember me for 30 days" login) or
   * earlier (a sensitive session).
   *
   * @param deadline When the session ends.
   * @throws {TypeError} When `deadline` is not a valid `Date`.
   * @throws {RangeError} When it is past the last date a `Date` can hold.
   */
  setDeadline(deadline: Date): void;
  /**
   * Gives the session a new token and a new deadline, keeping its data,
   * and deletes the old token from the store. Call it on login and logout
   * against session fixation. Only this request gets the new token: other
   * requests still running with the old one see an empty session from
   * then on, their changes are never saved, and their responses carry no
   * cookie, so they can neither learn the new token nor write into the
   * renewed session. If this request then fails, the renewed session is
   * dropped and the old one stays deleted: the user is logged out.
   *
   * @throws {Error} After the response headers were sent.
   */
  renewToken(): Promise<void>;
  /**
   * Deletes the session from the store now; the response carries a cookie
   * that deletes the browser's. A later `put` starts a new session.
   * Requests running concurrently with the same token see it destroyed
   * too, and no save, read or listing under way brings it back.
   *
   * @throws {Error} After the response headers were sent.
   */
  destroy(): Promise<void>;
  /**
   * Saves the session now if it needs saving. The middleware does this
   * before returning the response; a streaming handler that changes the
   * session after returning its response calls it itself.
   *
   * @throws {RangeError} When the session encodes larger than `maxBytes`.
   * @throws {Error} When, after the headers were sent, saving would need a
   * new cookie (a new session) that can no longer reach the browser.
   */
  commit(): Promise<void>;
}
