/**
 * A scan of the whole log that does not stop at the first damaged record:
 * it notes the damaged byte range and resynchronises on the next record
 * that parses, so `verify` can describe every damaged spot and
 * `repair --skip` can keep what follows. Its verdict on the first damaged
 * record matches the engine's `scanLog`.
 *
 * @module
 */

import {
  findHiddenRecord,
  ReadWindow,
  seekHiddenRecord,
  tornBeforeZeros,
} from "./read_window.ts";
import {
  DamagedRecord,
  INCOMPLETE,
  type LogRecord,
  parseRecord,
  PAST_END,
} from "./record.ts";

/** A run of bytes that holds no readable record. */
export interface DamagedRange {
  /** File offset of the first damaged byte. */
  offset: number;
  /** Bytes up to the next readable record (or the end of the file). */
  length: number;
  /** What was wrong with the record at `offset`. */
  reason: string;
}

/** Called for every readable record; `record` is undefined for `*0`. */
export type OnScannedRecord = (
  record: LogRecord | undefined,
  offset: number,
  bytes: Uint8Array,
) => void;

/** Options for {@linkcode scanResilient}. */
export interface ResilientScanOptions {
  /** File modification time, for legacy `ex` expiries. */
  mtimeMs: number;
  /** Called for each readable record; the bytes must be copied to be kept. */
  onRecord?: OnScannedRecord;
  /** Called when a damaged range ends, before the record after it. */
  onDamage?: (range: DamagedRange) => void;
  /** Called after each read with the bytes consumed so far. */
  onProgress?: (offset: number) => void;
  /** Bytes read per call. */
  chunkSize?: number;
}

/** What {@linkcode scanResilient} found. */
export interface ResilientScan {
  /** Size of the file when scanned. */
  fileSize: number;
  /** Readable records, empty ones included. */
  records: number;
  /** Damaged ranges, in file order. */
  damaged: DamagedRange[];
  /** The incomplete last record (a write in progress or a crash), if any. */
  torn: { offset: number; length: number } | undefined;
  /** NUL bytes skipped between records (padding, not damage). */
  nulBytes: number;
}

const STAR = 42;

/** Reads every record of `file`, noting damaged ranges and a torn tail. */
export async function scanResilient(
  file: Deno.FsFile,
  options: ResilientScanOptions,
): Promise<ResilientScan> {
  const { mtimeMs, onRecord, onProgress } = options;
  const damage = (range: DamagedRange): void => {
    result.damaged.push(range);
    options.onDamage?.(range);
  };
  const window = new ReadWindow(file, options.chunkSize);
  const result: ResilientScan = {
    fileSize: 0,
    records: 0,
    damaged: [],
    torn: undefined,
    nulBytes: 0,
  };
  let damageStart = -1; // file offset while resynchronising, else -1
  let reason = "";
  const record: Partial<LogRecord> = {};
  // Where the file ends, so a damaged length is known never to complete
  // without reading the rest of the file into memory.
  let limit = (await file.stat()).size;
  await window.rewind();
  while (true) {
    const { buf, base, end, eof } = window;
    let start = window.start;
    limit = Math.max(limit, base + end);
    if (damageStart < 0) {
      while (start < end && buf[start] === 0) {
        start++;
        result.nulBytes++;
      }
      window.start = start;
      if (start < end) {
        let next: number;
        try {
          next = parseRecord(buf, start, end, mtimeMs, record, limit - base);
          if (next === PAST_END) {
            // The file may have grown since (a live log).
            limit = Math.max((await file.stat()).size, base + end);
            next = parseRecord(buf, start, end, mtimeMs, record, limit - base);
          }
        } catch (error) {
          if (!(error instanceof DamagedRecord)) throw error;
          // The engine cuts a record torn before zero-filled blocks.
          const fileSize = await tornBeforeZeros(window, start);
          if (fileSize >= 0) {
            result.torn = {
              offset: base + start,
              length: fileSize - base - start,
            };
            result.fileSize = fileSize;
            return result;
          }
          damageStart = base + start;
          reason = error.message;
          window.start = start + 1;
          continue;
        }
        if (next === PAST_END) {
          // Torn if nothing complete follows inside it, else damaged.
          const hidden = await seekHiddenRecord(window, limit);
          if (hidden < 0) {
            result.torn = {
              offset: base + start,
              length: limit - base - start,
            };
            result.fileSize = limit;
            return result;
          }
          damage({
            offset: base + start,
            length: hidden - base - start,
            reason:
              `record length runs past complete records at byte ${hidden}`,
          });
          continue;
        }
        if (next !== INCOMPLETE) {
          result.records++;
          const command = record.command;
          onRecord?.(
            command === undefined ? undefined : record as LogRecord,
            base + start,
            buf.subarray(start, next),
          );
          window.start = next;
          continue;
        }
        if (eof) {
          const hidden = findHiddenRecord(buf, start, end);
          if (hidden < 0) {
            result.torn = { offset: base + start, length: end - start };
            result.fileSize = base + end;
            return result;
          }
          damage({
            offset: base + start,
            length: hidden - start,
            reason: `record length runs past complete records at byte ${
              base + hidden
            }`,
          });
          window.start = hidden;
          continue;
        }
      } else if (eof) {
        result.fileSize = base + end;
        return result;
      }
    } else {
      const found = resync(buf, start, end, eof, mtimeMs);
      window.start = found.at;
      if (found.record) {
        damage({
          offset: damageStart,
          length: base + found.at - damageStart,
          reason,
        });
        damageStart = -1;
        continue;
      }
      if (eof) {
        damage({
          offset: damageStart,
          length: base + end - damageStart,
          reason,
        });
        result.fileSize = base + end;
        return result;
      }
    }
    await window.readMore();
    onProgress?.(window.base + window.start);
  }
}

/**
 * Looks for the next offset from `at` where a non-empty record parses
 * completely. Returns it with `record: true`, or the offset to keep
 * reading from (an incomplete candidate, or `end`) with `record: false`.
 */
function resync(
  buf: Uint8Array,
  at: number,
  end: number,
  eof: boolean,
  mtimeMs: number,
): { at: number; record: boolean } {
  const scratch: Partial<LogRecord> = {};
  for (; at < end; at++) {
    if (buf[at] !== STAR) continue;
    let next: number;
    try {
      next = parseRecord(buf, at, end, mtimeMs, scratch);
    } catch (error) {
      if (error instanceof DamagedRecord) continue; // not a record start
      throw error;
    }
    if (next === INCOMPLETE) {
      if (eof) continue;
      return { at, record: false };
    }
    if (scratch.command !== undefined) return { at, record: true };
  }
  return { at: end, record: false };
}
