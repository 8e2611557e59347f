/**
 * The session middleware in a Hono app. Handlers take the session from
 * Hono's native request with `sessions.of(c.req.raw)`; one middleware
 * commits it with `sessions.finalize` after the handler, or takes back what
 * a failed handler changed with `sessions.discard`.
 *
 * - `GET /login?user=name` renews the token (as on a real login) and
 *   remembers the user (default `ada`)
 * - `GET /me` answers who is logged in
 * - `GET /logout` destroys the session
 * - `GET /` counts visits
 *
 * Run with
 * `deno run --allow-read --allow-write --allow-net examples/hono.ts`: it
 * keeps sessions in `data/hono_sessions.db` and listens on port 8000.
 * `tests/hono_example_test.ts` drives it over a real `Deno.serve`.
 *
 * @module
 */

import { Hono } from "hono";
import { BuntStore, SessionManager } from "@x/buntstore";

/** The values this app keeps in a session. */
export type HonoExampleData = { user: string; visits: number };

/** Builds the example's Hono app; serve it with `Deno.serve(app.fetch)`. */
export function honoApp(sessions: SessionManager<HonoExampleData>): Hono {
  const app = new Hono();

  // Registered first, so it wraps every route added after it.
  app.use(async (c, next) => {
    await next();
    // Hono turns a handler's exception into c.error and an error response:
    // a failed request must not save what it half changed.
    if (c.error !== undefined) await sessions.discard(c.req.raw);
    else c.res = await sessions.finalize(c.req.raw, c.res);
  });

  app.get("/login", async (c) => {
    const session = await sessions.of(c.req.raw);
    const user = c.req.query("user") ?? "ada";
    await session.renewToken(); // a new token on login, against fixation
    session.put("user", user);
    return c.text(`logged in as ${user}\n`);
  });

  app.get("/me", async (c) => {
    const session = await sessions.of(c.req.raw);
    const user = session.get("user");
    return user === undefined
      ? c.text("nobody\n", 401)
      : c.json({ user, visits: session.get("visits") ?? 0 });
  });

  app.get("/logout", async (c) => {
    const session = await sessions.of(c.req.raw);
    await session.destroy(); // the response carries the deletion cookie
    return c.text("logged out\n");
  });

  app.get("/", async (c) => {
    const session = await sessions.of(c.req.raw);
    const visits = (session.get("visits") ?? 0) + 1;
    session.put("visits", visits);
    return c.text(
      `hello ${session.get("user") ?? "stranger"}, visit ${visits}\n`,
    );
  });

  return app;
}

if (import.meta.main) {
  await Deno.mkdir("data", { recursive: true });
  const store = await BuntStore.open("data/hono_sessions.db");
  const sessions = new SessionManager<HonoExampleData>({
    store,
    // Plain http here, where a Secure cookie would not come back from every
    // client (curl among them). Keep the default (true) behind TLS.
    cookie: { secure: false },
  });
  Deno.serve({ port: 8000 }, honoApp(sessions).fetch);
}
