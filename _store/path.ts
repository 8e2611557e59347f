/**
 * The paths `BuntStore.open` accepts: a file path, `":memory:"`, or a
 * `file:` URL (a `URL` object or its string), as Deno's own file APIs take
 * them. Any other URL is refused by name rather than opened as a relative
 * path (`"file:///srv/s.db"` made a folder named `file:`).
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** `scheme://…`: a URL, not a relative path. */
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Returns the file system path that `path` names.
 *
 * @throws {TypeError} For an empty or non-string path, or a URL whose
 * scheme is not `file:`.
 */
export function storePath(path: unknown): string {
  if (path instanceof URL) return fromUrl(path);
  if (typeof path !== "string" || path === "") {
    throw new TypeError(
      "Cannot open store: path must be a non-empty string or a file: URL",
    );
  }
  return path.startsWith("file:") || URL_LIKE.test(path)
    ? fromUrl(new URL(path))
    : path;
}

function fromUrl(url: URL): string {
  if (url.protocol !== "file:") {
    const hint = url.protocol === "redis:" || url.protocol === "rediss:"
      ? "for Redis use RedisStore from @x/buntstore/redis"
      : "give a file path or a file: URL";
    throw new TypeError(
      `Cannot open store at "${url.href}": only file: URLs name a file, got "${url.protocol}"; ${hint}`,
    );
  }
  return fileURLToPath(url);
}
