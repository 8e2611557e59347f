/**
 * One of several app servers that share their sessions through Redis (or
 * any store `SESSION_STORE` names): log in on one, and the others know you.
 *
 * ```sh
 * redis-server --port 6379 &
 * PORT=8001 deno run --allow-net --allow-env --allow-read --allow-sys examples/shared_sessions.ts &
 * PORT=8002 deno run --allow-net --allow-env --allow-read --allow-sys examples/shared_sessions.ts &
 * curl -c jar http://localhost:8001/login?user=ada   # logged in as ada on 8001
 * curl -b jar http://localhost:8002/                 # hello ada, from 8002
 * ```
 *
 * - `GET /login?user=NAME` renews the token and remembers the user
 * - `GET /logout` destroys the session
 * - `GET /` greets the user and names the port that answered
 *
 * `SESSION_STORE` defaults to `redis://127.0.0.1:6379`; `PORT` to 8000 (0
 * picks a free port). The server prints `listening on http://HOST:PORT/`
 * once it accepts connections and stops on SIGINT or SIGTERM.
 *
 * @module
 */

import { SessionManager } from "@x/buntstore";
import { storeFromUrl } from "./_store_from_url.ts";

type Data = { user: string };

await using store = await storeFromUrl(
  Deno.env.get("SESSION_STORE") ?? "redis://127.0.0.1:6379",
);

const sessions = new SessionManager<Data>({
  store,
  // Plain http, where a Secure cookie would not come back from every client
  // (curl among them). Keep the default (true) in production, behind TLS.
  cookie: { secure: false },
});

let port = Number(Deno.env.get("PORT") ?? 8000);

const handler = sessions.wrap(async (req) => {
  const url = new URL(req.url);
  const session = await sessions.of(req);
  switch (url.pathname) {
    case "/login": {
      const user = url.searchParams.get("user") ?? "ada";
      await session.renewToken();
      session.put("user", user);
      return new Response(`logged in as ${user} on ${port}\n`);
    }
    case "/logout":
      await session.destroy();
      return new Response(`logged out on ${port}\n`);
    case "/":
      return new Response(
        `hello ${session.get("user") ?? "stranger"}, from ${port}\n`,
      );
    default:
      return new Response("not found\n", { status: 404 });
  }
});

const server = Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen(addr) {
    port = addr.port;
    console.log(`listening on http://${addr.hostname}:${addr.port}/`);
  },
}, handler);
const stop = () => server.shutdown();
const signals = ["SIGINT", "SIGTERM"] as const;
for (const signal of signals) Deno.addSignalListener(signal, stop);
await server.finished;
for (const signal of signals) Deno.removeSignalListener(signal, stop);
