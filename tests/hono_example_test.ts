// The Hono example over a real Deno.serve, driven like a browser with a
// cookie jar: log in, read, log out, and a failing route that must commit
// nothing.

import assert from "node:assert/strict";
import { BuntStore, SessionManager } from "@x/buntstore";
import { honoApp, type HonoExampleData } from "../examples/hono.ts";

/** A browser's cookie jar and a fetch that uses it. */
function browser(origin: string) {
  const jar = new Map<string, string>();
  return async (path: string) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const response = await fetch(origin + path, {
      headers: cookie ? { cookie } : {},
    });
    const setCookie = response.headers.getSetCookie();
    for (const line of setCookie) {
      const [pair, ...attrs] = line.split(";");
      const [name, value] = pair!.split("=") as [string, string];
      if (value === "" || attrs.some((a) => /max-age=0/i.test(a))) {
        jar.delete(name);
      } else jar.set(name, value);
    }
    return {
      status: response.status,
      body: await response.text(),
      setCookie,
      vary: response.headers.get("vary"),
      jar,
    };
  };
}

Deno.test("examples/hono.ts: login, read and logout through Deno.serve; a failed request commits nothing", async () => {
  await using store = await BuntStore.open(":memory:");
  const sessions = new SessionManager<HonoExampleData>({
    store,
    cookie: { secure: false },
  });
  const app = honoApp(sessions);
  // A route that changes the session, then fails: the example's middleware
  // must take the change back rather than save it.
  app.get("/fail", async (c) => {
    const session = await sessions.of(c.req.raw);
    session.put("user", "mallory");
    throw new Error("the handler failed");
  });
  app.onError((_error, c) => c.text("failed\n", 500));
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    app.fetch,
  );
  const get = browser(`http://127.0.0.1:${server.addr.port}`);
  try {
    const anonymous = await get("/me");
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body, "nobody\n");
    // Read only, on a new session: no token, no cookie.
    assert.deepEqual(anonymous.setCookie, []);

    const login = await get("/login");
    assert.equal(login.body, "logged in as ada\n");
    assert.equal(login.setCookie.length, 1);
    assert.match(login.setCookie[0]!, /^session=[\w-]{43}; Max-Age=86400;/);
    assert.match(login.setCookie[0]!, /HttpOnly; SameSite=Lax$/);
    assert.equal(login.vary, "Cookie");
    const token = login.jar.get("session");
    assert.equal(store.size, 1);

    assert.equal((await get("/")).body, "hello ada, visit 1\n");
    const me = await get("/me");
    assert.equal(me.status, 200);
    assert.deepEqual(JSON.parse(me.body), { user: "ada", visits: 1 });
    // A read sends no cookie; the browser keeps the one from login.
    assert.deepEqual(me.setCookie, []);
    assert.equal(me.jar.get("session"), token);

    const failed = await get("/fail");
    assert.equal(failed.status, 500);
    assert.deepEqual(failed.setCookie, []);
    assert.deepEqual(JSON.parse((await get("/me")).body), {
      user: "ada",
      visits: 1,
    });

    const logout = await get("/logout");
    assert.equal(logout.body, "logged out\n");
    assert.match(logout.setCookie[0]!, /^session=; Max-Age=0; Path=\/;/);
    assert.equal(logout.jar.size, 0);
    assert.equal(store.size, 0);
    assert.equal((await get("/me")).status, 401);
  } finally {
    await server.shutdown();
  }
});
