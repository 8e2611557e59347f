/**
 * The read-only commands: `stats`, `get`, `verify` and `dump`. They open
 * the log with a plain read handle and never take the lock nor change a
 * byte, so they work on a live store; an incomplete last record there is
 * a write in progress, not damage.
 *
 * @module
 */

import { type LogRecord, scanLog, scanResilient } from "../aof.ts";
import { CorruptLogError } from "../errors.ts";
import { repairCommand } from "../_aof/repair_command.ts";
import { Progress, terminalColumns } from "./progress.ts";
import {
  CliError,
  EXIT_FAILURE,
  formatBytes,
  formatCount,
  formatExpiry,
  jsonExpiry,
  type Output,
  table,
} from "./output.ts";
import { histogram, type StatsReport, summarize } from "./stats.ts";
import type { SessionCipher } from "../_session/encryption.ts";

/** Flags every reporting command understands. */
export interface ReportFlags {
  /** Print JSON instead of text. */
  json: boolean;
  /** No progress bar and no notes on stderr. */
  quiet: boolean;
}

/** An open read-only log. */
export interface ReadOnlyLog extends Disposable {
  /** The handle. */
  file: Deno.FsFile;
  /** Size at open. */
  size: number;
  /** Modification time, for legacy `ex` expiries. */
  mtimeMs: number;
}

/** Opens `path` for reading only, with a one-line error when it is missing. */
async function openReadOnly(path: string): Promise<ReadOnlyLog> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CliError(`Cannot read "${path}": no such file`);
    }
    throw error;
  }
  const stat = await file.stat();
  if (!stat.isFile) {
    file.close();
    throw new CliError(`Cannot read "${path}": not a regular file`);
  }
  return {
    file,
    size: stat.size,
    mtimeMs: stat.mtime?.getTime() ?? Date.now(),
    [Symbol.dispose]: () => file.close(),
  };
}

/** The progress bar for reading a log of `size` bytes. */
export function readProgress(
  out: Output,
  flags: ReportFlags,
  label: string,
  size: number,
): Progress {
  return new Progress(out.io.stderr, {
    enabled: out.io.stderrIsTerminal && !flags.quiet,
    total: size,
    label,
    columns: out.io.stderrIsTerminal ? terminalColumns() : 80,
  });
}

/**
 * Replays the log with the engine's own reader, as `BuntStore.open` would,
 * but without truncating anything. Returns the valid end and file size.
 */
export async function replay(
  path: string,
  log: ReadOnlyLog,
  progress: Progress,
  onRecord: (record: LogRecord, offset: number, length: number) => void,
): Promise<{ validEnd: number; fileSize: number; records: number }> {
  try {
    return await scanLog(log.file, {
      path,
      mtimeMs: log.mtimeMs,
      onRecord,
      onProgress: (offset) => progress.update(offset),
    });
  } catch (error) {
    if (error instanceof CorruptLogError) {
      throw new CliError(
        error.message,
        EXIT_FAILURE,
        { cause: error },
      );
    }
    throw error;
  } finally {
    progress.finish();
  }
}

/** `stats FILE`: counts, sizes and an expiry histogram. */
export async function statsCommand(
  out: Output,
  path: string,
  flags: ReportFlags,
): Promise<number> {
  using log = await openReadOnly(path);
  const now = out.io.now();
  const entries = new Map<string, { expiresAt: number; bytes: number }>();
  const counts = { set: 0, del: 0, flushdb: 0 };
  const scan = await replay(
    path,
    log,
    readProgress(out, flags, "stats", log.size),
    (record) => {
      counts[record.command]++;
      if (record.command === "flushdb") entries.clear();
      else if (record.command === "del") entries.delete(record.key);
      else if (record.key !== "") {
        // An empty key is not a session, here as in the store.
        entries.set(record.key, {
          expiresAt: record.expiresAt,
          bytes: record.value.length,
        });
      }
    },
  );
  const report = summarize(path, entries, scan, counts, now);
  if (flags.json) out.json(report);
  else printStats(out, report, now);
  return 0;
}

