/**
 * The session middleware in a Hono app: `sessionMiddleware` from
 * `@x/buntstore/hono` gives every route `c.var.session`, typed by the
 * manager's data and loaded when first awaited; it commits the session
 * after the route, and a route that throws commits nothing.
 *
 * - `GET /login?user=name` renews the token (as on a real login) and
 *   remembers the user (default `ada`)
 * - `GET /me` answers who is logged in, and the visit count
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
import { type SessionEnv, sessionMiddleware } from "@x/buntstore/hono";

/** The values this app keeps in a session. */
export type HonoExampleData = { user: string; visits: number };

/** Builds the example's Hono app; serve it with `Deno.serve(app.fetch)`. */
export function honoApp(
  sessions: SessionManager<HonoExampleData>,
): Hono<SessionEnv<HonoExampleData>> {
  const app = new Hono<SessionEnv<HonoExampleData>>();
  // Registered first, so it covers every route added after it.
  app.use(sessionMiddleware(sessions));

  app.get("/login", async (c) => {
    const session = await c.var.session;
    const user = c.req.query("user") ?? "ada";
    await session.renewToken(); // a new token on login, against fixation
    session.put("user", user);
    return c.text(`logged in as ${user}\n`);
  });

  app.get("/me", async (c) => {
    const session = await c.var.session;
    const user = session.get("user");
    return user === undefined
      ? c.text("nobody\n", 401)
      : c.json({ user, visits: session.get("visits") ?? 0 });
  });

  app.get("/logout", async (c) => {
    const session = await c.var.session;
    await session.destroy(); // the response carries the deletion cookie
    return c.text("logged out\n");
  });

  app.get("/", async (c) => {
    const session = await c.var.session;
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
