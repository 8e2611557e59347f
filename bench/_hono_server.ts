/**
 * The Hono bench's server, one process per target: the same two routes as
 * bench/_http_server.ts (`GET /read` answers the session's counter,
 * `GET /write` increments it and stores 200 bytes on first use), on bare
 * Hono, on the floor (the Cookie parsed and `Vary` set), behind our
 * `sessionMiddleware` on BuntStore and on MemoryStore, behind
 * hono-sessions (MemoryStore without and with an `encryptionKey`, and
 * CookieStore) and behind @hono/session (its JWE cookie, and a Map as its
 * session storage). Each is wired as its README shows.
 * Prints `{"port": N}` on its first stdout line once listening.
 *
 * Usage: deno run -A bench/_hono_server.ts <target> <dir>
 *
 * @module
 */

import { Hono } from "hono";
import { parseCookie } from "cookie";
import * as honoSessions from "hono-sessions";
import {
  type SessionEnv as HonoSessionEnv,
  useSession,
  useSessionStorage,
} from "@hono/session";
import { BuntStore } from "../store.ts";
import { MemoryStore } from "../memory_store.ts";
import { SessionManager } from "../session.ts";
import { type SessionEnv, sessionMiddleware } from "../hono.ts";
import { serveUntilTerminated, TTL_MS } from "./_common.ts";
import { SESSION_DATA } from "./_session_routes.ts";

type Data = { n: number; data: string };

const [id = "hono-bare", dir = "."] = Deno.args;

// Fixed test keys: the bench compares speed, not secrecy.
const KEY = "a-bench-only-key-of-at-least-32-characters";
const HEX_SECRET = "00112233445566778899aabbccddeeff" +
  "00112233445566778899aabbccddeeff";

let close = () => Promise.resolve();
const app = await build(id);
await serveUntilTerminated(app.fetch);
await close();

async function build(target: string): Promise<{ fetch: Deno.ServeHandler }> {
  switch (target) {
    case "hono-bare":
      return new Hono()
        .get("/read", (c) => c.text("0"))
        .get("/write", (c) => c.text("0"));
    case "hono-floor":
      // What every cookie session middleware must do even when the session
      // is in memory and unchanged: parse the Cookie header and mark the
      // response as varying by cookie (in place: assigning c.res copies).
      return new Hono()
        .use(async (c, next) => {
          await next();
          c.res.headers.set("vary", "Cookie");
        })
        .get("/read", (c) => c.text(token(c.req.header("cookie"))))
        .get("/write", (c) => c.text(token(c.req.header("cookie"))));
    case "hono-bunt":
    case "hono-memory": {
      const store = target === "hono-bunt"
        ? await BuntStore.open(`${dir}/sessions.db`)
        : new MemoryStore();
      close = () => store.close();
      const sessions = new SessionManager<Data>({
        store,
        lifetime: TTL_MS,
        // Plain http on 127.0.0.1 only: the bench has no TLS.
        cookie: { secure: false },
      });
      return new Hono<SessionEnv<Data>>()
        .use(sessionMiddleware(sessions))
        .get("/read", async (c) => {
          const session = await c.var.session;
          return c.text(String(session.get("n") ?? 0));
        })
        .get("/write", async (c) => {
          const session = await c.var.session;
          if (!session.has("data")) session.put("data", SESSION_DATA);
          const n = (session.get("n") ?? 0) + 1;
          session.put("n", n);
          return c.text(String(n));
        });
    }
    case "hono-sessions-memory":
    case "hono-sessions-memory-key":
    case "hono-sessions-cookie": {
      const store = target === "hono-sessions-cookie"
        ? new honoSessions.CookieStore()
        : new honoSessions.MemoryStore();
      type Env = { Variables: { session: honoSessions.Session<Data> } };
      return new Hono<Env>()
        .use(honoSessions.sessionMiddleware({
          store,
          ...(target === "hono-sessions-memory" ? {} : { encryptionKey: KEY }),
          expireAfterSeconds: TTL_MS / 1000,
          cookieOptions: { sameSite: "Lax", path: "/", httpOnly: true },
        }))
        .get("/read", (c) => {
          const session = c.get("session");
          return c.text(String(session.get("n") ?? 0));
        })
        .get("/write", (c) => {
          const session = c.get("session");
          if (session.get("data") === undefined) {
            session.set("data", SESSION_DATA);
          }
          const n = (session.get("n") ?? 0) + 1;
          session.set("n", n);
          return c.text(String(n));
        });
    }
    case "hono-session-jwe":
    case "hono-session-map": {
      const map = new Map<string, Data>();
      const app = new Hono<HonoSessionEnv<Data>>();
      if (target === "hono-session-map") {
        app.use(useSessionStorage({
          get: (sid: string) => map.get(sid),
          set: (sid: string, value: Data) => void map.set(sid, value),
          delete: (sid: string) => void map.delete(sid),
        }));
      }
      return app
        .use(useSession<Data>({
          secret: HEX_SECRET,
          duration: { absolute: TTL_MS / 1000 },
        }))
        .get("/read", async (c) => {
          const data = await c.var.session.get();
          return c.text(String(data?.n ?? 0));
        })
        .get("/write", async (c) => {
          await c.var.session.update((prev) => ({
            data: prev?.data ?? SESSION_DATA,
            n: (prev?.n ?? 0) + 1,
          }));
          return c.text(String(c.var.session.data!.n));
        });
    }
    default:
      throw new RangeError(`Unknown Hono target: ${target}`);
  }
}

function token(cookie: string | undefined): string {
  return cookie === undefined || parseCookie(cookie).session === undefined
    ? ""
    : "0";
}
