/**
 * RedisStore's owner index: the key mark that keeps index keys apart from
 * session keys, and the Lua scripts that change a session and its owners'
 * sorted sets in one atomic step.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";

/**
 * Follows the prefix in the key of an owner's index: owner `ada` is indexed
 * under `session:\0owner\0ada`. Tokens starting with it are refused, so an
 * index key is never a session key (the same rule as `BuntStore`'s).
 */
export const OWNER_MARK = "\u0000owner\u0000";
/** {@linkcode OWNER_MARK} as bytes, to tell index keys in a `SCAN` reply. */
export const OWNER_MARK_BYTES = Buffer.from(OWNER_MARK);

/** A Lua script, run with `EVALSHA` and sent whole only when Redis lacks it. */
export interface Script {
  source: string;
  sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}

// One script per write, so the session and its index change together: no
// reader, crash or failover sees a live session missing from its owner's
// index. KEYS[1] is the session key, also the member in the sorted sets.
// ARGV: data, expiry (Unix ms), "1" when KEYS[2] is the new owner's index
// (the key after it, if any, is the previous owner's index), and "1" to
// write only over an existing session (returns 0 then, writing nothing).
export const SAVE = script(`
if ARGV[4] == "1" and redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
local previous = 2
if ARGV[3] == "1" then
  redis.call("ZADD", KEYS[2], "GT", ARGV[2], KEYS[1])
  local top = redis.call("ZRANGE", KEYS[2], -1, -1, "WITHSCORES")
  redis.call("PEXPIREAT", KEYS[2], top[2])
  previous = 3
end
redis.call("SET", KEYS[1], ARGV[1], "PXAT", ARGV[2])
if KEYS[previous] then redis.call("ZREM", KEYS[previous], KEYS[1]) end
return 1
`);

// KEYS[1] is the session key; the rest are indexes to drop it from.
export const DELETE = script(`
redis.call("DEL", KEYS[1])
for i = 2, #KEYS do redis.call("ZREM", KEYS[i], KEYS[1]) end
return 1
`);

// KEYS[1] is an owner's index. Drops its expired members (by the server's
// clock, the one that expires the sessions) and those whose session is
// gone; returns member, data, member, data, ... The members are session
// keys the script reads without declaring them, which only Redis Cluster
// would refuse (and the store does not support Cluster).
export const FIND_BY_OWNER = script(`
local time = redis.call("TIME")
local now = string.format("%d", time[1] * 1000 + math.floor(time[2] / 1000))
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
local members = redis.call("ZRANGE", KEYS[1], 0, -1)
local found = {}
for start = 1, #members, 1000 do
  local batch = {unpack(members, start, math.min(start + 999, #members))}
  local values = redis.call("MGET", unpack(batch))
  for i, member in ipairs(batch) do
    if values[i] then
      found[#found + 1] = member
      found[#found + 1] = values[i]
    else
      redis.call("ZREM", KEYS[1], member)
    end
  end
end
return found
`);

/** Refuses a token whose key could be an owner's index. */
export function assertNotReserved(token: string): void {
  if (token.startsWith(OWNER_MARK)) {
    throw new RangeError(
      "Cannot use session token: it starts with the owner index's reserved prefix",
    );
  }
}
