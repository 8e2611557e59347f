/**
 * The arithmetic behind `stats`: what a compaction would write, the expiry
 * histogram, and the report itself.
 *
 * @module
 */

import { setRecordBytes } from "../aof.ts";
import { INDEX_KEY_PREFIX } from "../_store/owner_index.ts";

/** The `stats --json` report. */
export interface StatsReport {
  /** The log file. */
  file: string;
  /** Sessions that a store opened now would serve. */
  liveSessions: number;
  /** Sessions whose last record is a `set` that has expired since. */
  expiredPresent: number;
  /** Live owner index keys (`\0owner\0…`): not sessions, not counted above. */
  ownerIndexKeys: number;
  /** Complete records, empty ones included. */
  records: number;
  /** `set` records. */
  sets: number;
  /** `del` records. */
  dels: number;
  /** `flushdb` records. */
  flushes: number;
  /** Bytes in the file. */
  fileBytes: number;
  /** Bytes a compaction would write (one record per live session). */
  compactedBytes: number;
  /** Bytes a compaction would reclaim. */
  reclaimableBytes: number;
  /** Bytes of an incomplete last record (a write in progress). */
  writeInProgressBytes: number;
  /** Earliest expiry of a live session, Unix ms; null when none. */
  oldestExpiry: number | null;
  /** Latest finite expiry of a live session, Unix ms; null when none. */
  newestExpiry: number | null;
  /** Live sessions by time left, bucket label to count. */
  expiryHistogram: Record<string, number>;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Histogram buckets: label and exclusive upper bound of time left. */
const BUCKETS: [string, number][] = [
  ["< 1m", MINUTE],
  ["1m-1h", HOUR],
  ["1h-1d", DAY],
  ["1d-7d", 7 * DAY],
  ["7d-30d", 30 * DAY],
  [">= 30d", Infinity],
  ["never", NaN],
];

const encoder = new TextEncoder();

/** Builds the report from the replayed entries. */
export function summarize(
  file: string,
  entries: Map<string, { expiresAt: number; bytes: number }>,
  scan: { validEnd: number; fileSize: number; records: number },
  counts: { set: number; del: number; flushdb: number },
  now: number,
): StatsReport {
  const histogram: Record<string, number> = {};
  for (const [label] of BUCKETS) histogram[label] = 0;
  let live = 0;
  let indexKeys = 0;
  let expired = 0;
  let compacted = 0;
  let oldest = Infinity;
  let newest = -Infinity;
  for (const [key, { expiresAt, bytes }] of entries) {
    const isIndexKey = key.startsWith(INDEX_KEY_PREFIX);
    if (expiresAt <= now) {
      if (!isIndexKey) expired++;
      continue;
    }
    compacted += setRecordBytes(utf8Length(key), bytes, expiresAt);
    if (isIndexKey) {
      indexKeys++;
      continue;
    }
    live++;
    if (expiresAt < oldest) oldest = expiresAt;
    if (expiresAt !== Infinity && expiresAt > newest) newest = expiresAt;
    const left = expiresAt - now;
    const bucket = expiresAt === Infinity
      ? "never"
      : BUCKETS.find(([, bound]) => left < bound)![0];
    histogram[bucket]!++;
  }
  return {
    file,
    liveSessions: live,
    expiredPresent: expired,
    ownerIndexKeys: indexKeys,
    records: scan.records,
    sets: counts.set,
    dels: counts.del,
    flushes: counts.flushdb,
    fileBytes: scan.fileSize,
    compactedBytes: compacted,
    reclaimableBytes: Math.max(scan.validEnd - compacted, 0),
    writeInProgressBytes: scan.fileSize - scan.validEnd,
    oldestExpiry: Number.isFinite(oldest) ? oldest : null,
    newestExpiry: Number.isFinite(newest) ? newest : null,
    expiryHistogram: histogram,
  };
}

/** Renders the histogram as labelled bars, 30 columns at most. */
export function histogram(counts: Record<string, number>): string[] {
  const max = Math.max(1, ...Object.values(counts));
  const width = Math.max(...Object.keys(counts).map((label) => label.length));
  return Object.entries(counts).map(([label, count]) => {
    const bar = "#".repeat(Math.ceil(count / max * 30));
    return `  ${label.padEnd(width)}  ${String(count).padStart(9)}  ${bar}`;
  });
}

function utf8Length(text: string): number {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 127) return encoder.encode(text).length;
  }
  return text.length;
}
