import assert from "node:assert/strict";
import { MemoryStore, SessionManager, type SessionStore } from "@x/buntstore";
import { cookiePair, get, settle, text } from "./_session_helpers.ts";

/** Two managers on one store stand for two servers sharing Redis. */
function twoServers(shared: boolean) {
  const memory = new MemoryStore();
  const servers = [0, 1].map(() => {
    // One store object per server, as each process would have its own.
    const store: SessionStore = {
      shared,
      find: (token) => memory.find(token),
      save: (token, data, expiry) => memory.save(token, data, expiry),
      delete: (token) => memory.delete(token),
    };
    const sessions = new SessionManager<{ user: string }>({ store });
    return sessions.wrap(async (request) => {
      const session = await sessions.of(request);
      const user = new URL(request.url).searchParams.get("user");
      if (user !== null) session.put("user", user);
      return new Response(session.get("user") ?? "nobody");
    });
  });
  return { servers, memory };
}

Deno.test("SessionManager re-reads a shared store, so another server's change is seen", async () => {
  const { servers: [a, b], memory } = twoServers(true);
  try {
    const login = await a!(get("/?user=ada"));
    await text(login);
    const cookie = cookiePair(login)!;
    assert.equal(await text(await b!(get("/", cookie))), "ada");
    await text(await b!(get("/?user=bob", cookie)));
    assert.equal(await text(await a!(get("/", cookie))), "bob");
  } finally {
    await memory.close();
  }
});

Deno.test("SessionManager keeps sessions of a store it owns in memory", async () => {
  const { servers: [a, b], memory } = twoServers(false);
  try {
    const login = await a!(get("/?user=ada"));
    await text(login);
    const cookie = cookiePair(login)!;
    await text(await b!(get("/?user=bob", cookie)));
    // Without `shared`, server a trusts its copy: the reason the flag exists.
    assert.equal(await text(await a!(get("/", cookie))), "ada");
  } finally {
    await memory.close();
  }
});

Deno.test("SessionManager: a logout on one server is not undone by a write in flight on another", async () => {
  await using memory = new MemoryStore();
  // One store object per server, as each process would have its own.
  const server = () =>
    new SessionManager<{ user: string; n: number }>({
      store: {
        shared: true,
        find: (token) => memory.find(token),
        save: (token, data, expiry, o) => memory.save(token, data, expiry, o),
        replace: (token, data, expiry, o) =>
          memory.replace(token, data, expiry, o),
        delete: (token) => memory.delete(token),
      },
    });
  const [a, b] = [server(), server()];
  const login = await a.wrap(async (request) => {
    const session = await a.of(request);
    await session.renewToken();
    session.put("user", "ada");
    return new Response("in");
  })(get("/login"));
  await text(login);
  const cookie = cookiePair(login)!;
  const gate = Promise.withResolvers<void>();
  const slow = b.wrap(async (request) => {
    const session = await b.of(request);
    await gate.promise;
    session.put("n", 1);
    return new Response("slow");
  })(get("/slow", cookie));
  await settle();
  await text(
    await a.wrap(async (request) => {
      await (await a.of(request)).destroy();
      return new Response("out");
    })(get("/logout", cookie)),
  );
  gate.resolve();
  const response = await slow;
  await text(response);
  // Server b learns of the logout from the store and tells the browser.
  assert.match(
    response.headers.get("set-cookie") ?? "",
    /^session=; Max-Age=0/,
  );
  assert.equal((await memory.all()).size, 0);
});
