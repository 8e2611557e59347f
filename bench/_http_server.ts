/**
 * The HTTP bench's Deno server, one process per target: a bare handler,
 * the floor (the bare handler plus the least a cookie session middleware
 * does), or the same handler behind `SessionManager` on one of the bench
 * stores.
 * Prints `{"port": N}` on its first stdout line once listening.
 *
 * A target id ending in `-encrypted` runs that store with the `encryption`
 * option and a random key.
 *
 * The floor's routes do what every cookie session middleware must do even
 * with the session decoded in memory: `/read` reads the `Cookie` header
 * (which makes Deno materialise the request's headers), parses it, looks
 * the session up in a `Map` and sets `Vary: Cookie` (the read floor);
 * `/write` also sets a `Set-Cookie`, serialises the session with
 * `JSON.stringify` and appends a log record, written with one `write(2)`
 * per event-loop turn (the write floor).
 *
 * Routes: `GET /read` answers the session's counter (a read-only route);
 * `GET /write` increments it and, on first use, stores 200 bytes of data
 * (a writing route); on BuntStore targets `GET /stats` answers how many
 * write(2) calls the log has had, so the bench can report how many write
 * requests share one.
 *
 * Usage: deno run -A --unstable-kv bench/_http_server.ts <target> <dir>
 *
 * @module
 */

import { parseCookie, stringifySetCookie } from "cookie";
import { SessionManager } from "../session.ts";
import { STORE_TARGETS } from "./_stores.ts";
import { serveUntilTerminated, TTL_MS } from "./_common.ts";
import {
  type BenchSession,
  SESSION_DATA,
  sessionRoute,
} from "./_session_routes.ts";

/** The id suffix of targets that encrypt the session data. */
const ENCRYPTED = "-encrypted";

const [id = "bare", dir = "."] = Deno.args;

let handler: (req: Request) => Response | Promise<Response>;
let close = () => Promise.resolve();
if (id === "bare") {
  handler = (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/read" || path === "/write") return new Response("0");
    return new Response("Not Found", { status: 404 });
  };
} else if (id === "floor") {
  ({ handler, close } = floorHandler(dir));
} else {
  // "<store>-encrypted": the same store with the `encryption` option.
  const encrypted = id.endsWith(ENCRYPTED);
  const storeId = encrypted ? id.slice(0, -ENCRYPTED.length) : id;
  const target = STORE_TARGETS.find((t) => t.id === storeId);
  if (target === undefined) throw new RangeError(`Unknown target: ${id}`);
  const store = await target.open(dir);
  close = () => store.close();
  const sessions = new SessionManager<BenchSession>({
    store,
    lifetime: TTL_MS,
    // Plain http on 127.0.0.1 only: the bench has no TLS.
    cookie: { secure: false },
    ...(encrypted
      ? { encryption: { keys: [crypto.getRandomValues(new Uint8Array(32))] } }
      : {}),
  });
  const bunt = target.bunt?.(store);
  handler = sessions.wrap(async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/stats" && bunt !== undefined) {
      return Response.json({ logWrites: bunt.stats().writes });
    }
    return await sessionRoute(sessions, req, path) ??
      new Response("Not Found", { status: 404 });
  });
}

await serveUntilTerminated(handler);
await close();

/** The floor server: the least a cookie session middleware does per route. */
function floorHandler(dir: string): {
  handler: (req: Request) => Response;
  close: () => Promise<void>;
} {
  const sessions = new Map<string, BenchSession>();
  const log = Deno.openSync(`${dir}/floor.log`, {
    create: true,
    append: true,
  });
  const encoder = new TextEncoder();
  let batch = "";
  const flush = () => {
    log.writeSync(encoder.encode(batch));
    batch = "";
  };
  const handler = (req: Request) => {
    const path = new URL(req.url).pathname;
    if (path !== "/read" && path !== "/write") {
      return new Response("Not Found", { status: 404 });
    }
    const cookie = req.headers.get("cookie");
    const token = cookie === null ? undefined : parseCookie(cookie).session;
    let session = token === undefined ? undefined : sessions.get(token);
    if (path === "/read") {
      const response = new Response(String(session?.n ?? 0));
      response.headers.set("vary", "Cookie");
      return response;
    }
    const key = token ?? crypto.randomUUID();
    if (session === undefined) {
      session = { n: 0, data: SESSION_DATA };
      sessions.set(key, session);
    }
    session.n++;
    const json = JSON.stringify(session);
    // buntdb's record for a set with a TTL; the bench's data is ASCII.
    if (batch === "") setImmediate(flush);
    batch += `*5\r\n$3\r\nset\r\n$${key.length}\r\n${key}\r\n` +
      `$${json.length}\r\n${json}\r\n$2\r\nex\r\n$4\r\n3600\r\n`;
    const response = new Response(String(session.n));
    response.headers.set("vary", "Cookie");
    response.headers.set(
      "set-cookie",
      stringifySetCookie({
        name: "session",
        value: key,
        path: "/",
        httpOnly: true,
        sameSite: "lax",
      }),
    );
    return response;
  };
  return {
    handler,
    close: () => {
      if (batch !== "") flush();
      log.close();
      return Promise.resolve();
    },
  };
}
