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
} from "./files.ts";

/**
 * A compaction's temp file: the snapshot is written to it in chunks, then
 * the bytes the live log gained meanwhile are copied over, and it replaces
 * the log with an atomic rename after an fsync.
 */
export class CompactionFile {
  readonly #path: string;
  readonly #file: Deno.FsFile;
  /** The live log, opened for reading on the first copy. */
  #source: Deno.FsFile | undefined;
  #size = 0;
  #copiedUpTo: number;

  private constructor(path: string, file: Deno.FsFile, copyFrom: number) {
    this.#path = path;
    this.#file = file;
    this.#copiedUpTo = copyFrom;
  }

  /**
   * Creates the locked temp file for the log at `path`, with the log's
   * mode (0600 until then, so no other user sees a byte of it).
   *
   * @param copyFrom Live-log offset where the snapshot was taken.
   */
  static async create(path: string, copyFrom: number): Promise<CompactionFile> {
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
    return new CompactionFile(path, file, copyFrom);
  }

  /** Bytes written to the temp file so far. */
  get size(): number {
    return this.#size;
  }

  /** Bytes of the live log still to copy. */
  pending(liveSize: number): number {
    return liveSize - this.#copiedUpTo;
  }

  /** Appends snapshot bytes. */
  write(bytes: Uint8Array): void {
    writeAll(this.#file, bytes);
    this.#size += bytes.length;
  }

  /**
   * Copies up to `maxBytes` of what the live log gained since the snapshot.
   * Replaying them after the snapshot gives the current state, because each
   * record sets or deletes one whole key.
   */
  copyTail(liveSize: number, maxBytes = Infinity): void {
    const until = Math.min(liveSize, this.#copiedUpTo + maxBytes);
    if (until <= this.#copiedUpTo) return;
    this.#source ??= Deno.openSync(this.#path, { read: true });
    const source = this.#source;
    source.seekSync(this.#copiedUpTo, Deno.SeekMode.Start);
    const chunk = new Uint8Array(Math.min(until - this.#copiedUpTo, 1 << 20));
    while (this.#copiedUpTo < until) {
      const want = Math.min(chunk.length, until - this.#copiedUpTo);
      const read = source.readSync(chunk.subarray(0, want));
      if (read === null) throw new Error("live log shrank during compaction");
      this.write(chunk.subarray(0, read));
      this.#copiedUpTo += read;
    }
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
    this.#closeSource();
    return this.#file;
  }

  /** The directory holding the log. */
  get directory(): string {
    return parentDirectory(this.#path);
  }

  /** Closes and removes the temp file. */
  async discard(): Promise<void> {
    this.#closeSource();
    this.#file.close();
    await removeIfPresent(tempPath(this.#path));
  }

  #closeSource(): void {
    this.#source?.close();
    this.#source = undefined;
  }
}