/** `get FILE TOKEN`: one session's expiry and value. */
export async function getCommand(
  out: Output,
  path: string,
  key: string,
  token: string,
  flags: ReportFlags,
): Promise<number> {
  using log = await openReadOnly(path);
  const now = out.io.now();
  let found: { value: Uint8Array; expiresAt: number } | undefined;
  const scan = await replay(
    path,
    log,
    readProgress(out, flags, "get", log.size),
    (record) => {
      if (record.command === "flushdb") found = undefined;
      else if (record.key !== key) return;
      else if (record.command === "del") found = undefined;
      else found = { value: record.value.slice(), expiresAt: record.expiresAt };
    },
  );
  const live = found !== undefined && found.expiresAt > now;
  const torn = scan.fileSize - scan.validEnd;
  if (!live) {
    const why = found === undefined ? "no such session" : "session expired";
    if (flags.json) {
      out.json({
        token,
        key,
        found: false,
        reason: why,
        expires: found === undefined ? null : jsonExpiry(found.expiresAt),
      });
    }
    throw new CliError(`Cannot get "${token}" from "${path}": ${why}`);
  }
  const { value, expiresAt } = found!;
  const text = decodeText(value);
  if (flags.json) {
    out.json({
      token,
      key,
      found: true,
      expires: jsonExpiry(expiresAt),
      bytes: value.length,
      encoding: text === undefined ? "base64" : "utf-8",
      value: text ?? value.toBase64(),
      writeInProgressBytes: torn,
    });
    return 0;
  }
  const rows: [string, string][] = [["token", token]];
  if (key !== token) rows.push(["key", key]);
  rows.push(
    ["expires", formatExpiry(expiresAt, now)],
    ["bytes", formatCount(value.length)],
    ["encoding", text === undefined ? "base64" : "utf-8"],
  );
  for (const row of table(rows)) out.line(row);
  out.line();
  out.line(text ?? value.toBase64());
  return 0;
}

/** `verify FILE`: reads the whole log; exit 1 when a record is damaged. */
export async function verifyCommand(
  out: Output,
  path: string,
  flags: ReportFlags,
): Promise<number> {
  using log = await openReadOnly(path);
  const progress = readProgress(out, flags, "verify", log.size);
  const started = performance.now();
  let scan;
  try {
    scan = await scanResilient(log.file, {
      mtimeMs: log.mtimeMs,
      onProgress: (offset) => progress.update(offset),
    });
  } finally {
    progress.finish();
  }
  const ms = performance.now() - started;
  const first = scan.damaged[0];
  if (flags.json) {
    out.json({
      file: path,
      ok: first === undefined,
      fileBytes: scan.fileSize,
      records: scan.records,
      damaged: scan.damaged,
      damagedBytes: scan.damaged.reduce((sum, range) => sum + range.length, 0),
      writeInProgress: scan.torn ?? null,
      nulBytes: scan.nulBytes,
      ms: Math.round(ms),
    });
  } else {
    out.line(
      `${path}: ${formatCount(scan.records)} records, ${
        formatBytes(scan.fileSize)
      } read in ${(ms / 1000).toFixed(2)}s`,
    );
    if (scan.torn !== undefined) {
      out.line(
        `write in progress: the last ${scan.torn.length} bytes (from byte ${scan.torn.offset}) are an incomplete record; not damage`,
      );
    }
    for (const range of scan.damaged) {
      out.line(
        `damaged: ${range.length} bytes at byte ${range.offset}: ${range.reason}`,
      );
    }
    if (first === undefined) out.line("OK: no damaged records");
  }
  if (first === undefined) return 0;
  throw new CliError(
    `"${path}" is damaged at byte ${first.offset}: ${first.reason}` +
      (scan.damaged.length > 1
        ? ` (and ${scan.damaged.length - 1} more damaged ranges)`
        : "") +
      `; to keep every intact record, run: ${
        repairCommand(path)
      } (it keeps a .bak copy)`,
  );
}

/**
 * `dump FILE`: live sessions as JSON Lines. Two passes over one handle:
 * the first keeps only each key's last offset (not its value), the second
 * writes the records found at those offsets, so memory grows with the
 * number of keys, never with the data.
 */
