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
  let written = 0;
  while (written < bytes.length) {
    written += file.writeSync(bytes.subarray(written));
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

/** Removes `path`; a missing file is not an error. */
export async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
