// What tests/hono_example_test.ts and tests/oak_example_test.ts check on
// their example apps, which share their routes: /login, /me, /logout and /
// (visits), plus a /fail route the tests add, which changes the session
// and throws.

import assert from "node:assert/strict";
import type { SessionStore } from "@x/buntstore";

/** A browser's cookie jar and a fetch that uses it. */
export function browser(origin: string) {
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

/**
 * Drives an example app served at `origin` whose sessions live in `store`
 * (holding no session yet): a session kept across requests, renewal at
 * login, concurrent requests losing no update, a failed request
 * committing nothing, and logout clearing the cookie.
 */
export async function exampleScenario(
  origin: string,
  store: SessionStore & { readonly size: number },
): Promise<void> {
  const get = browser(origin);
  const anonymous = await get("/me");
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.body, "nobody\n");
  // Read only, on a new session: no token, no cookie.
  assert.deepEqual(anonymous.setCookie, []);

  assert.equal((await get("/")).body, "hello stranger, visit 1\n");
  const before = (await get("/")).jar.get("session");
  assert.ok(before);

  const login = await get("/login");
  assert.equal(login.body, "logged in as ada\n");
  assert.equal(login.setCookie.length, 1);
  assert.match(login.setCookie[0]!, /^session=[\w-]{43}; Max-Age=86400;/);
  assert.match(login.setCookie[0]!, /HttpOnly; SameSite=Lax$/);
  assert.equal(login.vary, "Cookie");
  const token = login.jar.get("session");
  // Renewed at login: a new token, the old one forgotten, the data kept.
  assert.notEqual(token, before);
  assert.equal(store.size, 1);
  const stale = await fetch(`${origin}/me`, {
    headers: { cookie: `session=${before}` },
  });
  assert.equal(stale.status, 401);
  await stale.body?.cancel();

  const me = await get("/me");
  assert.equal(me.status, 200);
  assert.deepEqual(JSON.parse(me.body), { user: "ada", visits: 2 });
  // A read sends no cookie; the browser keeps the one from login.
  assert.deepEqual(me.setCookie, []);
  assert.equal(me.vary, "Cookie");
  assert.equal(me.jar.get("session"), token);

  // 50 requests of one session at once: every increment is kept.
  const cookie = `session=${token}`;
  const answers = await Promise.all(
    Array.from({ length: 50 }, async () => {
      const response = await fetch(`${origin}/`, { headers: { cookie } });
      return await response.text();
    }),
  );
  assert.equal(new Set(answers).size, 50);
  assert.deepEqual(JSON.parse((await get("/me")).body), {
    user: "ada",
    visits: 52,
  });

  const failed = await get("/fail");
  assert.equal(failed.status, 500);
  assert.deepEqual(failed.setCookie, []);
  assert.deepEqual(JSON.parse((await get("/me")).body), {
    user: "ada",
    visits: 52,
  });

  const logout = await get("/logout");
  assert.equal(logout.body, "logged out\n");
  assert.match(logout.setCookie[0]!, /^session=; Max-Age=0; Path=\/;/);
  assert.equal(logout.jar.size, 0);
  assert.equal(store.size, 0);
  assert.equal((await get("/me")).status, 401);
}
