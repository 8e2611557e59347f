/**
 * The session middleware in an oak app: `sessionMiddleware` from
 * `@x/buntstore/oak` gives every later middleware `ctx.state.session`,
 * typed by the manager's data and loaded when first awaited; it writes the
 * session's headers into oak's response, and a middleware that throws
 * commits nothing. The same routes as `examples/hono.ts`:
 *
 * - `GET /login?user=name` renews the token (as on a real login) and
 *   remembers the user (default `ada`)
 * - `GET /me` answers who is logged in, and the visit count
 * - `GET /logout` destroys the session
 * - `GET /` counts visits
 *
 * Run with
 * `deno run --allow-read --allow-write --allow-net --allow-env examples/oak.ts [port]`:
 * it keeps sessions in `data/oak_sessions.db` and listens on port 8000
 * (npm's `@oakserver/oak` serves through Node's `http`, hence
 * `--allow-env`). `tests/oak_example_test.ts` drives it over a real
 * `Deno.serve`, and through oak's own `listen()` in a child process.
 *
 * @module
 */

import { Application, Router } from "@oakserver/oak";
import { BuntStore, SessionManager } from "@x/buntstore";
import { sessionMiddleware, type SessionState } from "@x/buntstore/oak";

/** The values this app keeps in a session. */
export type OakExampleData = { user: string; visits: number };

/** The example's routes; add your own before passing them to `oakApp`. */
export function oakRouter(): Router<SessionState<OakExampleData>> {
  const router = new Router<SessionState<OakExampleData>>();

  router.get("/login", async (ctx) => {
    const session = await ctx.state.session;
    const user = ctx.request.url.searchParams.get("user") ?? "ada";
    await session.renewToken(); // a new token on login, against fixation
    session.put("user", user);
    ctx.response.body = `logged in as ${user}\n`;
  });

  router.get("/me", async (ctx) => {
    const session = await ctx.state.session;
    const user = session.get("user");
    if (user === undefined) {
      ctx.response.status = 401;
      ctx.response.body = "nobody\n";
    } else ctx.response.body = { user, visits: session.get("visits") ?? 0 };
  });

  router.get("/logout", async (ctx) => {
    const session = await ctx.state.session;
    await session.destroy(); // the response carries the deletion cookie
    ctx.response.body = "logged out\n";
  });

  router.get("/", async (ctx) => {
    const session = await ctx.state.session;
    const visits = (session.get("visits") ?? 0) + 1;
    session.put("visits", visits);
    ctx.response.body = `hello ${
      session.get("user") ?? "stranger"
    }, visit ${visits}\n`;
  });

  return router;
}

/**
 * Builds the example's oak app around `router`; `logErrors: false` keeps
 * oak from logging the errors it answers with a 500.
 */
export function oakApp(
  sessions: SessionManager<OakExampleData>,
  router: Router<SessionState<OakExampleData>> = oakRouter(),
  logErrors = true,
): Application<SessionState<OakExampleData>> {
  const app = new Application<SessionState<OakExampleData>>({ logErrors });
  // Registered first, so it covers every middleware added after it.
  app.use(sessionMiddleware(sessions));
  app.use(router.routes());
  return app;
}

if (import.meta.main) {
  await Deno.mkdir("data", { recursive: true });
  const store = await BuntStore.open("data/oak_sessions.db");
  const sessions = new SessionManager<OakExampleData>({
    store,
    // Plain http here, where a Secure cookie would not come back from every
    // client (curl among them). Keep the default (true) behind TLS.
    cookie: { secure: false },
  });
  const port = Number(Deno.args[0] ?? 8000);
  const app = oakApp(sessions);
  app.addEventListener("listen", () => console.log(`listening on ${port}`));
  await app.listen({ hostname: "127.0.0.1", port });
}
