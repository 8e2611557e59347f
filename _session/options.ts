/**
 * Defaults and checks for `SessionManager` options, so a bad option fails
 * when the manager is created rather than on the first request.
 *
 * @module
 */

import {
  assertKnownOptions,
  assertNumberOption,
} from "../_session_store/validate.ts";
import type { SessionCookieOptions, SessionManagerOptions } from "./types.ts";
import type { EngineSettings } from "./engine.ts";
import type { CookieSettings } from "./cookie.ts";
import { deletionCookie } from "./cookie.ts";
import { jsonSessionCodec } from "./codec.ts";
import { SessionCipher } from "./encryption.ts";

/** Default absolute lifetime: 24 hours, as in scs. */
const DEFAULT_LIFETIME = 24 * 60 * 60 * 1000;
/** Default largest encoded session: 1 MiB. */
const DEFAULT_MAX_BYTES = 1024 * 1024;
/** Default number of sessions kept decoded in memory. */
const DEFAULT_CACHE_SIZE = 10_000;
/** Every `SessionManagerOptions` name. */
const MANAGER_OPTIONS: ReadonlySet<string> = new Set([
  "store",
  "lifetime",
  "idleTimeout",
  "touchInterval",
  "cookie",
  "codec",
  "hashTokenInStore",
  "maxBytes",
  "cacheSize",
  "index",
  "onError",
  "encryption",
  "now",
]);
/** Every `SessionCookieOptions` name. */
const COOKIE_OPTIONS: ReadonlySet<string> = new Set([
  "name",
  "hostPrefix",
  "domain",
  "path",
  "httpOnly",
  "sameSite",
  "secure",
  "trustProxy",
  "partitioned",
  "persist",
]);
/** The latest instant a `Date` can hold (ECMA-262 §21.4.1.1). */
export const MAX_DATE_MILLIS = 8.64e15;

/** Applies defaults to the manager options and checks them. */
export function checkManagerOptions(
  options: SessionManagerOptions,
): EngineSettings {
  if (typeof options !== "object" || options === null) {
    throw new TypeError("Cannot create session manager: options are missing");
  }
  assertKnownOptions(options, MANAGER_OPTIONS, "create session manager");
  const { store } = options;
  if (
    typeof store !== "object" || store === null ||
    typeof store.find !== "function" || typeof store.save !== "function" ||
    typeof store.delete !== "function"
  ) {
    throw new TypeError(
      'Cannot create session manager: option "store" must have find, save and delete methods',
    );
  }
  const lifetime = number("lifetime", options.lifetime, DEFAULT_LIFETIME, 1);
  const idleTimeout = number("idleTimeout", options.idleTimeout, 0, 0);
  const touchInterval = number(
    "touchInterval",
    options.touchInterval,
    idleTimeout / 10,
    0,
  );
  if (idleTimeout > 0 && touchInterval >= idleTimeout) {
    throw new RangeError(
      `Cannot create session manager: option "touchInterval" (${touchInterval}) must be less than "idleTimeout" (${idleTimeout}), or an active session still times out`,
    );
  }
  const maxBytes = number("maxBytes", options.maxBytes, DEFAULT_MAX_BYTES, 1);
  const cacheSize = number(
    "cacheSize",
    options.cacheSize,
    DEFAULT_CACHE_SIZE,
    1,
  );
  const codec = options.codec ?? jsonSessionCodec;
  if (
    typeof codec.encode !== "function" || typeof codec.decode !== "function"
  ) {
    throw new TypeError(
      'Cannot create session manager: option "codec" must have encode and decode methods',
    );
  }
  const now = options.now ?? Date.now;
  if (typeof now !== "function") {
    throw new TypeError(
      'Cannot create session manager: option "now" must be a function',
    );
  }
  if (now() + lifetime >= MAX_DATE_MILLIS) {
    throw new RangeError(
      `Cannot create session manager: option "lifetime" (${lifetime}) puts the deadline past the last date a Date can hold, so every save would fail`,
    );
  }
  const { index } = options;
  if (index !== undefined && (typeof index !== "string" || index === "")) {
    throw new TypeError(
      'Cannot create session manager: option "index" must be a non-empty string naming a session value',
    );
  }
  return {
    index,
    store,
    codec,
    now,
    lifetime,
    idleTimeout,
    touchInterval,
    maxBytes,
    hashTokenInStore: options.hashTokenInStore ?? true,
    cacheSize,
    cipher: options.encryption === undefined
      ? undefined
      : new SessionCipher(options.encryption),
  };
}

/** Applies the secure defaults to the cookie options and checks them. */
export function checkCookieOptions(
  options: SessionCookieOptions,
): CookieSettings {
  assertKnownOptions(
    options,
    COOKIE_OPTIONS,
    "create session manager",
    "cookie option",
  );
  const hostPrefix = options.hostPrefix ?? false;
  const settings: CookieSettings = {
    name: (hostPrefix ? "__Host-" : "") + (options.name ?? "session"),
    domain: options.domain,
    path: options.path ?? "/",
    httpOnly: options.httpOnly ?? true,
    sameSite: options.sameSite ?? "lax",
    secure: options.secure ?? true,
    trustProxy: options.trustProxy ?? false,
    partitioned: options.partitioned ?? false,
    persist: options.persist ?? true,
  };
  // Browsers drop prefixed cookies whose attributes break the prefix's
  // promise (RFC 6265bis 4.1.3), and match the prefix case-insensitively.
  const prefix = settings.name.slice(0, 9).toLowerCase();
  if (
    prefix.startsWith("__host-") &&
    (settings.domain !== undefined || settings.path !== "/" ||
      settings.secure === false)
  ) {
    throw new RangeError(
      "Cannot create session manager: a __Host- cookie needs Secure, Path=/ and no Domain",
    );
  }
  if (prefix === "__secure-" && settings.secure === false) {
    throw new RangeError(
      "Cannot create session manager: a __Secure- cookie needs Secure",
    );
  }
  if (settings.sameSite === "none" && settings.secure !== true) {
    throw new RangeError(
      `Cannot create session manager: browsers reject SameSite=None without Secure, so "secure" must be true, got ${
        String(settings.secure)
      }`,
    );
  }
  if (!["lax", "strict", "none", false].includes(settings.sameSite)) {
    throw new RangeError(
      `Cannot create session manager: cookie "sameSite" must be "lax", "strict", "none" or false, got ${
        String(settings.sameSite)
      }`,
    );
  }
  try {
    // npm:cookie checks the name, domain and path when serialising.
    deletionCookie(settings, true);
  } catch (error) {
    throw new TypeError(
      `Cannot create session manager: invalid cookie option: ${
        (error as Error).message
      }`,
      { cause: error },
    );
  }
  return settings;
}

function number(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
): number {
  if (value === undefined) return fallback;
  assertNumberOption(name, value, min, "create session manager");
  return value as number;
}
