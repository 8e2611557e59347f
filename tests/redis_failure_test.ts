// RedisStore when Redis fails under it: a stopped server (SIGSTOP) bounds
// every command in time, a read-only server (a replica after failover)
// makes a logout fail honestly and the retry log out for real, and a
// failed connect says what to check, once (issue 19).

import assert from "node:assert/strict";
import { SessionManager } from "@x/buntstore";
import { RedisStore } from "@x/buntstore/redis";
import { createClient } from "@redis/client";
import {
  freePort,
  type RedisServer,
  startRedisServer,
} from "./_redis_server.ts";
import { cookiePair, get, text } from "./_session_helpers.ts";

const encoder = new TextEncoder();

/** Runs `fn` with `server` stopped (SIGSTOP), and resumes it after. */
async function whileStopped<R>(
  server: RedisServer,
  fn: () => Promise<R>,
): Promise<R> {
  Deno.kill(server.pid, "SIGSTOP");
  try {
    return await fn();
  } finally {
    Deno.kill(server.pid, "SIGCONT");
  }
}

/**
 * Settles `promise`, or gives up after `ms` with a failure naming what
 * hung: a command with no time bound would otherwise hang the test for as
 * long as the server is stopped.
 */
async function settledWithin<T>(
  promise: Promise<T>,
  ms: number,
): Promise<PromiseSettledResult<T> | "hung"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"hung">((resolve) => {
    timer = setTimeout(() => resolve("hung"), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ status: "fulfilled", value }) as const,
        (reason) => ({ status: "rejected", reason }) as const,
      ),
      hung,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("RedisStore commands fail with a clear error while Redis is stopped, then work again", async () => {
  await using server = await startRedisServer();
  await using store = await RedisStore.connect(server.url, {
    commandTimeout: 200,
    onConnectionError: () => {},
  });
  const expiry = new Date(Date.now() + 60_000);
  await store.save("t", encoder.encode("kept"), expiry);
  const outcomes = await whileStopped(server, () =>
    Promise.all([
      settledWithin(store.find("t"), 5000),
      settledWithin(store.save("u", encoder.encode("x"), expiry), 5000),
      settledWithin(store.delete("t"), 5000),
    ]));
  for (const outcome of outcomes) {
    assert.notEqual(outcome, "hung", "a command waited for a stopped Redis");
    assert.equal(outcome !== "hung" && outcome.status, "rejected");
    const reason = outcome !== "hung" && outcome.status === "rejected"
      ? String(outcome.reason)
      : "";
    assert.match(
      reason,
      new RegExp(
        `Redis did not answer within 200 ms \\(commandTimeout\\) at redis://127\\.0\\.0\\.1:${server.port}`,
      ),
    );
  }
  // Resumed, Redis runs what it had queued; then new commands answer.
  assert.equal(await store.find("u").then((v) => v?.length), 1);
});

Deno.test("RedisStore commandTimeout is checked", async () => {
  const client = { sendCommand: () => Promise.resolve(null) };
  for (const bad of [-1, 0.5, Number.NaN, "1000"]) {
    assert.throws(
      // @ts-expect-error: wrong types a JavaScript caller may pass
      () => new RedisStore(client, { commandTimeout: bad }),
      /option "commandTimeout" must be/,
    );
  }
  assert.throws(
    // @ts-expect-error: a typo a JavaScript caller may make
    () => new RedisStore(client, { prefx: "a:" }),
    /Cannot create RedisStore: unknown option "prefx"/,
  );
});

Deno.test("SessionManager on a read-only Redis (REPLICAOF): a logout fails through onError, and the retry logs out for real", async () => {
  await using server = await startRedisServer();
  await using store = await RedisStore.connect(server.url, {
    onConnectionError: () => {},
  });
  const errors: unknown[] = [];
  const sessions = new SessionManager<{ user: string }>({
    store,
    cookie: { secure: false },
    onError(error) {
      errors.push(error);
      return new Response("store unavailable", { status: 503 });
    },
  });
  const handler = sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    const path = new URL(req.url).pathname;
    if (path === "/login") session.put("user", "ada");
    if (path === "/logout") await session.destroy();
    return new Response(session.get("user") ?? "nobody");
  });
  const login = await handler(get("/login"));
  const cookie = cookiePair(login)!;
  await text(login);

  // A replica of a master that is not there: reads work, writes fail.
  const admin = await createClient({ url: server.url }).connect();
  await admin.sendCommand(["REPLICAOF", "127.0.0.1", String(freePort())]);
  try {
    const failed = await handler(get("/logout", cookie));
    assert.equal(failed.status, 503);
    assert.equal(failed.headers.get("set-cookie"), null);
    await text(failed);
    assert.match(String(errors[0]), /READONLY/);
    assert.equal(await text(await handler(get("/me", cookie))), "ada");
  } finally {
    await admin.sendCommand(["REPLICAOF", "NO", "ONE"]);
    await admin.close();
  }
  const done = await handler(get("/logout", cookie));
  assert.match(done.headers.get("set-cookie")!, /^session=; Max-Age=0/);
  await text(done);
  // A server that never saw this session: the token is dead in Redis.
  const other = new SessionManager<{ user: string }>({ store });
  const me = await other.withToken(cookie.split("=")[1], (s) => s.get("user"));
  assert.equal(me.value, undefined);
});

Deno.test("RedisStore.connect() failures: one clear error naming the URL without its password", async (t) => {
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    await t.step("nothing listens", async () => {
      const port = freePort();
      const url = `redis://user:hunter2@127.0.0.1:${port}`;
      const error = await RedisStore.connect(url).then(
        () => assert.fail("connected"),
        (error) => error,
      );
      assert.match(
        String(error),
        new RegExp(
          `Cannot connect to Redis at redis://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*; check that redis-server runs`,
        ),
      );
      assert.ok(!String(error).includes("hunter2"));
    });
    await using server = await startRedisServer(undefined, [
      "--requirepass",
      "right",
    ]);
    const attempts: [string, string][] = [
      ["no password", ""],
      ["a wrong one", ":wrong@"],
    ];
    for (const [label, auth] of attempts) {
      await t.step(label, async () => {
        const url = `redis://${auth}127.0.0.1:${server.port}`;
        const error = await RedisStore.connect(url).then(
          () => assert.fail("connected"),
          (error) => error,
        );
        assert.match(
          String(error),
          /Cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+\/?: (NOAUTH|WRONGPASS).*; check the password/,
        );
        assert.ok(!String(error).includes("wrong@"));
      });
    }
    await t.step("the right password connects", async () => {
      await using store = await RedisStore.connect(
        `redis://:right@127.0.0.1:${server.port}`,
      );
      assert.equal(await store.find("t"), undefined);
    });
  } finally {
    console.error = original;
  }
  assert.deepEqual(logged, [], "the connect error was printed as well");
});
