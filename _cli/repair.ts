/**
 * `repair FILE`: under the engine's lock, keep a `.bak` copy, then either
 * cut the log at its first damaged record or, with `--skip`, rewrite it
 * without the damaged ranges; report exactly what was dropped.
 *
 * @module
 */

import {
  CompactionFile,
  type DamagedRange,
  parentDirectory,
  scanResilient,
  syncDirectory,
  writeAll,
} from "../aof.ts";
import { lockForChange } from "./lock.ts";
import { readProgress, type ReportFlags } from "./read.ts";
import { formatBytes, formatCount, type Output } from "./output.ts";

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
  const { file: locked, realPath } = await lockForChange(path, "repair");
  using file = locked;
  const stat = await file.stat();
  // With --skip the repaired log is written during the one scan, and only
  // swapped in if the scan finds something to repair.
  const rewrite = flags.skip ? await Rewrite.create(realPath) : undefined;
  try {
    return await repairLocked(out, path, flags, file, stat, rewrite);
  } finally {
    await rewrite?.discard();
  }
}

async function repairLocked(
  out: Output,
  path: string,
  flags: RepairFlags,
  file: Deno.FsFile,
  stat: Deno.FileInfo,
  rewrite: Rewrite | undefined,
): Promise<number> {
  const progress = readProgress(out, flags, "repair", stat.size);
  const dropped: DroppedRecords = { count: 0, sets: 0, dels: 0, keys: [] };
  const droppedKeys = new Set<string>();
  let damageSeen = false;
  let recordsBeforeDamage = 0;
  const scan = await scanResilient(file, {
    mtimeMs: stat.mtime?.getTime() ?? Date.now(),
    onProgress: (offset) => progress.update(offset),
    onDamage: () => damageSeen = true,
    onRecord: (record, _offset, bytes) => {
      rewrite?.add(bytes);
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
    if (rewrite !== undefined) {
      report.bytesAfter = await rewrite.commit();
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
 * The repaired log of `--skip`: every readable record, written to the
 * engine's compaction temp file and swapped in atomically.
 */
class Rewrite {
  readonly #temp: CompactionFile;
  readonly #buffer = new Uint8Array(WRITE_CHUNK);
  #filled = 0;
  #done = false;

  private constructor(temp: CompactionFile) {
    this.#temp = temp;
  }

  /** Creates the temp file next to the log at `path`. */
  static async create(path: string): Promise<Rewrite> {
    return new Rewrite(await CompactionFile.create(path));
  }

  /** Adds one record's bytes, buffered into large writes. */
  add(bytes: Uint8Array): void {
    if (this.#filled + bytes.length > this.#buffer.length) this.#flush();
    if (bytes.length > this.#buffer.length) this.#temp.write(bytes);
    else {
      this.#buffer.set(bytes, this.#filled);
      this.#filled += bytes.length;
    }
  }

  /** Swaps the rewritten log in durably; returns its size. */
  async commit(): Promise<number> {
    this.#flush();
    await this.#temp.sync();
    const swapped = await this.#temp.commit();
    this.#done = true;
    swapped.close();
    // The rename must survive a power cut before we report success.
    await syncDirectory(this.#temp.directory);
    return this.#temp.size;
  }

  /** Removes the temp file unless it was swapped in. */
  async discard(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.#temp.discard();
  }

  #flush(): void {
    this.#temp.write(this.#buffer.subarray(0, this.#filled));
    this.#filled = 0;
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
