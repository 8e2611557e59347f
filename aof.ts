/**
 * Everything about the log's bytes on disk: opening and locking the file,
 * replaying it with crash recovery, appending, fsync, and the temp file and
 * atomic swap of a compaction. It knows nothing of sessions.
 *
 * @module
 */

import { CorruptLogError, StoreLockedError } from "./errors.ts";
import {
  DamagedRecord,
  INCOMPLETE,
  type LogRecord,
  parseRecord,
} from "./_aof/record.ts";

export type { LogRecord } from "./_aof/record.ts";

/** The file operations the log uses; tests wrap them to inject faults. */
export interface LogFile {
  /** Writes some of `bytes` at the end of the file; returns how many. */
  writeSync(bytes: Uint8Array): number;
  /** Flushes written data to the device. */
  syncData(): Promise<void>;
  /** Cuts the file to `size` bytes. */
  truncateSync(size: number): void;
}

/** Wraps a freshly opened file, for fault injection in tests. */
export type WrapFile = (file: Deno.FsFile) => LogFile;

/** What {@linkcode scanLog} found. */
export interface ScanResult {
  /** Offset just past the last complete record (or NUL run before it). */
  validEnd: number;
  /** Size of the file when scanned. */
  fileSize: number;
  /** Complete records read, empty ones included. */
  records: number;
}

/** Options for {@linkcode scanLog}. */
export interface ScanOptions {
  /** Path, for error messages. */
  path: string;
  /** File modification time, for legacy `ex` expiries. */
  mtimeMs: number;
  /** Called for each record; the value must be copied to be kept. */
  onRecord: (record: LogRecord, offset: number, length: number) => void;
  /** Bytes read per call. */
  chunkSize?: number;
  /** Called after each read with the offset parsed so far. */
  onProgress?: (offset: number) => void;
}

const STAR = 0x2a;
const LF = 0x0a;

/** Read size while replaying a log. */
const READ_CHUNK = 1 << 20;

/**
 * The not yet parsed bytes of a file read front to back in chunks: parsers
 * advance `start`, and {@linkcode ReadWindow.readMore} keeps what is left,
 * growing the buffer when one record needs more than it holds.
 */
export class ReadWindow {
  /** The bytes; `buf[start..end)` are read but not yet parsed. */
  buf: Uint8Array;
  /** File offset of `buf[0]`. */
  base = 0;
  /** Next byte to parse. */
  start = 0;
  /** Bytes filled in `buf`. */
  end = 0;
  /** Whether the file has no more bytes. */
  eof = false;
  readonly #file: Deno.FsFile;

  /**
   * Starts a window at the beginning of `file`.
   *
   * @param chunkSize Bytes read per call.
   */
  constructor(file: Deno.FsFile, chunkSize = READ_CHUNK) {
    this.#file = file;
    this.buf = new Uint8Array(chunkSize);
  }

  /** Seeks to the start of the file; call once before reading. */
  async rewind(): Promise<void> {
    await this.#file.seek(0, Deno.SeekMode.Start);
  }

  /** Reads the next chunk after the unparsed bytes, or sets `eof`. */
  async readMore(): Promise<void> {
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.base += this.start;
      this.end -= this.start;
      this.start = 0;
    }
    if (this.end === this.buf.length) {
      const grown = new Uint8Array(this.buf.length * 2);
      grown.set(this.buf);
      this.buf = grown;
    }
    const read = await this.#file.read(this.buf.subarray(this.end));
    if (read === null) this.eof = true;
    else this.end += read;
  }
}

/**
 * Reads every record of `file` from the start. A torn last record (the
 * bytes end inside it) is not an error: `validEnd` stops before it. NUL
 * bytes where a record would start are skipped.
 *
 * @throws {CorruptLogError} When a record is damaged anywhere else.
 */
export async function scanLog(
  file: Deno.FsFile,
  options: ScanOptions,
): Promise<ScanResult> {
  const { path, mtimeMs, onRecord } = options;
  const window = new ReadWindow(file, options.chunkSize);
  let records = 0;
  const record: Partial<LogRecord> = {};
  await window.rewind();
  while (true) {
    const { buf, end, base } = window;
    let start = window.start;
    // Every complete record in the buffer, then more bytes.
    while (true) {
      while (start < end && buf[start] === 0) start++;
      if (start >= end) break;
      let next;
      try {
        next = parseRecord(buf, start, end, mtimeMs, record);
      } catch (error) {
        throw damaged(path, base + start, error);
      }
      if (next === INCOMPLETE) break;
      records++;
      if (record.command !== undefined) {
        onRecord(record as LogRecord, base + start, next - start);
      }
      start = next;
    }
    window.start = start;
    if (!window.eof) {
      await window.readMore();
      options.onProgress?.(window.base + window.start);
      continue;
    }
    const hidden = start < end ? findHiddenRecord(buf, start, end) : -1;
    if (hidden >= 0) {
      throw new CorruptLogError(
        path,
        base + start,
        `record length runs past complete records at byte ${base + hidden}`,
      );
    }
    return { validEnd: base + start, fileSize: base + end, records };
  }
}

/**
 * When a record at the end of the file is incomplete, it is only a torn
 * write if no complete record starts after a line feed inside it:
 * otherwise a damaged length swallowed real records, and truncating would
 * silently lose them. Returns the offset of the first such record, or -1.
 */
