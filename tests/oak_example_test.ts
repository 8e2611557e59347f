// The oak example (on npm's @oakserver/oak 14) driven like a browser with
// a cookie jar (tests/_example_scenario.ts): over a real Deno.serve through
// app.handle(), where oak gives the native Request as on its own Deno
// server, and through oak's own listen() in a child process, where npm's
// build serves through Node's http and gives no Request at all.

import assert from "node:assert/strict";
import { BuntStore, SessionManager } from "@x/buntstore";
import { oakApp, type OakExampleData, oakRouter } from "../examples/oak.ts";
import { browser, exampleScenario } from "./_example_scenario.ts";

Deno.test("examples/oak.ts through Deno.serve: kept, renewed at login, no lost update, a failed request commits nothing, logout", async () => {
  await using store = await BuntStore.open(":memory:");
  const sessions = new SessionManager<OakExampleData>({
    store,
    cookie: { secure: false },
  });
  const router = oakRouter();
  // Changes the session, then fails: the middleware must take it back.
  router.get("/fail", async (ctx) => {
    (await ctx.state.session).put("user", "mallory");
    throw new Error("the handler failed");
  });
  const errors: unknown[] = [];
  const app = oakApp(sessions, router, false);
  app.addEventListener("error", (event) => {
    errors.push(event.error);
  });
  // npm's build types app.handle() with undici's Request and Response, and
  // answers with undici's Response: copy it into Deno's.
  const handle = app.handle as unknown as (
    request: Request,
    remoteAddr: Deno.NetAddr,
  ) => Promise<Response | undefined>;
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    async (req, info) => {
      const res = await handle(req, info.remoteAddr);
      if (res === undefined) return new Response(null, { status: 404 });
      return new Response(res.body, {
        status: res.status,
        headers: [...res.headers],
      });
    },
  );
  try {
    await exampleScenario(`http://127.0.0.1:${server.addr.port}`, store);
    assert.deepEqual(errors.map((e) => (e as Error).message), [
      "the handler failed",
    ]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("examples/oak.ts on oak's own listen() (Node's http): sessions kept, logout clears the cookie", async () => {
  const dir = await Deno.makeTempDir({ prefix: "oak_example_" });
  // npm's oak on Node's http reports port 0 as 0: pick a free port first.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-net",
      "--allow-env",
      new URL("../examples/oak.ts", import.meta.url).pathname,
      String(port),
    ],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream());
  const errors = Array.fromAsync(stderr);
  try {
    const lines = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let out = "";
    while (!out.includes("listening")) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`oak.ts exited: ${(await errors).join("")}`);
      out += value;
    }
    lines.releaseLock();
    // oak says it listens before Node's server does: wait until it does.
    for (let tries = 0;; tries++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch (error) {
        if (!(error instanceof Deno.errors.ConnectionRefused) || tries > 100) {
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    const get = browser(`http://127.0.0.1:${port}`);
    assert.equal((await get("/")).body, "hello stranger, visit 1\n");
    const login = await get("/login");
    assert.equal(login.body, "logged in as ada\n");
    assert.match(login.setCookie[0]!, /^session=[\w-]{43}; Max-Age=86400;/);
    assert.equal((await get("/")).body, "hello ada, visit 2\n");
    const me = await get("/me");
    assert.deepEqual(JSON.parse(me.body), { user: "ada", visits: 2 });
    assert.deepEqual(me.setCookie, []);
    assert.equal(me.vary, "Cookie");
    const logout = await get("/logout");
    assert.match(logout.setCookie[0]!, /^session=; Max-Age=0; Path=\/;/);
    assert.equal(logout.jar.size, 0);
    assert.equal((await get("/me")).status, 401);
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await errors;
    await Deno.remove(dir, { recursive: true });
  }
});
