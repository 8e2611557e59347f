import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startRedisServer } from "./_redis_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const EXAMPLE = "examples/shared_sessions.ts";

interface AppServer extends AsyncDisposable {
  url: string;
}

/** Runs examples/shared_sessions.ts as a child process on a free port. */
async function startApp(storeUrl: string): Promise<AppServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-sys",
      EXAMPLE,
    ],
    cwd: ROOT,
    env: { PORT: "0", SESSION_STORE: storeUrl, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  async function stop(): Promise<void> {
    try {
      child.kill("SIGTERM");
    } catch (error) {
      // Already exited: its status below says how.
      if (!(error instanceof TypeError)) throw error;
    }
    await lines.cancel();
    const status = await child.status;
    assert.equal(status.code, 0, `${EXAMPLE} exited with ${status.code}`);
  }
  let text = "";
  try {
    for (;;) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`${EXAMPLE} exited before listening: ${text}`);
      text += value;
      const match = /listening on (http:\/\/\S+)/.exec(text);
      if (match) return { url: match[1]!, [Symbol.asyncDispose]: stop };
    }
  } catch (error) {
    await stop().catch(() => {
      // The start error below is the one worth reporting.
    });
    throw error;
  }
}

async function get(url: string, cookie?: string): Promise<Response> {
  return await fetch(url, cookie ? { headers: { cookie } } : {});
}

Deno.test("examples/shared_sessions.ts: a login on one server is recognised by the other", async () => {
  await using redis = await startRedisServer();
  await using one = await startApp(redis.url);
  await using two = await startApp(redis.url);
  assert.notEqual(one.url, two.url);

  const login = await get(`${one.url}login?user=ada`);
  assert.match(await login.text(), /^logged in as ada on \d+/);
  const setCookie = login.headers.get("set-cookie");
  assert.ok(setCookie, "login must set the session cookie");
  const cookie = setCookie.split(";")[0]!;

  const portOf = (url: string) => new URL(url).port;
  const other = await get(two.url, cookie);
  assert.equal(await other.text(), `hello ada, from ${portOf(two.url)}\n`);
  const stranger = await get(two.url);
  assert.equal(
    await stranger.text(),
    `hello stranger, from ${portOf(two.url)}\n`,
  );

  const logout = await get(`${two.url}logout`, cookie);
  assert.match(await logout.text(), /^logged out/);
  const after = await get(two.url, cookie);
  assert.equal(await after.text(), `hello stranger, from ${portOf(two.url)}\n`);
});

Deno.test({
  name:
    "examples/shared_sessions.ts: a logout on one server is seen by the other",
  async fn() {
    await using redis = await startRedisServer();
    await using one = await startApp(redis.url);
    await using two = await startApp(redis.url);
    const login = await get(`${one.url}login?user=ada`);
    await login.body?.cancel();
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    await (await get(`${two.url}logout`, cookie)).body?.cancel();
    const after = await get(one.url, cookie);
    assert.match(await after.text(), /^hello stranger/);
  },
});
