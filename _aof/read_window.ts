/**
 * Reading a log front to back in chunks, and telling a torn last write from
 * damage that swallowed complete records.
 *
 * @module
 */

import {
  DamagedRecord,
  INCOMPLETE,
  type LogRecord,
  parseRecord,
  PAST_END,
} from "./record.ts";

const STAR = 0x2a;
const LF = 0x0a;

/** Read size while replaying a log. */
const READ_CHUNK = 1 << 20;
/** Read size while checking that a file ends in NUL bytes. */
const ZEROS_CHUNK = 64 * 1024;

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

  /**
   * Reads the rest of the file without keeping it, stopping at the first
   * byte that is not NUL. Returns how many bytes followed the window, or
   * -1 when one was not NUL; the file is left where it was.
   */
  async zerosToEnd(): Promise<number> {
    const position = this.base + this.end;
    const scratch = new Uint8Array(ZEROS_CHUNK);
    let total = 0;
    try {
      while (true) {
        const read = await this.#file.read(scratch);
        if (read === null) return total;
        for (let i = 0; i < read; i++) if (scratch[i] !== 0) return -1;
        total += read;
      }
    } finally {
      await this.#file.seek(position, Deno.SeekMode.Start);
    }
  }
}

/**
 * For the record at `window.start`, whose length runs past `limit` (the end
 * of the file) so that it can never complete: looks for a complete record
 * starting after a line feed inside it, as {@linkcode findHiddenRecord}
 * does, but reading the file on in chunks and keeping only the bytes of the
 * candidate being parsed, so a corrupted length early in a big log costs no
 * more memory than a chunk. Returns the file offset of the first complete
 * record, with the window starting there, or -1.
 */
export async function seekHiddenRecord(
  window: ReadWindow,
  limit: number,
): Promise<number> {
  const scratch: Partial<LogRecord> = {};
  let at = window.start + 1;
  while (true) {
    const { buf, base } = window;
    const end = Math.min(window.end, limit - base);
    let waiting = false;
    for (; at < end; at++) {
      if (buf[at] !== STAR || buf[at - 1] !== LF) continue;
      let next: number;
      try {
        next = parseRecord(buf, at, end, 0, scratch, limit - base);
      } catch (error) {
        // Damage right here: not a record boundary.
        if (error instanceof DamagedRecord) continue;
        throw error;
      }
      if (next === PAST_END) continue;
      if (next === INCOMPLETE) {
        waiting = true;
        break;
      }
      window.start = at;
      return base + at;
    }
    if (window.eof || base + window.end >= limit) {
      // A candidate cut off by the end of the file is no record; one
      // starting inside it may still be.
      if (!waiting) return -1;
      at++;
      continue;
    }
    // Keep the byte before the candidate (or before the end) for the check
    // that a line feed precedes it.
    window.start = at - 1;
    await window.readMore();
    at = 1;
  }
}

/**
 * Whether the damaged record at `buf[start]` is only torn by a power cut:
 * its bytes are the start of a valid record, followed by NUL bytes to the
 * end of the file (ext4 can leave zero-filled blocks after the last write,
 * where a killed process leaves none). Returns the file's size when so, to
 * cut at `start` like any torn tail, or -1.
 */
export async function tornBeforeZeros(
  window: ReadWindow,
  start: number,
): Promise<number> {
  const { buf, end } = window;
  let dataEnd = end;
  while (dataEnd > start && buf[dataEnd - 1] === 0) dataEnd--;
  // The record's first invalid byte is a NUL; a byte after it is not.
  if (dataEnd === end) return -1;
  try {
    if (parseRecord(buf, start, dataEnd, 0, {}) !== INCOMPLETE) return -1;
  } catch (error) {
    if (error instanceof DamagedRecord) return -1;
    throw error;
  }
  if (findHiddenRecord(buf, start, dataEnd) >= 0) return -1;
  const rest = await window.zerosToEnd();
  return rest < 0 ? -1 : window.base + end + rest;
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
