/**
 * Everything about the log's bytes on disk: opening and locking the file,
 * replaying it with crash recovery, appending, fsync, and the temp file and
 * atomic swap of a compaction. It knows nothing of sessions.
 *
 * @module
 */

import { CorruptLogError, LogBrokenError, StoreLockedError } from "./errors.ts";
import {
  DamagedRecord,
  INCOMPLETE,
  LazyKeyRecord,
  type LogRecord,
  parseRecord,
  PAST_END,
} from "./_aof/record.ts";

import {
  findHiddenRecord,
  ReadWindow,
  seekHiddenRecord,
  tornBeforeZeros,
} from "./_aof/read_window.ts";
import {
  cannotOpen,
  describe,
  LOG_MODE,
  NotATempFile,
  parentDirectory,
  realLogPath,
  removeStaleTemp,
  tempPath,
  writeAll,
  writeAllAsync,
} from "./_aof/files.ts";

export type { LogRecord } from "./_aof/record.ts";
export { RecordWriter, setRecordBytes } from "./_aof/record.ts";
export { CompactionFile } from "./_aof/compaction_file.ts";
export {
  type DamagedRange,
  type ResilientScan,
  scanResilient,
} from "./_aof/resilient_scan.ts";
export { parentDirectory, syncDirectory, writeAll } from "./_aof/files.ts";

/** The file operations the log uses; tests wrap them to inject faults. */
export interface LogFile {
  /** Writes some of `bytes` at the end of the file; returns how many. */
  writeSync(bytes: Uint8Array): number;
  /**
   * Writes some of `bytes` at the end of the file from another thread;
   * resolves with how many.
   */
  write(bytes: Uint8Array): Promise<number>;
  /** Flushes written data to the device. */
  syncData(): Promise<void>;
  /** Cuts the file to `size` bytes. */
  truncateSync(size: number): void;
}

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

/**
 * Reads every record of `file` from the start. A torn last record (the
 * bytes end inside it, or in NUL bytes that run to the end of the file, as
 * a power cut can leave) is not an error: `validEnd` stops before it. NUL
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
  const record: Partial<LogRecord> = new LazyKeyRecord();
  // Where the file ends, so a damaged length is known never to complete
  // without reading the rest of the file into memory.
  let limit = (await file.stat()).size;
  await window.rewind();
  while (true) {
    const { buf, end, base } = window;
    let start = window.start;
    limit = Math.max(limit, base + end);
    // Every complete record in the buffer, then more bytes.
    while (true) {
      while (start < end && buf[start] === 0) start++;
      if (start >= end) break;
      let next;
      try {
        next = parseRecord(buf, start, end, mtimeMs, record, limit - base);
        if (next === PAST_END) {
          // The file may have grown since (a live log read by the CLI).
          limit = Math.max((await file.stat()).size, base + end);
          next = parseRecord(buf, start, end, mtimeMs, record, limit - base);
        }
      } catch (error) {
        if (!(error instanceof DamagedRecord)) throw error;
        const fileSize = await tornBeforeZeros(window, start);
        if (fileSize >= 0) return { validEnd: base + start, fileSize, records };
        throw damaged(path, base + start, error);
      }
      if (next === PAST_END) {
        // Torn if nothing complete follows inside it, else damaged.
        window.start = start;
        const hidden = await seekHiddenRecord(window, limit);
        if (hidden < 0) {
          return { validEnd: base + start, fileSize: limit, records };
        }
        throw new CorruptLogError(
          path,
          base + start,
          `record length runs past complete records at byte ${hidden}`,
        );
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

/** A log opened and locked by {@linkcode openLocked}. */
export interface LockedLog {
  /** The locked handle, open for reading and appending. */
  file: Deno.FsFile;
  /**
   * The log's absolute, symlink-free path, resolved once at open: where
   * compactions write their temp file and what they rename over.
   */
  realPath: string;
}

/**
 * Opens and locks the log at `path` for appending, creating it (mode 0600)
 * and its directory if missing, and removes a compaction temp file left by
 * a crash.
 *
 * @param onLocked Told the real path as soon as the lock is taken, before
 * the checks that follow it (which may still fail, or take the lock again).
 * @throws {StoreLockedError} When another handle holds the lock.
 */
export async function openLocked(
  path: string,
  onLocked?: (realPath: string) => void,
): Promise<LockedLog> {
  const realPath = await realLogPath(path);
  // A compaction can swap the file between our open and our lock, so check
  // that the locked inode is still the one at `realPath`.
  for (let attempt = 0; attempt < 3; attempt++) {
    const file = await openFile(path, realPath);
    if (!(await file.tryLock(true))) {
      file.close();
      throw new StoreLockedError(path);
    }
    onLocked?.(realPath);
    try {
      if (await isStillAt(file, path, realPath)) {
        await prepareTemp(path, realPath);
        return { file, realPath };
      }
    } catch (error) {
      file.close();
      throw error;
    }
    file.close();
  }
  throw new StoreLockedError(path);
}

