// The oak adapter (oak.ts) on npm's @oakserver/oak 14, called through
// app.handle(), which gives the native Request as oak's own Deno server
// does; a real server, and listen() on Node's http (no Request), are in
// tests/oak_example_test.ts.

import assert from "node:assert/strict";
import { Application } from "@oakserver/oak";
import { MemoryStore, SessionManager } from "@x/buntstore";
import {
  type OakContext,
  requestOf,
  sessionMiddleware,
  type SessionState,
} from "@x/buntstore/oak";

type Data = { visits: number };

/** An oak app: `/` counts visits, `/boom` counts and throws. */
function oakApp(sessions: SessionManager<Data>) {
  // oak would log /boom's error, which is expected here.
  const app = new Application<SessionState<Data>>({ logErrors: false });
  app.use(sessionMiddleware(sessions));
  app.use(async (ctx) => {
    const path = ctx.request.url.pathname;
    if (path === "/none") {
      ctx.response.body = "no session";
      return;
    }
    const session = await ctx.state.session;
    const visits = (session.get("visits") ?? 0) + 1;
    session.put("visits", visits);
    if (path === "/boom") throw new Error("the handler failed");
    if (path === "/unavailable") {
      ctx.response.status = 503;
      ctx.response.body = "try later";
      return;
    }
    ctx.response.body = `visit ${visits}`;
  });
  return app;
}

function cookieOf(response: Response): string {
  const setCookie = response.headers.get("set-cookie");
  assert.ok(setCookie !== null, "no Set-Cookie");
  return setCookie.split(";")[0]!;
}

/** oak's app.handle(), typed as Deno's (npm's build types undici's). */
function handler(app: Application<SessionState<Data>>) {
  return app.handle as unknown as (request: Request) => Promise<Response>;
}

Deno.test("oak sessionMiddleware() commits nothing when a middleware throws or answers 5xx", async () => {
  await using store = new MemoryStore();
  const sessions = new SessionManager<Data>({ store });
  const handle = handler(oakApp(sessions));
  const first = await handle(new Request("https://localhost/"));
  assert.equal(await first.text(), "visit 1");
  const cookie = cookieOf(first);
  const get = (path: string) =>
    handle(new Request(`https://localhost${path}`, { headers: { cookie } }));
  for (
    const [path, status] of [["/boom", 500], ["/unavailable", 503]] as const
  ) {
    const failed = await get(path);
    assert.equal(failed.status, status, path);
    await failed.body?.cancel();
    assert.equal(failed.headers.get("set-cookie"), null, path);
  }
  // Without the discard, /boom's increment stayed in the shared session
  // and the next request saved it: "visit 3".
  assert.equal(await (await get("/")).text(), "visit 2");
});

Deno.test("oak sessionMiddleware() loads nothing for a middleware that never awaits the session", async () => {
  await using store = new MemoryStore();
  let finds = 0;
  const find = store.find.bind(store);
  store.find = (token) => (finds++, find(token));
  const sessions = new SessionManager<Data>({ store });
  const handle = handler(oakApp(sessions));
  const response = await handle(
    new Request("http://localhost/none", {
      headers: { cookie: `session=${"a".repeat(43)}` },
    }),
  );
  assert.equal(await response.text(), "no session");
  assert.equal(response.headers.get("vary"), null);
  assert.equal(finds, 0);
});

Deno.test("requestOf() makes one Request of oak's URL and headers where oak gives none", () => {
  const context = (source?: unknown): OakContext => ({
    request: {
      source,
      url: new URL("https://example.com/me"),
      method: "GET",
      headers: new Headers({ cookie: "session=abc" }),
    },
    response: { status: 200, headers: new Headers() },
    state: {},
  });
  const native = new Request("https://example.com/");
  assert.equal(requestOf(context(native)), native);
  const ctx = context();
  const made = requestOf(ctx);
  assert.equal(made.url, "https://example.com/me");
  assert.equal(made.headers.get("cookie"), "session=abc");
  assert.equal(requestOf(ctx), made);
  const broken = { ...ctx, request: { ...ctx.request, url: undefined } };
  assert.throws(
    () => requestOf(broken as unknown as OakContext),
    new TypeError(
      "Cannot use the session: oak's context has no Request and no URL",
    ),
  );
});
