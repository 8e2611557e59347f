// The Hono example over a real Deno.serve, driven like a browser with a
// cookie jar (tests/_example_scenario.ts).

import { BuntStore, SessionManager } from "@x/buntstore";
import { honoApp, type HonoExampleData } from "../examples/hono.ts";
import { exampleScenario } from "./_example_scenario.ts";

Deno.test("examples/hono.ts through Deno.serve: kept, renewed at login, no lost update, a failed request commits nothing, logout", async () => {
  await using store = await BuntStore.open(":memory:");
  const sessions = new SessionManager<HonoExampleData>({
    store,
    cookie: { secure: false },
  });
  const app = honoApp(sessions);
  // A route that changes the session, then fails: the middleware must take
  // the change back rather than save it.
  app.get("/fail", async (c) => {
    (await c.var.session).put("user", "mallory");
    throw new Error("the handler failed");
  });
  app.onError((_error, c) => c.text("failed\n", 500));
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    app.fetch,
  );
  try {
    await exampleScenario(`http://127.0.0.1:${server.addr.port}`, store);
  } finally {
    await server.shutdown();
  }
});
