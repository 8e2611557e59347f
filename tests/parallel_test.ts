/**
 * The stores under `deno serve --parallel` (several workers in one
 * process) and beside another process: a store that belongs to one worker
 * refuses loudly and truthfully, a shared one serves every worker.
 *
 * @module
 */

import assert from "node:assert/strict";
import { BuntStore, MemoryStore, StoreLockedError } from "../mod.ts";
import { tempDir } from "./_fixtures.ts";
import { serveParallel, serveUntilExit } from "./_serve_parallel.ts";
import { CENSUS_WINDOW_MS } from "../_store/worker_census.ts";

const EXAMPLE = new URL("../examples/parallel_server.ts", import.meta.url)
  .pathname;
const MEMORY_SERVER = new URL("./_memory_server.ts", import.meta.url).pathname;
const HOLDER = new URL("./_crash_child.ts", import.meta.url).pathname;
const OPENER = new URL("./_open_child.ts", import.meta.url).pathname;

Deno.test("BuntStore.open() of a file already open in this isolate says so and what to do", async () => {
  await using tmp = await tempDir();
  await using _store = await BuntStore.open(tmp.path);
  await assert.rejects(BuntStore.open(tmp.path), (error: unknown) => {
    assert.ok(error instanceof StoreLockedError);
    assert.equal(error.holder, "isolate");
    assert.equal(
      error.message,
      `Cannot open store at "${tmp.path}": it is already open in this process, by an earlier BuntStore.open() not yet closed; use that store, or close it before opening the file again`,
    );
    return true;
  });
});

Deno.test("BuntStore.open() of a file another process holds names that process", async () => {
  await using tmp = await tempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", HOLDER, tmp.path, "hold"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    assert.equal((await lines.read()).value, "locked\n");
    // Deno 2.9 lets only --allow-all read /proc/locks, where the pid is.
    const opener = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", OPENER, tmp.path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      new TextDecoder().decode(opener.stdout),
      `StoreLockedError: Cannot open store at "${tmp.path}": file is locked by another process (pid ${child.pid}); stop it and retry, or, to serve from several processes, use a shared store (KvStore on a local file, or RedisStore)\n`,
      new TextDecoder().decode(opener.stderr),
    );
    // This runner may not read /proc/locks: then the message names both
    // possible holders.
    await assert.rejects(BuntStore.open(tmp.path), (error: unknown) => {
      assert.ok(error instanceof StoreLockedError);
      assert.match(error.message, /: file is locked by another process/);
      if (error.holder === "process") assert.equal(error.pid, child.pid);
      else assert.equal(error.holder, "unknown");
      return true;
    });
  } finally {
    await stdin.close();
    await lines.cancel();
    await child.status;
  }
});

Deno.test("deno serve --parallel on a BuntStore file refuses to start, naming the other worker", async () => {
  await using tmp = await tempDir();
  const { status, stderr } = await serveUntilExit(EXAMPLE, {
    SESSION_STORE: `file:${tmp.path}`,
  });
  assert.equal(status.code, 1, stderr);
  assert.match(
    stderr,
    /StoreLockedError: Cannot open store at ".*": it is open in another worker of this process \(deno serve --parallel runs one worker per core, and each opens the store\); a BuntStore belongs to one process and one worker: for several, use a shared store \(KvStore on a local file, or RedisStore\), or serve with one worker/,
  );
});

Deno.test("deno serve --parallel names the other worker while it still replays a large log", async () => {
  await using tmp = await tempDir();
  // 400k small records: the owner's replay takes longer than the other
  // worker's question waits.
  const parts: string[] = [];
  for (let i = 0; i < 400_000; i++) {
    const key = `k${i}`;
    parts.push(`*3\r\n$3\r\nset\r\n$${key.length}\r\n${key}\r\n$1\r\nv\r\n`);
  }
  await Deno.writeTextFile(tmp.path, parts.join(""));
  const { status, stderr } = await serveUntilExit(EXAMPLE, {
    SESSION_STORE: `file:${tmp.path}`,
  });
  assert.equal(status.code, 1, stderr);
  assert.match(stderr, /it is open in another worker of this process/);
});

Deno.test("deno serve --parallel on a memory store refuses to start, naming the cause", async (t) => {
  for (
    const [name, module, env, what] of [
      ["MemoryStore", MEMORY_SERVER, {}, "MemoryStore"],
      [
        'BuntStore.open(":memory:")',
        EXAMPLE,
        { SESSION_STORE: "memory:" },
        'BuntStore.open\\(":memory:"\\)',
      ],
    ] as const
  ) {
    await t.step(name, async () => {
      const { status, stderr } = await serveUntilExit(module, env);
      assert.equal(status.code, 1, stderr);
      assert.match(
        stderr,
        new RegExp(
          `Error: Cannot use ${what} under deno serve --parallel: another worker of this process has one too, and each worker would keep its own sessions`,
        ),
      );
    });
  }
});

Deno.test("deno serve with one worker keeps serving on a BuntStore and a MemoryStore", async () => {
  await using tmp = await tempDir();
  await using bunt = await serveParallel(EXAMPLE, {
    SESSION_STORE: `file:${tmp.path}`,
  }, 1);
  await using memory = await serveParallel(MEMORY_SERVER, {}, 1);
  const cookies: string[] = [];
  for (const server of [bunt, memory]) {
    const first = await fetch(`${server.url}/`);
    cookies.push(first.headers.get("set-cookie")!.split(";")[0]!);
    assert.equal(await first.text(), "hello stranger, visit 1\n");
  }
  // Past the census window: a lone worker is never refused.
  await new Promise((resolve) => setTimeout(resolve, CENSUS_WINDOW_MS + 500));
  for (const [i, server] of [bunt, memory].entries()) {
    const second: Response = await fetch(`${server.url}/`, {
      headers: { cookie: cookies[i]! },
    });
    assert.equal(await second.text(), "hello stranger, visit 2\n");
    const status = await server.stop();
    assert.ok(!server.stderr().includes("Cannot"), server.stderr());
    assert.notEqual(status.code, 1, server.stderr());
  }
});

Deno.test("MemoryStore and BuntStore.open(':memory:') in one isolate are not taken for two workers", async () => {
  await using a = new MemoryStore();
  await using b = new MemoryStore();
  await using c = await BuntStore.open(":memory:");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(a.size + b.size + c.size, 0);
});

Deno.test("examples/parallel_server.ts serves one set of sessions from 2 workers on KvStore", async () => {
  await using tmp = await tempDir();
  await using server = await serveParallel(EXAMPLE, {
    SESSION_STORE: `kv:${tmp.dir}/kv.sqlite3`,
  });
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    const login = await fetch(`${server.url}/login?user=ada`, { client });
    assert.equal(await login.text(), "logged in as ada\n");
    const cookie = login.headers.get("set-cookie")!.split(";")[0]!;
    // Each on a new connection, so both workers answer some of them.
    for (let visit = 1; visit <= 10; visit++) {
      const response = await fetch(`${server.url}/`, {
        client,
        headers: { cookie },
      });
      assert.equal(await response.text(), `hello ada, visit ${visit}\n`);
    }
  } finally {
    client.close();
  }
});