export async function dumpCommand(
  out: Output,
  path: string,
  flags: ReportFlags,
  sink: (bytes: Uint8Array) => void,
  cipher?: SessionCipher,
): Promise<number> {
  using log = await openReadOnly(path);
  const now = out.io.now();
  const last = new Map<string, number>();
  const first = await replay(
    path,
    log,
    readProgress(out, flags, "dump 1/2", log.size),
    (record, offset) => {
      if (record.command === "flushdb") last.clear();
      else if (
        record.command === "set" && record.expiresAt > now &&
        record.key !== ""
      ) {
        last.set(record.key, offset);
      } else last.delete(record.key);
    },
  );
  const encoder = new TextEncoder();
  let lines: string[] = [];
  let pending = 0;
  let written = 0;
  await replay(
    path,
    log,
    readProgress(out, flags, "dump 2/2", first.validEnd),
    (record, offset) => {
      if (offset >= first.validEnd || last.get(record.key) !== offset) return;
      const plain = cipher === undefined
        ? undefined
        : decrypted(cipher, record.key, record.value);
      const line = JSON.stringify({
        token: record.key,
        expires: jsonExpiry(record.expiresAt),
        value: record.value.toBase64(),
        ...(plain === undefined ? {} : { decrypted: plain }),
      });
      lines.push(line);
      pending += line.length;
      written++;
      if (pending > 1 << 20) {
        sink(encoder.encode(lines.join("\n") + "\n"));
        lines = [];
        pending = 0;
      }
    },
  );
  if (lines.length > 0) sink(encoder.encode(lines.join("\n") + "\n"));
  const torn = first.fileSize - first.validEnd;
  if (!flags.quiet) {
    const note = torn > 0
      ? ` (last ${torn} bytes are a write in progress, not included)`
      : "";
    out.error(`dumped ${formatCount(written)} sessions from ${path}${note}`);
  }
  return 0;
}

/**
 * The plaintext of an encrypted session (UTF-8 text, else base64), or
 * `undefined` when no key decrypts it (or it is no encrypted session).
 */
function decrypted(
  cipher: SessionCipher,
  key: string,
  value: Uint8Array,
): string | undefined {
  if (cipher.keyIndexOf(value) === -1) return undefined;
  let plain;
  try {
    plain = cipher.open(key, value);
  } catch {
    // Tampered, or moved under another key: shown as ciphertext only.
    return undefined;
  }
  return decodeText(plain) ?? new Uint8Array(plain).toBase64();
}

const strictDecoder = new TextDecoder("utf-8", {
  fatal: true,
  ignoreBOM: true,
});

/** The bytes as text when they are valid UTF-8 without control bytes. */
function decodeText(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = strictDecoder.decode(bytes);
  } catch {
    // Not valid UTF-8: the caller shows base64 instead.
    return undefined;
  }
  // deno-lint-ignore no-control-regex
  return /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(text) ? undefined : text;
}

function printStats(out: Output, report: StatsReport, now: number): void {
  const rows: [string, string][] = [
    ["file", report.file],
    ["live sessions", formatCount(report.liveSessions)],
    ["expired, still in file", formatCount(report.expiredPresent)],
    ["owner index keys", formatCount(report.ownerIndexKeys)],
    [
      "records",
      `${formatCount(report.records)} (${formatCount(report.sets)} set, ${
        formatCount(report.dels)
      } del, ${formatCount(report.flushes)} flushdb)`,
    ],
    ["file bytes", formatBytes(report.fileBytes)],
    ["after compaction", formatBytes(report.compactedBytes)],
    [
      "reclaimable",
      `${formatBytes(report.reclaimableBytes)} (run "buntstore shrink")`,
    ],
    [
      "oldest expiry",
      report.oldestExpiry === null
        ? "-"
        : formatExpiry(report.oldestExpiry, now),
    ],
    [
      "newest expiry",
      report.newestExpiry === null
        ? "-"
        : formatExpiry(report.newestExpiry, now),
    ],
  ];
  if (report.writeInProgressBytes > 0) {
    rows.push([
      "write in progress",
      `${report.writeInProgressBytes} bytes at the end (an incomplete record)`,
    ]);
  }
  for (const row of table(rows)) out.line(row);
  out.line();
  out.line("expires in:");
  for (const line of histogram(report.expiryHistogram)) out.line(line);
}
