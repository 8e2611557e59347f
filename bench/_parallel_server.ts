/**
 * The parallel bench's server, as a `deno serve` module (`export default {
 * fetch }`), so that `deno serve --parallel` can run it on several workers:
 * the routes of bench/_http_server.ts (`GET /read` answers the session's
 * counter, `GET /write` increments it and stores 200 bytes on first use)
 * on the store that `BENCH_STORE` names: `bare` (no session), `kv` (KvStore
 * on `<BENCH_DIR>/sessions.kv`, shared by the workers) or `redis`
 * (RedisStore on `BENCH_REDIS`).
 *
 * Usage: DENO_JOBS=2 BENCH_STORE=kv BENCH_DIR=dir deno serve --parallel -A
 *   --unstable-kv --port 0 bench/_parallel_server.ts
 *
 * @module
 */

import { SessionManager, type SessionStore } from "../mod.ts";
import { KvStore } from "../kv_store.ts";
import { RedisStore } from "../redis_store.ts";
import { TTL_MS } from "./_common.ts";
import { type BenchSession, sessionRoute } from "./_session_routes.ts";

const kind = Deno.env.get("BENCH_STORE") ?? "bare";
/** As in bench/_http_server.ts (importing it would start its server). */

function bare(req: Request): Response {
  const path = new URL(req.url).pathname;
  if (path === "/read" || path === "/write") return new Response("0");
  return new Response("Not Found", { status: 404 });
}

async function openStore(): Promise<SessionStore> {
  if (kind === "kv") {
    return await KvStore.open(`${Deno.env.get("BENCH_DIR")}/sessions.kv`);
  }
  if (kind === "redis") {
    return await RedisStore.connect(Deno.env.get("BENCH_REDIS")!);
  }
  throw new RangeError(`Unknown BENCH_STORE: ${kind}`);
}

async function sessionHandler(): Promise<(req: Request) => Promise<Response>> {
  const sessions = new SessionManager<BenchSession>({
    store: await openStore(),
    lifetime: TTL_MS,
    // Plain http on 127.0.0.1 only: the bench has no TLS.
    cookie: { secure: false },
  });
  return sessions.wrap(async (req) => {
    const path = new URL(req.url).pathname;
    return await sessionRoute(sessions, req, path) ??
      new Response("Not Found", { status: 404 });
  });
}

export default {
  fetch: kind === "bare" ? bare : await sessionHandler(),
} satisfies Deno.ServeDefaultExport;
