/**
 * buntdb's record format: RESP arrays of bulk strings. This file encodes
 * records into a growable buffer and parses one record at a time from a
 * byte range, telling apart a record that is merely incomplete (the bytes
 * end inside it) from one that is damaged.
 *
 * @module
 */

const CR = 13;
const LF = 10;
const STAR = 42;
const DOLLAR = 36;
const MINUS = 45;
const ZERO = 48;
const NINE = 57;

/** More parts than any command has (`set key value ae seconds`). */
const MAX_PARTS = 5;
/** Digits in a count or length; 15 keeps every value a safe integer. */
const MAX_DIGITS = 15;

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
// Keys are decoded exactly: the default decoder drops a leading U+FEFF, so
// "\uFEFFtok" would come back as "tok" and overwrite that session.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** A parsed record; `value` is a view into the parse buffer. */
export interface LogRecord {
  /** Which command the record holds. */
  command: "set" | "del" | "flushdb";
  /** The key, decoded as UTF-8 (empty for `flushdb`). */
  key: string;
  /** The key's bytes: a view into the parse buffer, like `value`. */
  keyBytes: Uint8Array;
  /** The value of a `set`: a view that must be copied to be kept. */
  value: Uint8Array;
  /** Absolute expiry in Unix milliseconds; `Infinity` for none. */
  expiresAt: number;
  /** Whether the expiry is a legacy `ex`, counted from the file's mtime. */
  legacy: boolean;
}

/**
 * A parse target to reuse across records, whose `key` is decoded only when
 * read: the store's loader hashes the key's bytes instead, and decoding a
 * million keys was a tenth of a reopen.
 */
export class LazyKeyRecord implements LogRecord {
  command: LogRecord["command"] = "flushdb";
  keyBytes: Uint8Array = EMPTY;
  value: Uint8Array = EMPTY;
  expiresAt = Infinity;
  legacy = false;
  #key: string | undefined = "";

  /** The key, decoded from `keyBytes` on first read. */
  get key(): string {
    return this.#key ??= decoder.decode(this.keyBytes);
  }

  /** Forgets the decoded key, for a new `keyBytes`. */
  forgetKey(): void {
    this.#key = undefined;
  }
}

/** A record that can never become valid, whatever bytes follow. */
export class DamagedRecord extends Error {
  /** Creates it; `reason` becomes the message. */
  constructor(reason: string) {
    super(reason);
    this.name = "DamagedRecord";
  }
}

/** Returned by {@linkcode parseRecord} when the bytes end inside a record. */
export const INCOMPLETE = -1;

/**
 * Returned by {@linkcode parseRecord} when a length runs past `limit`, the
 * end of the file: the record can never complete there.
 */
export const PAST_END = -2;

/**
 * Parses the record starting at `start` into `out`. Returns the offset just
 * past it, {@linkcode INCOMPLETE}, or {@linkcode PAST_END}. A `*0` record
 * is valid and empty: it returns its end with `out.command` set to
 * `undefined`.
 *
 * @param mtimeMs File modification time, to resolve legacy `ex` expiries.
 * @param limit Where the file ends, as an index into `buf`, when known.
 * @throws {DamagedRecord} When the bytes cannot start a valid record.
 */
export function parseRecord(
  buf: Uint8Array,
  start: number,
  end: number,
  mtimeMs: number,
  out: Partial<LogRecord>,
  limit = Infinity,
): number {
  if (buf[start] !== STAR) throw new DamagedRecord("expected '*'");
  const parts = readNumber(buf, start + 1, end);
  if (parts === INCOMPLETE) return INCOMPLETE;
  if (parts > MAX_PARTS) {
    throw new DamagedRecord(`array of ${parts} parts is not a command`);
  }
  let pos = numberEnd;
  for (let i = 0; i < parts; i++) {
    if (pos >= end) return INCOMPLETE;
    if (buf[pos] !== DOLLAR) throw new DamagedRecord("expected '$'");
    const length = readNumber(buf, pos + 1, end);
    if (length === INCOMPLETE) return INCOMPLETE;
    const bodyStart = numberEnd;
    const bodyEnd = bodyStart + length;
    if (i === 0) checkCommandName(buf, bodyStart, bodyEnd, end, parts);
    if (bodyEnd + 2 > limit) {
      // A command name that the file holds is checked first, as soon as
      // its bytes are read, whatever follows it.
      if (i === 0 && bodyEnd <= limit && bodyEnd > end) return INCOMPLETE;
      return PAST_END;
    }
    if (bodyEnd + 2 > end) return INCOMPLETE;
    if (buf[bodyEnd] !== CR || buf[bodyEnd + 1] !== LF) {
      throw new DamagedRecord("bulk string not followed by CRLF");
    }
    partStart[i] = bodyStart;
    partEnd[i] = bodyEnd;
    pos = bodyEnd + 2;
  }
  // Only an empty record deletes (which slows a reused class instance
  // down); every other one sets the command.
  if (parts === 0) delete out.command;
  else interpret(buf, parts, mtimeMs, out);
  return pos;
}

