/**
 * The commands that change a log under the engine's lock: `del`, `shrink`
 * and `load`.
 *
 * @module
 */

import { appendAll, openAndRecover, RecordWriter } from "../aof.ts";
import { assertToken } from "../_session_store/validate.ts";
import { explain, openStoreForChange } from "./lock.ts";
import { readProgress, type ReportFlags } from "./read.ts";
import { CliError, formatBytes, formatCount, type Output } from "./output.ts";

/** Bytes of records buffered before a write during `load`. */
const LOAD_CHUNK = 1 << 20;

/** `del FILE TOKEN`: deletes one session; exit 1 when it is not there. */
export async function delCommand(
  out: Output,
  path: string,
  key: string,
  token: string,
  flags: ReportFlags,
): Promise<number> {
  await using store = await openStoreForChange(path, "delete from", {
    sync: "always",
    now: out.io.now,
  });
  const recovered = store.stats().recoveredBytes;
  const existed = (await store.find(key)) !== undefined;
  if (existed) await store.delete(key);
  if (flags.json) {
    out.json({ file: path, token, key, deleted: existed, recovered });
  } else if (existed) out.line(`deleted ${token} from ${path}`);
  noteRecovered(out, flags, path, recovered);
  if (!existed) {
    throw new CliError(
      `Cannot delete "${token}" from "${path}": no such session (or expired)`,
    );
  }
  return 0;
}

/** `shrink FILE`: offline compaction with the engine's own compactor. */
export async function shrinkCommand(
  out: Output,
  path: string,
  flags: ReportFlags,
): Promise<number> {
  const started = performance.now();
  await using store = await openStoreForChange(path, "shrink", {
    now: out.io.now,
  });
  const before = store.stats();
  await store.shrink();
  const after = store.stats();
  const ms = performance.now() - started;
  if (flags.json) {
    out.json({
      file: path,
      sessions: after.keys,
      bytesBefore: before.fileBytes,
      bytesAfter: after.fileBytes,
      reclaimedBytes: before.fileBytes - after.fileBytes,
      recovered: before.recoveredBytes,
      ms: Math.round(ms),
    });
  } else {
    out.line(
      `${path}: ${formatBytes(before.fileBytes)} -> ${
        formatBytes(after.fileBytes)
      } (${formatCount(after.keys)} sessions) in ${(ms / 1000).toFixed(2)}s`,
    );
  }
  noteRecovered(out, flags, path, before.recoveredBytes);
  return 0;
}

/**
 * `load FILE`: appends the sessions of a JSON Lines dump to the log (made
 * if missing), all or nothing: a bad line cuts the file back to its size
 * before the load. Expired entries are skipped.
 */
export async function loadCommand(
  out: Output,
  path: string,
  input: ReadableStream<Uint8Array>,
  flags: ReportFlags,
  inputBytes = 0,
): Promise<number> {
  let log;
  try {
    // A torn last record is a crash's leftover: it is cut off before the
    // load appends after it, as at every open.
    log = await openAndRecover(path, () => {});
  } catch (error) {
    throw explain(error, path, "load into");
  }
  using file = log.file;
  const recovered = log.recoveredBytes;
  const sizeBefore = log.size;
  let size = sizeBefore;
  const records = new RecordWriter();
  const now = out.io.now();
  let loaded = 0;
  let expired = 0;
  let lineNumber = 0;
  const progress = readProgress(out, flags, "load", inputBytes);
  try {
    for await (const line of lines(input, (read) => progress.update(read))) {
      lineNumber++;
      if (line.trim() === "") continue;
      const entry = parseEntry(line, lineNumber);
      if (entry.expiresAt <= now) {
        expired++;
        continue;
      }
      records.set(entry.token, entry.value, entry.expiresAt);
      loaded++;
      if (records.length >= LOAD_CHUNK) {
        appendAll({ file, path, size }, records.view());
        size += records.length;
        records.reset();
      }
    }
    appendAll({ file, path, size }, records.view());
    size += records.length;
    progress.finish();
    await file.syncData();
  } catch (error) {
    progress.finish();
    await file.truncate(sizeBefore);
    await file.syncData();
    if (error instanceof CliError) {
      throw new CliError(
        `${error.message}: nothing was loaded into "${path}"`,
        error.exitCode,
        { cause: error },
      );
    }
    throw error;
  }
  if (flags.json) {
    out.json({
      file: path,
      loaded,
      skippedExpired: expired,
      bytesBefore: sizeBefore,
      bytesAfter: size,
      recovered,
    });
  } else {
    out.line(
      `loaded ${formatCount(loaded)} sessions into ${path} (${
        formatCount(expired)
      } expired skipped), ${formatBytes(size - sizeBefore)} written`,
    );
  }
  noteRecovered(out, flags, path, recovered);
  return 0;
}

/** One line of a dump, checked. */
interface DumpEntry {
  token: string;
  value: Uint8Array;
  expiresAt: number;
}

/** Parses and checks one JSON Lines entry. */
function parseEntry(line: string, lineNumber: number): DumpEntry {
  const fail = (why: string) => new CliError(`Line ${lineNumber}: ${why}`);
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch (error) {
    throw fail(`not JSON: ${(error as Error).message}`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw fail('expected an object {"token","expires","value"}');
  }
  const { token, expires, value } = data as Record<string, unknown>;
  try {
    assertToken(token);
  } catch (error) {
    throw fail((error as Error).message);
  }
  if (
    expires !== null &&
    (typeof expires !== "number" || !Number.isSafeInteger(expires))
  ) {
    throw fail('"expires" must be Unix milliseconds (an integer) or null');
  }
  if (typeof value !== "string") {
    throw fail('"value" must be a base64 string');
  }
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.fromBase64(value);
  } catch {
    // The decoder's own message names no line; ours does.
    throw fail('"value" is not valid base64');
  }
  return { token, value: bytes, expiresAt: expires ?? Infinity };
}

/** Splits a byte stream into lines without holding more than one chunk. */
async function* lines(
  input: ReadableStream<Uint8Array>,
  onRead: (bytes: number) => void,
): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let rest = "";
  let read = 0;
  for await (const chunk of input) {
    onRead(read += chunk.length);
    const text = rest + decoder.decode(chunk, { stream: true });
    const parts = text.split("\n");
    rest = parts.pop()!;
    yield* parts;
  }
  rest += decoder.decode();
  if (rest !== "") yield rest;
}

function noteRecovered(
  out: Output,
  flags: ReportFlags,
  path: string,
  recovered: number,
): void {
  if (recovered > 0 && !flags.quiet && !flags.json) {
    out.error(
      `note: cut off an incomplete last record of ${recovered} bytes in ${path} (left by a crash)`,
    );
  }
}
