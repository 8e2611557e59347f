/**
 * The session cookie: reading the token from a `Cookie` header and writing
 * the `Set-Cookie`, `Vary` and `Cache-Control` headers. Parsing and
 * serialisation are npm:cookie's; this file only decides what to send.
 *
 * @module
 */

import { parseCookie, stringifySetCookie } from "cookie";
import { isWellFormedToken } from "./token.ts";

/**
 * Longest `Cookie` header that is parsed at all, in UTF-16 units. Anything
 * longer is treated as carrying no session (common servers reject headers
 * past 8 KiB, so a legitimate browser never gets here).
 */
const MAX_COOKIE_HEADER_LENGTH = 16 * 1024;

/** Browsers cap cookie lifetimes at 400 days (RFC 6265bis). */
const MAX_COOKIE_AGE_SECONDS = 400 * 24 * 60 * 60;

/** Cookie attributes after defaults and checks. */
export interface CookieSettings {
  name: string;
  domain: string | undefined;
  path: string;
  httpOnly: boolean;
  sameSite: "lax" | "strict" | "none" | false;
  secure: boolean | "auto";
  trustProxy: boolean;
  partitioned: boolean;
  persist: boolean;
}

// Decoding is skipped: tokens are base64url, and anything that would need
// decoding is not a token anyway.
const RAW = { decode: (value: string) => value };

/**
 * Returns the well-formed session token in `header`, or `undefined` when the
 * header is missing, oversized, names the cookie twice with different
 * values, or holds something that is not a token. Never throws.
 */
export function readToken(
  header: string | null,
  name: string,
): string | undefined {
  if (header === null || header.length > MAX_COOKIE_HEADER_LENGTH) {
    return undefined;
  }
  const value = parseCookie(header, RAW)[name];
  if (value === undefined || !isWellFormedToken(value)) return undefined;
  const marker = name + "=";
  if (header.indexOf(marker) !== header.lastIndexOf(marker)) {
    // The name may appear twice (or inside another cookie's name or value):
    // parse each pair on its own to see whether two different values are
    // sent, which happens when someone plants a cookie on a narrower path
    // or a parent domain. Such a request gets a fresh session rather than
    // one chosen by cookie order.
    for (const pair of header.split(";")) {
      const other = parseCookie(pair, RAW)[name];
      if (other !== undefined && other !== value) return undefined;
    }
  }
  return value;
}

/** Whether the cookie for `request` carries the `Secure` attribute. */
export function isSecure(settings: CookieSettings, request: Request): boolean {
  if (settings.secure === "auto") {
    // A prefixed cookie without Secure would be dropped by the browser.
    return /^__(host|secure)-/i.test(settings.name) ||
      request.url.startsWith("https:") ||
      (settings.trustProxy && forwardedHttps(request));
  }
  return settings.secure;
}

/**
 * Serialises the session cookie for `token`. The cookie is persistent
 * (`Max-Age` and `Expires`, capped at 400 days) only when `persistent`.
 */
export function sessionCookie(
  settings: CookieSettings,
  secure: boolean,
  token: string,
  expiry: { persistent: boolean; at: number; now: number },
): string {
  let maxAge: number | undefined;
  let expires: Date | undefined;
  if (expiry.persistent) {
    maxAge = Math.min(
      Math.max(Math.ceil((expiry.at - expiry.now) / 1000), 0),
      MAX_COOKIE_AGE_SECONDS,
    );
    expires = new Date(expiry.now + maxAge * 1000);
  }
  return serialise(settings, secure, token, maxAge, expires);
}

/**
 * Serialises a cookie that makes the browser delete the session cookie: the
 * same name, Path, Domain, Secure, SameSite and Partitioned, or browsers
 * keep the old one.
 */
export function deletionCookie(
  settings: CookieSettings,
  secure: boolean,
): string {
  return serialise(settings, secure, "", 0, new Date(1000));
}

/**
 * Adds `Vary: Cookie` and, when `setCookie` is given, the `Set-Cookie`
 * header and `Cache-Control: no-cache="Set-Cookie"` so that no shared cache
 * stores one visitor's cookie for another.
 */
export function writeHeaders(
  headers: Headers,
  setCookie: string | undefined,
): void {
  const vary = headers.get("vary");
  if (vary === null) headers.set("vary", "Cookie");
  else if (!/(^|,)\s*(cookie|\*)\s*(,|$)/i.test(vary)) {
    headers.append("vary", "Cookie");
  }
  if (setCookie !== undefined) {
    headers.append("set-cookie", setCookie);
    headers.append("cache-control", 'no-cache="Set-Cookie"');
  }
}

function serialise(
  settings: CookieSettings,
  secure: boolean,
  value: string,
  maxAge: number | undefined,
  expires: Date | undefined,
): string {
  return stringifySetCookie({
    name: settings.name,
    value,
    path: settings.path,
    httpOnly: settings.httpOnly,
    secure,
    partitioned: settings.partitioned,
    ...(settings.domain === undefined ? {} : { domain: settings.domain }),
    ...(settings.sameSite === false ? {} : { sameSite: settings.sameSite }),
    ...(maxAge === undefined ? {} : { maxAge }),
    ...(expires === undefined ? {} : { expires }),
  });
}

/** Whether the first `X-Forwarded-Proto` value is `https`. */
function forwardedHttps(request: Request): boolean {
  const header = request.headers.get("x-forwarded-proto");
  if (header === null) return false;
  const comma = header.indexOf(",");
  const first = comma < 0 ? header : header.slice(0, comma);
  return first.trim().toLowerCase() === "https";
}