/** Opens (creating, mode 0600) the log, saying what went wrong if not. */
async function openFile(path: string, realPath: string): Promise<Deno.FsFile> {
  try {
    // Tokens are secrets: a new log is for its owner's eyes only.
    return await Deno.open(realPath, {
      read: true,
      append: true,
      create: true,
      mode: LOG_MODE,
    });
  } catch (error) {
    if (error instanceof Deno.errors.IsADirectory) {
      throw cannotOpen(
        path,
        "it is a directory",
        `give the path of a file in it, such as "${
          path.replace(/\/+$/, "")
        }/sessions.db"`,
        error,
      );
    }
    throw cannotOpen(
      path,
      `cannot open the file (${describe(error)})`,
      "check its permissions, and Deno's --allow-read and --allow-write",
      error,
    );
  }
}

/**
 * Removes a compaction temp file left by a crash, and makes sure the next
 * compaction can create one: a log in a directory this process cannot
 * write would open fine, then fail every compaction while it grows.
 */
async function prepareTemp(path: string, realPath: string): Promise<void> {
  const temp = tempPath(realPath);
  try {
    await removeStaleTemp(temp);
    const probe = await Deno.open(temp, {
      write: true,
      createNew: true,
      mode: LOG_MODE,
    });
    probe.close();
    await Deno.remove(temp);
  } catch (error) {
    if (error instanceof NotATempFile) {
      throw cannotOpen(path, error.message, "move it away", error);
    }
    const directory = parentDirectory(realPath);
    throw cannotOpen(
      path,
      `cannot create files in its directory "${directory}" (${
        describe(error)
      })`,
      "compactions write a temp file there and rename it over the log: " +
        "make the directory writable (with Deno, --allow-write on the " +
        "directory, not only on the file)",
      error,
    );
  }
}

/**
 * Whether `realPath` still names the inode `file` has open. Only a missing
 * path means "swapped away"; any other failure is thrown, saying so.
 */
async function isStillAt(
  file: Deno.FsFile,
  path: string,
  realPath: string,
): Promise<boolean> {
  // Both settle before anything throws: closing the file while its stat is
  // still running would keep the lock until that stat ends.
  const [opened, current] = await Promise.allSettled([
    file.stat(),
    Deno.stat(realPath),
  ]);
  if (opened.status === "rejected") throw opened.reason;
  if (current.status === "fulfilled") {
    return current.value.ino === opened.value.ino;
  }
  const error = current.reason;
  if (error instanceof Deno.errors.NotFound) return false;
  throw cannotOpen(
    path,
    `cannot check that the locked log is still at its path (${
      describe(error)
    })`,
    "check the permissions of the file and its directory",
    error,
  );
}

/** A locked log, replayed and cut back to its last complete record. */
export interface RecoveredLog extends LockedLog {
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
 * @param onLocked Told the real path as soon as the lock is taken, before
 * the replay (which can take a second or more on a large log).
 * @throws {StoreLockedError} When another handle holds the lock.
 * @throws {CorruptLogError} When a record is damaged before the end.
 */
export async function openAndRecover(
  path: string,
  onRecord: ScanOptions["onRecord"],
  now: number = Date.now(),
  onLocked?: (realPath: string) => void,
): Promise<RecoveredLog> {
  const { file, realPath } = await openLocked(path, onLocked);
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
      realPath,
      size: scan.validEnd,
      recoveredBytes,
      records: scan.records,
    };
  } catch (error) {
    file.close();
    throw error;
  }
}

/** Where {@linkcode appendAll} writes. */
export interface AppendTarget {
  /** The log's handle. */
  file: LogFile;
  /** The log's path, for the error. */
  path: string;
  /** The log's size before this write, where a failure cuts it back to. */
  size: number;
}

/**
 * Writes all of `bytes` to the end of the log. On failure it cuts the file
 * back to `log.size`, so no partial record is left, and rethrows.
 *
 * @throws {LogBrokenError} When the cut-back fails too.
 */
export function appendAll(log: AppendTarget, bytes: Uint8Array): void {
  try {
    writeAll(log.file, bytes);
  } catch (error) {
    throw cutBack(log, error);
  }
}

/**
 * Like {@linkcode appendAll}, but the write runs on another thread, so the
 * event loop does not wait for it.
 *
 * @throws {LogBrokenError} When the cut-back fails too.
 */
export async function appendAllAsync(
  log: AppendTarget,
  bytes: Uint8Array,
): Promise<void> {
  try {
    await writeAllAsync(log.file, bytes);
  } catch (error) {
    throw cutBack(log, error);
  }
}

/**
 * Cuts the log back to `log.size` after a failed write and returns what to
 * throw. Cut back even when no call reported bytes written: a call that
 * fails may still have put some in the file, and they would become a
 * damaged record in the middle of the log once later writes follow.
 */
function cutBack(log: AppendTarget, error: unknown): unknown {
  try {
    log.file.truncateSync(log.size);
  } catch (truncateError) {
    return new LogBrokenError(log.path, { cause: [error, truncateError] });
  }
  return error;
}

function damaged(path: string, offset: number, error: unknown): unknown {
  if (!(error instanceof DamagedRecord)) return error;
  return new CorruptLogError(path, offset, error.message, { cause: error });
}
