/**
 * The example server: the scs seed program on Deno.
 *
 * - `GET /put` stores "Hello world!" under `message`
 * - `GET /get` writes it back
 * - `GET /login` renews the token (as on a real login) and remembers a user
 * - `GET /logout` destroys the session
 * - `GET /` counts visits
 *
 * Run with `deno task start` (needs --allow-read --allow-write for
 * data/sessions.db, --allow-net to listen, --allow-env for PORT and
 * SESSION_STORE, --allow-sys for the Redis client, --unstable-kv for kv:).
 *
 * @module
 */

import { SessionManager } from "@x/buntstore";
import { storeFromUrl } from "./_store_from_url.ts";

type Data = { message: string; visits: number; user: string };

// SESSION_STORE picks the store: file:data/sessions.db (the default),
// memory:, redis://host:6379 or kv: (see _store_from_url.ts).
await using store = await storeFromUrl(Deno.env.get("SESSION_STORE"));

const sessions = new SessionManager<Data>({
  store,
  // This example listens on plain http, where a Secure cookie would not be
  // sent back by every client (curl among them). Keep the default (true)
  // in production, behind TLS.
  cookie: { secure: false },
});

const handler = sessions.wrap(async (req) => {
  const { pathname } = new URL(req.url);
  if (pathname === "/favicon.ico") {
    // Never touches the session: no store read, no cookie.
    return new Response(null, { status: 404 });
  }
  const session = await sessions.of(req);
  switch (pathname) {
    case "/put":
      session.put("message", "Hello world!");
      return new Response("stored\n");
    case "/get":
      return new Response((session.get("message") ?? "") + "\n");
    case "/login":
      await session.renewToken();
      session.put("user", "ada");
      return new Response("logged in as ada\n");
    case "/logout":
      await session.destroy();
      return new Response("logged out\n");
    case "/": {
      const visits = (session.get("visits") ?? 0) + 1;
      session.put("visits", visits);
      const user = session.get("user") ?? "stranger";
      return new Response(`hello ${user}, visit ${visits}\n`);
    }
    default:
      return new Response("not found\n", { status: 404 });
  }
});

const port = Number(Deno.env.get("PORT") ?? 8000);
const server = Deno.serve({ port }, handler);
// Stop cleanly so the store is flushed, fsynced and unlocked on the way out.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => server.shutdown());
}
await server.finished;
