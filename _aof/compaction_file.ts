/**
 * The temp file a compaction writes and renames over the log.
 *
 * @module
 */

import {
  LOG_MODE,
  parentDirectory,
  removeIfPresent,
  removeStaleTemp,
  tempPath,
  writeAll,
  writeAllAsync,
} from "./files.ts";

/**
 * A compaction's temp file: records are appended to it in chunks, and it
 * replaces the log with an atomic rename after an fsync.
 */
export class CompactionFile {
  readonly #path: string;
  readonly #file: Deno.FsFile;
  #size = 0;

  private constructor(path: string, file: Deno.FsFile) {
    this.#path = path;
    this.#file = file;
  }

  /**
   * Creates the locked temp file for the log at `path`, with the log's
   * mode (0600 until then, so no other user sees a byte of it).
   */
  static async create(path: string): Promise<CompactionFile> {
    const { mode } = await Deno.stat(path);
    const temp = tempPath(path);
    await removeStaleTemp(temp);
    // Append mode, like the live log, so writes after a failed write's
    // truncation land at the end and not after a hole.
    const file = await Deno.open(temp, {
      read: true,
      append: true,
      createNew: true,
      mode: LOG_MODE,
    });
    try {
      await file.lock(true);
      // The rename must not change who can read the log: the mode given at
      // creation went through the umask, so set the log's exactly.
      if (mode !== null && (mode & 0o7777) !== LOG_MODE) {
        await Deno.chmod(temp, mode & 0o7777);
      }
    } catch (error) {
      file.close();
      await removeIfPresent(temp);
      throw error;
    }
    return new CompactionFile(path, file);
  }

  /** Bytes written to the temp file so far. */
  get size(): number {
    return this.#size;
  }

  /** Appends encoded records. */
  write(bytes: Uint8Array): void {
    writeAll(this.#file, bytes);
    this.#size += bytes.length;
  }

  /**
   * Appends encoded records from another thread, so the event loop does
   * not wait for the disk. Not to be called while another append runs.
   */
  async append(bytes: Uint8Array): Promise<void> {
    await writeAllAsync(this.#file, bytes);
    this.#size += bytes.length;
  }

  /** Flushes the temp file to the device. */
  sync(): Promise<void> {
    return this.#file.syncData();
  }

  /**
   * Renames the temp file over the log and returns its handle, which is
   * now the locked log. The caller must adopt it before anything else, then
   * fsync the directory.
   */
  async commit(): Promise<Deno.FsFile> {
    await Deno.rename(tempPath(this.#path), this.#path);
    return this.#file;
  }

  /** The directory holding the log. */
  get directory(): string {
    return parentDirectory(this.#path);
  }

  /** Closes and removes the temp file. */
  async discard(): Promise<void> {
    this.#file.close();
    await removeIfPresent(tempPath(this.#path));
  }
}
