/**
 * The example server: the scs seed program on Deno, plus a "your devices"
 * page.
 *
 * - `GET /put` stores "Hello world!" under `message`
 * - `GET /get` writes it back
 * - `GET /login` renews the token (as on a real login) and remembers a user
 *   (`?user=name`, default `ada`)
 * - `GET /devices` lists the user's sessions (JSON), this one marked
 * - `GET /logout-device?id=` destroys one of the user's sessions, by the
 *   `id` that `/devices` lists
 * - `GET /logout-everywhere` destroys every session of the user
 * - `GET /logout` destroys this session
 * - `GET /` counts visits
 *
 * Run with `deno task start` (needs --allow-read --allow-write for
 * data/sessions.db, --allow-net to listen, --allow-env for PORT and
 * SESSION_STORE, --allow-sys for the Redis client, --unstable-kv for kv:).
 *
 * @module
 */

import { SessionManager, type SessionStore } from "@x/buntstore";
import { storeFromUrl } from "./_store_from_url.ts";

type Data = { message: string; visits: number; user: string };

/** The example's handler over `store`. */
export function exampleHandler(
  store: SessionStore,
): (request: Request) => Promise<Response> {
  const sessions = new SessionManager<Data>({
    store,
    // The owner index behind /devices and /logout-everywhere.
    index: "user",
    // This example listens on plain http, where a Secure cookie would not
    // be sent back by every client (curl among them). Keep the default
    // (true) in production, behind TLS.
    cookie: { secure: false },
  });
  return sessions.wrap(async (req) => {
    const url = new URL(req.url);
    if (url.pathname === "/favicon.ico") {
      // Never touches the session: no store read, no cookie.
      return new Response(null, { status: 404 });
    }
    const session = await sessions.of(req);
    const user = session.get("user");
    switch (url.pathname) {
      case "/put":
        session.put("message", "Hello world!");
        return new Response("stored\n");
      case "/get":
        return new Response((session.get("message") ?? "") + "\n");
      case "/login": {
        const name = url.searchParams.get("user") ?? "ada";
        await session.renewToken();
        session.put("user", name);
        return new Response(`logged in as ${name}\n`);
      }
      case "/devices":
        if (user === undefined) {
          return new Response("log in first\n", { status: 401 });
        }
        return Response.json(await sessions.listBy(user, req));
      case "/logout-device":
      case "/logout-everywhere": {
        if (user === undefined) {
          return new Response("log in first\n", { status: 401 });
        }
        const id = url.pathname === "/logout-device"
          ? url.searchParams.get("id")
          : undefined;
        if (id === null || id === "") {
          return new Response("which device? ?id= from /devices\n", {
            status: 400,
          });
        }
        // Only the user's own sessions: another user's id matches nothing.
        const count = await sessions.destroyBy(user, id ? { id } : {});
        return new Response(`logged out ${count} sessions\n`);
      }
      case "/logout":
        await session.destroy();
        return new Response("logged out\n");
      case "/": {
        const visits = (session.get("visits") ?? 0) + 1;
        session.put("visits", visits);
        return new Response(`hello ${user ?? "stranger"}, visit ${visits}\n`);
      }
      default:
        return new Response("not found\n", { status: 404 });
    }
  });
}

if (import.meta.main) {
  // SESSION_STORE picks the store: file:data/sessions.db (the default),
  // memory:, redis://host:6379 or kv: (see _store_from_url.ts).
  await using store = await storeFromUrl(Deno.env.get("SESSION_STORE"));
  const port = Number(Deno.env.get("PORT") ?? 8000);
  const server = Deno.serve({ port }, exampleHandler(store));
  // Stop cleanly so the store is flushed, fsynced and unlocked on the way
  // out.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => server.shutdown());
  }
  await server.finished;
}