export function findHiddenRecord(
  buf: Uint8Array,
  start: number,
  end: number,
): number {
  const scratch: Partial<LogRecord> = {};
  for (let at = start + 1; at < end; at++) {
    if (buf[at] !== STAR || buf[at - 1] !== LF) continue;
    try {
      if (parseRecord(buf, at, end, 0, scratch) !== INCOMPLETE) return at;
    } catch (error) {
      // Damage right here: not a record boundary.
      if (!(error instanceof DamagedRecord)) throw error;
    }
  }
  return -1;
}

/**
 * Opens and locks the log at `path` for appending, creating it and its
 * directory if missing, and removes a compaction temp file left by a crash.
 *
 * @throws {StoreLockedError} When another handle holds the lock.
 */
export async function openLocked(path: string): Promise<Deno.FsFile> {
  const directory = parentDirectory(path);
  if (directory !== "") await Deno.mkdir(directory, { recursive: true });
  // A compaction can swap the file between our open and our lock, so check
  // that the locked inode is still the one at `path`.
  for (let attempt = 0; attempt < 3; attempt++) {
    const file = await Deno.open(path, {
      read: true,
      append: true,
      create: true,
    });
    if (!(await file.tryLock(true))) {
      file.close();
      throw new StoreLockedError(path);
    }
    const [opened, current] = await Promise.all([
      file.stat(),
      Deno.stat(path).catch(() => undefined),
    ]);
    if (current !== undefined && current.ino === opened.ino) {
      await removeIfPresent(tempPath(path));
      return file;
    }
    file.close();
  }
  throw new StoreLockedError(path);
}

/** A locked log, replayed and cut back to its last complete record. */
export interface RecoveredLog {
  /** The locked handle, open for reading and appending. */
  file: Deno.FsFile;
  /** Its size, which is where the next record goes. */
  size: number;
  /** Bytes of a torn last write that were cut off. */
  recoveredBytes: number;
  /** Complete records replayed. */
  records: number;
}

/**
 * What every writer of a log does first: opens and locks it, replays it
 * through `onRecord`, and cuts off (and fsyncs away) a torn last write, so
 * that appends never follow a partial record.
 *
 * @param now Used as the modification time when the file has none.
 * @throws {StoreLockedError} When another handle holds the lock.
 * @throws {CorruptLogError} When a record is damaged before the end.
 */
export async function openAndRecover(
  path: string,
  onRecord: ScanOptions["onRecord"],
  now: number = Date.now(),
): Promise<RecoveredLog> {
  const file = await openLocked(path);
  try {
    const stat = await file.stat();
    const scan = await scanLog(file, {
      path,
      mtimeMs: stat.mtime?.getTime() ?? now,
      onRecord,
    });
    const recoveredBytes = scan.fileSize - scan.validEnd;
    if (recoveredBytes > 0) {
      await file.truncate(scan.validEnd);
      await file.syncData();
    }
    return {
      file,
      size: scan.validEnd,
      recoveredBytes,
      records: scan.records,
    };
  } catch (error) {
    file.close();
    throw error;
  }
}

/** Path of the compaction temp file for the log at `path`. */
export function tempPath(path: string): string {
  return `${path}.tmp`;
}

/**
 * Thrown when a failed write could not be cut back: the log may end in a
 * partial record, so nothing more may be appended to it.
 */
export class LogBrokenError extends Error {
  /** Creates it for the failed cut-back. */
  constructor(options?: ErrorOptions) {
    super(
      "Cannot write to log: a failed write could not be cut back; reopen the store",
      options,
    );
    this.name = "LogBrokenError";
  }
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

/**
 * Writes all of `bytes` to the end of `file`. On failure it cuts the file
 * back to `sizeBefore`, so no partial record is left, and rethrows.
 *
 * @throws {LogBrokenError} When the cut-back fails too.
 */
export function appendAll(
  file: LogFile,
  bytes: Uint8Array,
  sizeBefore: number,
): void {
  try {
    writeAll(file, bytes);
  } catch (error) {
    // Cut back even when no call reported bytes written: a call that fails
    // may still have put some in the file, and they would become a damaged
    // record in the middle of the log once later writes follow.
    try {
      file.truncateSync(sizeBefore);
    } catch (truncateError) {
      throw new LogBrokenError({ cause: [error, truncateError] });
    }
    throw error;
  }
}

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
   * Creates the locked temp file for the log at `path`.
   *
   * @param copyFrom Live-log offset where the snapshot was taken.
   */
  static async create(path: string, copyFrom: number): Promise<CompactionFile> {
    // Append mode, like the live log, so writes after a failed write's
    // truncation land at the end and not after a hole.
    await removeIfPresent(tempPath(path));
    const file = await Deno.open(tempPath(path), {
      read: true,
      append: true,
      createNew: true,
    });
    await file.lock(true);
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

function damaged(path: string, offset: number, error: unknown): unknown {
  if (!(error instanceof DamagedRecord)) return error;
  return new CorruptLogError(path, offset, error.message, { cause: error });
}

/** The directory part of `path`, or "" for a bare file name. */
export function parentDirectory(path: string): string {
  const slash = path.lastIndexOf("/");
  if (slash < 0) return "";
  return slash === 0 ? "/" : path.slice(0, slash);
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