/**
 * Bytes {@linkcode RecordWriter.set} writes for a key and a value of these
 * byte lengths: what one entry costs in a compacted log.
 */
export function setRecordBytes(
  keyBytes: number,
  valueBytes: number,
  expiresAt: number,
): number {
  // `*3\r\n$3\r\nset\r\n` (or `*5`), then the key and the value.
  let total = 13 + bulkBytes(keyBytes) + bulkBytes(valueBytes);
  if (expiresAt !== Infinity) {
    // `$2\r\nae\r\n`, then the seconds.
    total += 8 + bulkBytes(String(Math.floor(expiresAt / 1000)).length);
  }
  return total;
}

function bulkBytes(length: number): number {
  return 1 + String(length).length + 2 + length + 2;
}

/** What a {@linkcode RecordWriter} starts with and goes back to. */
const INITIAL_CAPACITY = 64 * 1024;
/**
 * Past this, a reset gives the buffer back: one large value must not keep
 * twice its size allocated for the life of the store, while the batches of
 * a busy store (well under it) keep reusing theirs.
 */
const KEPT_CAPACITY = 1024 * 1024;

/** A growable byte buffer that encodes records in buntdb's format. */
export class RecordWriter {
  #bytes = new Uint8Array(INITIAL_CAPACITY);
  #length = 0;
  #suffixSeconds = NaN;
  #suffix = "";

  /** Bytes encoded so far. */
  get length(): number {
    return this.#length;
  }

  /** A view of the encoded bytes, valid until the next append or reset. */
  view(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }

  /**
   * Forgets the encoded bytes, keeping the allocation unless a large batch
   * grew it past 1 MiB.
   */
  reset(): void {
    this.#length = 0;
    if (this.#bytes.length > KEPT_CAPACITY) {
      this.#bytes = new Uint8Array(INITIAL_CAPACITY);
    }
  }

  /**
   * Appends `set key value`, with `ae <seconds>` when `expiresAt` is finite.
   * The seconds are rounded down so a reloaded entry never outlives it.
   * `ascii` says the caller has already found `key` to be ASCII.
   */
  set(
    key: string,
    value: Uint8Array,
    expiresAt: number,
    ascii: boolean = isAscii(key),
  ): void {
    const finite = expiresAt !== Infinity;
    const suffix = finite ? this.#expirySuffix(expiresAt) : "";
    this.#reserve(key.length * 3 + value.length + suffix.length + 64);
    this.#ascii(finite ? "*5\r\n$3\r\nset\r\n" : "*3\r\n$3\r\nset\r\n");
    this.#key(key, ascii);
    this.#bulk(value);
    this.#ascii(suffix);
  }

  /** Appends `del key`. */
  del(key: string): void {
    this.#reserve(key.length * 3 + 32);
    this.#ascii("*2\r\n$3\r\ndel\r\n");
    this.#key(key, isAscii(key));
  }

  /** The `ae` part for an expiry; consecutive saves mostly share it. */
  #expirySuffix(expiresAt: number): string {
    const seconds = Math.floor(expiresAt / 1000);
    if (seconds !== this.#suffixSeconds) {
      const digits = String(seconds);
      this.#suffixSeconds = seconds;
      this.#suffix = `$2\r\nae\r\n$${digits.length}\r\n${digits}\r\n`;
    }
    return this.#suffix;
  }

  /** Writes a key as a bulk string, skipping the encoder for ASCII. */
  #key(key: string, ascii: boolean): void {
    if (!ascii) return this.#bulk(encoder.encode(key));
    this.#ascii("$");
    this.#ascii(String(key.length));
    this.#ascii("\r\n");
    this.#ascii(key);
    this.#ascii("\r\n");
  }

  #bulk(bytes: Uint8Array): void {
    this.#ascii("$");
    this.#ascii(String(bytes.length));
    this.#ascii("\r\n");
    this.#bytes.set(bytes, this.#length);
    this.#length += bytes.length;
    this.#ascii("\r\n");
  }

  #ascii(text: string): void {
    const bytes = this.#bytes;
    let at = this.#length;
    for (let i = 0; i < text.length; i++) bytes[at++] = text.charCodeAt(i);
    this.#length = at;
  }

  #reserve(extra: number): void {
    const needed = this.#length + extra;
    if (needed <= this.#bytes.length) return;
    let capacity = this.#bytes.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#bytes.subarray(0, this.#length));
    this.#bytes = grown;
  }
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 127) return false;
  }
  return true;
}

