/**
 * `repair FILE`: under the engine's lock, keep a `.bak` copy, then either
 * cut the log at its first damaged record or, with `--skip`, rewrite it
 * without the damaged ranges; report exactly what was dropped.
 *
 * @module
 */

import {
  CompactionFile,
  parentDirectory,
  syncDirectory,
  writeAll,
} from "./aof.ts";
import { type DamagedRange, scanResilient } from "./_cli_scan.ts";
import { lockForChange } from "./_cli_lock.ts";
import { readProgress, type ReportFlags } from "./_cli_read.ts";
import { formatBytes, formatCount, type Output } from "./_cli_output.ts";
import type { Progress } from "./_cli_progress.ts";

/** Flags of `repair`. */
export interface RepairFlags extends ReportFlags {
  /** Drop only damaged records and keep what follows them. */
  skip: boolean;
}

/** Records cut off after the first damage (truncating mode only). */
export interface DroppedRecords {
  /** How many complete records were dropped. */
  count: number;
  /** Of which `set`. */
  sets: number;
  /** Of which `del`. */
  dels: number;
  /** Distinct keys named by the dropped records, in file order. */
  keys: string[];
}

/** What `repair` did, as printed by `--json`. */
export interface RepairReport {
  /** The log file. */
  file: string;
  /** `truncate` or `skip`. */
  mode: "truncate" | "skip";
  /** Whether the file was changed. */
  changed: boolean;
  /** The backup copy, or null when nothing needed repair. */
  backup: string | null;
  /** Size before. */
  bytesBefore: number;
  /** Size after. */
  bytesAfter: number;
  /** Damaged ranges dropped. */
  damaged: DamagedRange[];
  /** An incomplete last record dropped, or null. */
  tornTail: { offset: number; length: number } | null;
  /** Complete records dropped because they followed the cut. */
  droppedRecords: DroppedRecords;
  /** NUL padding bytes dropped (skip mode rewrites without them). */
  nulBytesDropped: number;
  /** Complete records kept. */
  recordsKept: number;
}

/** How many dropped keys the text report lists. */
const KEYS_SHOWN = 10;
/** Bytes buffered before a write to the rewritten log. */
const WRITE_CHUNK = 1 << 20;

/** Runs `repair`; returns the exit code. */
export async function repairCommand(
  out: Output,
  path: string,
  flags: RepairFlags,
): Promise<number> {
  using file = await lockForChange(path, "repair");
  const stat = await file.stat();
  const progress = readProgress(out, flags, "repair", stat.size);
  const dropped: DroppedRecords = { count: 0, sets: 0, dels: 0, keys: [] };
  const droppedKeys = new Set<string>();
  let damageSeen = false;
  let recordsBeforeDamage = 0;
  const scan = await scanResilient(file, {
    mtimeMs: stat.mtime?.getTime() ?? Date.now(),
    onProgress: (offset) => progress.update(offset),
    onDamage: () => damageSeen = true,
    onRecord: (record) => {
      if (!damageSeen) {
        recordsBeforeDamage++;
        return;
      }
      if (flags.skip) return;
      dropped.count++;
      if (record === undefined) return;
      if (record.command === "set") dropped.sets++;
      if (record.command === "del") dropped.dels++;
      if (record.key !== "" && !droppedKeys.has(record.key)) {
        droppedKeys.add(record.key);
        dropped.keys.push(record.key);
      }
    },
  }).finally(() => progress.finish());
  const needsRepair = scan.damaged.length > 0 || scan.torn !== undefined ||
    (flags.skip && scan.nulBytes > 0);
  const report: RepairReport = {
    file: path,
    mode: flags.skip ? "skip" : "truncate",
    changed: needsRepair,
    backup: null,
    bytesBefore: scan.fileSize,
    bytesAfter: scan.fileSize,
    damaged: scan.damaged,
    tornTail: scan.torn ?? null,
    droppedRecords: dropped,
    nulBytesDropped: 0,
    recordsKept: flags.skip ? scan.records : recordsBeforeDamage,
  };
  if (needsRepair) {
    report.backup = await backUp(path, file);
    if (flags.skip) {
      const rewrite = readProgress(out, flags, "rewrite", stat.size);
      report.bytesAfter = await rewriteWithout(path, file, stat.mtime, rewrite)
        .finally(() => rewrite.finish());
      report.nulBytesDropped = scan.nulBytes;
    } else {
      const cut = Math.min(
        scan.damaged[0]?.offset ?? Infinity,
        scan.torn?.offset ?? Infinity,
      );
      await file.truncate(cut);
      await file.syncData();
      report.bytesAfter = cut;
    }
  }
  if (flags.json) out.json(report);
  else printReport(out, report);
  return 0;
}

