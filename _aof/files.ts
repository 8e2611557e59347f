/**
 * Small file operations shared by the log and its compaction temp file.
 *
 * @module
 */

/** Mode of a new log or compaction temp file: owner read and write. */
export const LOG_MODE = 0o600;

/** Path of the compaction temp file for the log at `path`. */
export function tempPath(path: string): string {
  return `${path}.tmp`;
}

/** Writes all of `bytes`, calling `writeSync` until none are left. */
export function writeAll(
  file: { writeSync(bytes: Uint8Array): number },
  bytes: Uint8Array,
): void {
  if (bytes.length === 0) return;
  // One call writes it all but for a short write: no view to make first.
  let written = file.writeSync(bytes);
  while (written < bytes.length) {
    written += file.writeSync(bytes.subarray(written));
  }
}

/** Writes all of `bytes` off the event loop, calling `write` until done. */
export async function writeAllAsync(
  file: { write(bytes: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await file.write(bytes.subarray(written));
  }
}

/** Fsyncs a directory so a rename in it survives a power cut. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await Deno.open(directory === "" ? "." : directory, {
    read: true,
  });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/** The directory part of `path`, or "" for a bare file name. */
export function parentDirectory(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return "";
  return slash === 0 ? "/" : path.slice(0, slash);
}

/**
 * The absolute, symlink-free path of the log at `path`, fixed at open: a
 * compaction's rename then replaces the real file (not a symlink to it), in
 * the directory the log was opened in (not the one a later `Deno.chdir`
 * moved to). For a new log, its directory (created if missing) is resolved.
 *
 * @throws {Error} In the `Cannot open store at` form when `path` is a
 * symlink to a missing file or a parent of it is not a directory.
 */
export async function realLogPath(path: string): Promise<string> {
  try {
    return await resolve(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotADirectory)) throw error;
    const file = await fileAmongParents(path);
    throw cannotOpen(
      path,
      `"${file}" is a file, not a directory`,
      "fix the path, or move that file away",
      error,
    );
  }
}

async function resolve(path: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const directory = parentDirectory(path);
  if (directory !== "") await Deno.mkdir(directory, { recursive: true });
  if ((await lstatIfPresent(path))?.isSymlink) {
    throw cannotOpen(
      path,
      "it is a symbolic link to a missing file",
      "create the file it points to, or give the store a real path",
    );
  }
  const realDirectory = await Deno.realPath(directory === "" ? "." : directory);
  const name = path.slice(path.lastIndexOf("/") + 1);
  return `${realDirectory === "/" ? "" : realDirectory}/${name}`;
}

/** The nearest parent of `path` that exists and is not a directory. */
async function fileAmongParents(path: string): Promise<string> {
  let nearest = parentDirectory(path);
  for (let at = nearest; at !== "" && at !== "/"; at = parentDirectory(at)) {
    const stat = await Deno.stat(at).catch(() => undefined);
    if (stat !== undefined && !stat.isDirectory) nearest = at;
  }
  return nearest;
}

/**
 * Removes a compaction temp file left at `temp` by a crash.
 *
 * @throws {NotATempFile} When something other than a file has that name:
 * it is not the store's to delete.
 */
export async function removeStaleTemp(temp: string): Promise<void> {
  const stat = await lstatIfPresent(temp);
  if (stat === undefined) return;
  if (!stat.isFile) {
    const kind = stat.isDirectory ? "a directory" : "not a regular file";
    throw new NotATempFile(
      `"${temp}" is ${kind}, where compactions write their temp file`,
    );
  }
  await removeIfPresent(temp);
}

/** Something other than a stale temp file sits at the temp file's path. */
export class NotATempFile extends Error {
  /** Creates it; `what` becomes the message. */
  constructor(what: string) {
    super(what);
    this.name = "NotATempFile";
  }
}

/**
 * The error for a failure while opening the log at `path`, in the form
 * `Cannot open store at "<path>": <what>; <hint>`, with `cause` attached. A
 * Deno I/O error keeps its class, so callers can still test for it.
 */
export function cannotOpen(
  path: string,
  what: string,
  hint: string,
  cause?: unknown,
): Error {
  const message = `Cannot open store at "${path}": ${what}; ${hint}`;
  const Class = cause instanceof Error && isDenoError(cause)
    ? cause.constructor as ErrorConstructor
    : Error;
  return new Class(message, cause === undefined ? undefined : { cause });
}

/** The message of `error`, to quote in another one. */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isDenoError(error: Error): boolean {
  return Object.values(Deno.errors).some((Class) =>
    error.constructor === Class
  );
}

async function lstatIfPresent(
  path: string,
): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Removes `path`; a missing file is not an error. */
export async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
