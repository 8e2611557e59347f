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
} from "./_resp.ts";

export type { LogRecord } from "./_resp.ts";

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
}

/** Read size while replaying a log. */
const READ_CHUNK = 1 << 20;

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
  let buf = new Uint8Array(options.chunkSize ?? READ_CHUNK);
  let base = 0; // file offset of buf[0]
  let start = 0; // next unparsed byte in buf
  let end = 0; // bytes filled in buf
  let eof = false;
  let records = 0;
  const record: Partial<LogRecord> = {};
  await file.seek(0, Deno.SeekMode.Start);
  while (true) {
    while (start < end && buf[start] === 0) start++;
    let next = INCOMPLETE;
    if (start < end) {
      try {
        next = parseRecord(buf, start, end, mtimeMs, record);
      } catch (error) {
        throw damaged(path, base + start, error);
      }
    }
    if (next !== INCOMPLETE) {
      records++;
      if (record.command !== undefined) {
        onRecord(record as LogRecord, base + start, next - start);
      }
      start = next;
      continue;
    }
    if (eof) {
      if (start < end) rejectHiddenRecords(buf, start, end, base, path);
      return { validEnd: base + start, fileSize: base + end, records };
    }
    // Keep the unparsed bytes, growing the buffer when a record needs more.
    if (start > 0) {
      buf.copyWithin(0, start, end);
      base += start;
      end -= start;
      start = 0;
    }
    if (end === buf.length) {
      const grown = new Uint8Array(buf.length * 2);
      grown.set(buf);
      buf = grown;
    }
    const read = await file.read(buf.subarray(end));
    if (read === null) eof = true;
    else end += read;
  }
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
  let written = 0;
  try {
    while (written < bytes.length) {
      written += file.writeSync(bytes.subarray(written));
    }
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
    let written = 0;
    while (written < bytes.length) {
      written += this.#file.writeSync(bytes.subarray(written));
    }
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
    const source = Deno.openSync(this.#path, { read: true });
    try {
      source.seekSync(this.#copiedUpTo, Deno.SeekMode.Start);
      const chunk = new Uint8Array(Math.min(until - this.#copiedUpTo, 1 << 20));
      while (this.#copiedUpTo < until) {
        const want = Math.min(chunk.length, until - this.#copiedUpTo);
        const read = source.readSync(chunk.subarray(0, want));
        if (read === null) throw new Error("live log shrank during compaction");
        this.write(chunk.subarray(0, read));
        this.#copiedUpTo += read;
      }
    } finally {
      source.close();
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

/**
 * When a record at EOF is incomplete, it is only a torn write if nothing
 * after it parses as complete records: otherwise a damaged length swallowed
 * real data, and truncating would silently lose it.
 */
function rejectHiddenRecords(
  buf: Uint8Array,
  start: number,
  end: number,
  base: number,
  path: string,
): void {
  const scratch: Partial<LogRecord> = {};
  for (let at = start + 1; at < end; at++) {
    if (buf[at] !== 42 || buf[at - 1] !== 10) continue;
    let pos = at;
    let complete = 0;
    try {
      while (pos < end) {
        const next = parseRecord(buf, pos, end, 0, scratch);
        if (next === INCOMPLETE) break;
        complete++;
        pos = next;
      }
    } catch (error) {
      if (!(error instanceof DamagedRecord)) throw error;
      // Damage right at `at`: not a record boundary. Damage after complete
      // records still proves they are real, and cutting would lose them.
      if (complete === 0) continue;
    }
    if (complete > 0) {
      throw new CorruptLogError(
        path,
        base + start,
        `record length runs past complete records at byte ${base + at}`,
      );
    }
  }
}

function damaged(path: string, offset: number, error: unknown): unknown {
  if (!(error instanceof DamagedRecord)) return error;
  return new CorruptLogError(path, offset, error.message, { cause: error });
}

function parentDirectory(path: string): string {
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