/** Copies the log to the first free `.bak` name and makes it durable. */
async function backUp(path: string, file: Deno.FsFile): Promise<string> {
  for (let n = 0;; n++) {
    const name = n === 0 ? `${path}.bak` : `${path}.bak.${n}`;
    let backup: Deno.FsFile;
    try {
      backup = await Deno.open(name, {
        write: true,
        createNew: true,
        mode: 0o600,
      });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) continue;
      throw error;
    }
    try {
      await file.seek(0, Deno.SeekMode.Start);
      const chunk = new Uint8Array(WRITE_CHUNK);
      while (true) {
        const read = await file.read(chunk);
        if (read === null) break;
        writeAll(backup, chunk.subarray(0, read));
      }
      await backup.syncData();
    } finally {
      backup.close();
    }
    await syncDirectory(parentDirectory(path));
    return name;
  }
}

/**
 * Writes every readable record to the engine's compaction temp file and
 * swaps it in atomically; returns the new size.
 */
async function rewriteWithout(
  path: string,
  file: Deno.FsFile,
  mtime: Date | null,
  progress: Progress,
): Promise<number> {
  const temp = await CompactionFile.create(path, 0);
  let committed = false;
  try {
    const buffer = new Uint8Array(WRITE_CHUNK);
    let filled = 0;
    await scanResilient(file, {
      mtimeMs: mtime?.getTime() ?? Date.now(),
      onProgress: (offset) => progress.update(offset),
      onRecord: (_record, _offset, bytes) => {
        if (filled + bytes.length > buffer.length) {
          temp.write(buffer.subarray(0, filled));
          filled = 0;
        }
        if (bytes.length > buffer.length) temp.write(bytes);
        else {
          buffer.set(bytes, filled);
          filled += bytes.length;
        }
      },
    });
    temp.write(buffer.subarray(0, filled));
    await temp.sync();
    const swapped = await temp.commit();
    committed = true;
    swapped.close();
    // The rename must survive a power cut before we report success.
    await syncDirectory(temp.directory);
    return temp.size;
  } finally {
    if (!committed) await temp.discard();
  }
}

function printReport(out: Output, report: RepairReport): void {
  if (!report.changed) {
    out.line(`${report.file}: nothing to repair; the file was not changed`);
    return;
  }
  out.line(`${report.file}: backup written to ${report.backup}`);
  for (const range of report.damaged) {
    out.line(
      `dropped damaged: ${range.length} bytes at byte ${range.offset}: ${range.reason}`,
    );
  }
  if (report.tornTail !== null) {
    out.line(
      `dropped incomplete last record: ${report.tornTail.length} bytes at byte ${report.tornTail.offset}`,
    );
  }
  const records = report.droppedRecords;
  if (records.count > 0) {
    const shown = records.keys.slice(0, KEYS_SHOWN).join(", ");
    const more = records.keys.length > KEYS_SHOWN
      ? ` and ${records.keys.length - KEYS_SHOWN} more (see --json)`
      : "";
    out.line(
      `dropped ${
        formatCount(records.count)
      } complete records after the damage (${records.sets} set, ${records.dels} del) for keys: ${shown}${more}`,
    );
  }
  if (report.nulBytesDropped > 0) {
    out.line(`dropped ${report.nulBytesDropped} NUL padding bytes`);
  }
  if (report.mode === "skip" && report.damaged.length > 0) {
    out.line(
      "note: a damaged record cannot be read; if it deleted a session, that session is live again",
    );
  }
  out.line(
    `kept ${formatCount(report.recordsKept)} records; ${
      formatBytes(report.bytesBefore)
    } -> ${formatBytes(report.bytesAfter)}`,
  );
}