/** Where the last {@linkcode readNumber} ended; avoids an object per call. */
let numberEnd = 0;

/**
 * Reads `<digits>\r\n` at `pos` and sets `numberEnd` past it; returns
 * {@linkcode INCOMPLETE} when the bytes end first.
 */
function readNumber(buf: Uint8Array, pos: number, end: number): number {
  let value = 0;
  let digits = 0;
  while (true) {
    if (pos >= end) return INCOMPLETE;
    const byte = buf[pos]!;
    if (byte === CR) break;
    if (byte < ZERO || byte > NINE) {
      throw new DamagedRecord("expected a digit in a length");
    }
    if (++digits > MAX_DIGITS) throw new DamagedRecord("length is too long");
    value = value * 10 + byte - ZERO;
    pos++;
  }
  if (digits === 0) throw new DamagedRecord("empty length");
  if (pos + 1 >= end) return INCOMPLETE;
  if (buf[pos + 1] !== LF) throw new DamagedRecord("expected LF after CR");
  numberEnd = pos + 2;
  return value;
}

/**
 * Rejects a record as soon as its command name is readable, so a damaged
 * length further on cannot pass for a torn write.
 */
function checkCommandName(
  buf: Uint8Array,
  bodyStart: number,
  bodyEnd: number,
  end: number,
  parts: number,
): void {
  if (bodyEnd > end) return;
  const valid = (isAsciiAt(buf, bodyStart, bodyEnd, "set") &&
    (parts === 3 || parts === 5)) ||
    (isAsciiAt(buf, bodyStart, bodyEnd, "del") && parts === 2) ||
    (isAsciiAt(buf, bodyStart, bodyEnd, "flushdb") && parts === 1);
  if (!valid) {
    const name = buf.subarray(bodyStart, bodyEnd);
    throw new DamagedRecord(
      `unknown command "${lowerAscii(name)}" with ${parts} parts`,
    );
  }
}

/** Where each part of the last parsed record starts and ends in its buffer. */
const partStart = new Int32Array(MAX_PARTS);
const partEnd = new Int32Array(MAX_PARTS);

function interpret(
  buf: Uint8Array,
  parts: number,
  mtimeMs: number,
  out: Partial<LogRecord>,
): void {
  const command = parts === 1
    ? "flushdb"
    : isAsciiAt(buf, partStart[0]!, partEnd[0]!, "set")
    ? "set"
    : "del";
  const keyBytes = command === "flushdb"
    ? EMPTY
    : buf.subarray(partStart[1]!, partEnd[1]!);
  out.keyBytes = keyBytes;
  if (out instanceof LazyKeyRecord) out.forgetKey();
  else out.key = command === "flushdb" ? "" : decoder.decode(keyBytes);
  out.value = parts > 2 ? buf.subarray(partStart[2]!, partEnd[2]!) : EMPTY;
  out.expiresAt = Infinity;
  out.legacy = false;
  out.command = command;
  if (parts !== 5) return;
  const seconds = parseSeconds(buf, partStart[4]!, partEnd[4]!);
  if (isAsciiAt(buf, partStart[3]!, partEnd[3]!, "ae")) {
    out.expiresAt = seconds * 1000;
  } else if (isAsciiAt(buf, partStart[3]!, partEnd[3]!, "ex")) {
    out.expiresAt = mtimeMs + seconds * 1000;
    out.legacy = true;
  } else {
    const kind = buf.subarray(partStart[3]!, partEnd[3]!);
    throw new DamagedRecord(`unknown expiry kind "${lowerAscii(kind)}"`);
  }
}

function parseSeconds(buf: Uint8Array, start: number, end: number): number {
  const negative = buf[start] === MINUS;
  const first = negative ? start + 1 : start;
  if (end === first || end - first > MAX_DIGITS) {
    throw new DamagedRecord("expiry is not a number");
  }
  let value = 0;
  for (let i = first; i < end; i++) {
    const byte = buf[i]!;
    if (byte < ZERO || byte > NINE) {
      throw new DamagedRecord("expiry is not a number");
    }
    value = value * 10 + byte - ZERO;
  }
  return negative ? -value : value;
}

/** Whether `buf[start..end)` spells the lower-case ASCII `word` in any case. */
function isAsciiAt(
  buf: Uint8Array,
  start: number,
  end: number,
  word: string,
): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    // Setting bit 0x20 lower-cases a letter; `word` holds letters only.
    if ((buf[start + i]! | 0x20) !== word.charCodeAt(i)) return false;
  }
  return true;
}

function lowerAscii(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes.subarray(0, 16)) {
    text += String.fromCharCode(byte >= 65 && byte <= 90 ? byte + 32 : byte);
  }
  return bytes.length > 16 ? text + "..." : text;
}
