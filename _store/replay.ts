/**
 * Replaying one log record into a store's keyspace and owner index at
 * open: the hot loop of a reopen, so it works on the record's key bytes
 * and only decodes a key when it must.
 *
 * @module
 */

import type { LogRecord } from "../aof.ts";
import type { Keyspace } from "./keyspace.ts";
import type { OwnerIndex } from "./owner_index.ts";

/** Applies `record` (read at `now`) to `keyspace` and `owners`. */
export function replayRecord(
  record: LogRecord,
  keyspace: Keyspace,
  owners: OwnerIndex,
  now: number,
): void {
  const { command, keyBytes } = record;
  if (command === "flushdb") {
    keyspace.clear();
    owners.clear();
    return;
  }
  const gone = command === "del" || record.expiresAt <= now;
  if (keyBytes.length === 0) {
    // Go buntdb allows an empty key; a session token is never empty, so
    // it is no session (find("") refuses it) and is not loaded.
    return;
  }
  // Index keys start with a NUL; only those are decoded to be parsed.
  if (keyBytes[0] === 0 && owners.replay(record.key, gone, record.expiresAt)) {
    return;
  }
  if (!isAscii(keyBytes)) {
    // Through the decoded string, so invalid UTF-8 maps to the key that
    // find() of the same string reaches, as it always has.
    const key = record.key;
    if (gone) keyspace.release(keyspace.delete(key));
    else keyspace.release(keyspace.set(key, record.value, record.expiresAt));
    return;
  }
  // The keyspace copies key and value straight out of the read buffer.
  if (gone) keyspace.release(keyspace.deleteBytes(keyBytes));
  else {
    keyspace.release(
      keyspace.setBytes(keyBytes, record.value, record.expiresAt),
    );
  }
}

function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! > 127) return false;
  return true;
}
