/**
 * Shared stores under `deno serve --parallel` and beside a second process:
 * KvStore on one local file holds under concurrent load, and the session
 * layer sees every worker's changes (logout, listBy, destroyBy) on KvStore
 * and RedisStore.
 *
 * @module
 */

import assert from "node:assert/strict";
import { KvStore } from "../kv_store.ts";
import { SessionManager } from "../session.ts";
import { tempDir } from "./_fixtures.ts";
import { load, serveParallel, waitForWorkers } from "./_serve_parallel.ts";
import { startRedisServer } from "./_redis_server.ts";

const SERVER = new URL("./_worker_server.ts", import.meta.url).pathname;

/** A KV whose commits fail with "database is locked" `failures` times. */
function lockedKv(kv: Deno.Kv, failures: { left: number }): Deno.Kv {
  return new Proxy(kv, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (property !== "atomic") {
        return typeof value === "function" ? value.bind(target) : value;
      }
      return () => {
        const op = target.atomic();
        const commit = op.commit.bind(op);
        op.commit = () => {
          if (failures.left-- > 0) {
            return Promise.reject(new TypeError("database is locked"));
          }
          return commit();
        };
        return op;
      };
    },
  });
}

Deno.test("KvStore retries a commit that found the database locked", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const failures = { left: 5 };
    const store = new KvStore(lockedKv(kv, failures));
    const expiry = new Date(Date.now() + 60_000);
    await store.save("t", new Uint8Array([1]), expiry);
    assert.deepEqual(await store.find("t"), new Uint8Array([1]));
    assert.equal(failures.left, -1);
    await store.close();
  } finally {
    kv.close();
  }
});

Deno.test("KvStore says what happened when the database stays locked past lockTimeout", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = new KvStore(lockedKv(kv, { left: Infinity }), {
      lockTimeout: 30,
    });
    await assert.rejects(
      store.save("t", new Uint8Array([1]), new Date(Date.now() + 60_000)),
      (error: Error) => {
        assert.match(
          error.message,
          /^Cannot write to KV database "kv": it stayed locked by other writers for \d+ ms \(\d+ attempts; other processes or workers write to the same file\); raise KvStore's lockTimeout option, or move many writers to RedisStore$/,
        );
        assert.ok(error.cause instanceof TypeError);
        return true;
      },
    );
    const off = new KvStore(lockedKv(kv, { left: 1 }), { lockTimeout: 0 });
    await assert.rejects(
      off.save("t", new Uint8Array([1]), new Date(Date.now() + 60_000)),
      /^TypeError: database is locked$/,
    );
  } finally {
    kv.close();
  }
});

Deno.test("KvStore refuses an unknown option or a bad lockTimeout, naming it", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    assert.throws(
      // @ts-expect-error: the typo is the point
      () => new KvStore(kv, { lockTimeOut: 10 }),
      new TypeError(
        'Cannot create KvStore: unknown option "lockTimeOut" (known: prefix, now, lockTimeout)',
      ),
    );
    assert.throws(() => new KvStore(kv, { lockTimeout: -1 }), RangeError);
    // @ts-expect-error: the wrong type is the point
    assert.throws(() => new KvStore(kv, { lockTimeout: "1s" }), TypeError);
  } finally {
    kv.close();
  }
});

Deno.test("KvStore on one file answers every request from two workers and from two processes", async (t) => {
  await using tmp = await tempDir();
  const env = { SESSION_STORE: `kv:${tmp.dir}/kv.sqlite3` };
  const options = { requests: 1000, concurrency: 20, path: "/" };
  await t.step("deno serve --parallel, 2 workers", async () => {
    await using server = await serveParallel(SERVER, env, 2);
    await waitForWorkers(server.url, 2);
    const result = await load([server.url], options);
    assert.deepEqual([...result.statuses], [[200, 1000]], result.firstFailure);
    assert.equal(result.workers.size, 2);
  });
  await t.step("2 processes", async () => {
    await using a = await serveParallel(SERVER, env, 1);
    await using b = await serveParallel(SERVER, env, 1);
    const result = await load([a.url, b.url], options);
    assert.deepEqual([...result.statuses], [[200, 1000]], result.firstFailure);
    assert.equal(result.workers.size, 2);
  });
});

Deno.test("SessionManager on a shared store never serves a session it listed after another server destroyed it", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    // Two servers (or workers), each with its own store object on one KV.
    const [a, b] = [0, 1].map(() => {
      const sessions = new SessionManager<{ user: string }>({
        store: new KvStore(kv),
        index: "user",
        cookie: { secure: false },
      });
      const handler = sessions.wrap(async (request) => {
        const session = await sessions.of(request);
        const path = new URL(request.url).pathname;
        if (path === "/login") session.put("user", "ada");
        if (path === "/devices") {
          return Response.json(await sessions.listBy("ada", request));
        }
        if (path === "/logout-everywhere") {
          return new Response(String(await sessions.destroyBy("ada")));
        }
        return new Response(session.get("user") ?? "nobody");
      });
      return (path: string, cookie?: string) =>
        handler(
          new Request(`http://localhost${path}`, {
            headers: cookie === undefined ? {} : { cookie },
          }),
        );
    });
    const cookies: string[] = [];
    for (let i = 0; i < 2; i++) {
      const login = await a!("/login");
      await login.body?.cancel();
      cookies.push(login.headers.get("set-cookie")!.split(";")[0]!);
    }
    // b lists both devices from the first one, then a logs ada out.
    assert.equal((await (await b!("/devices", cookies[0])).json()).length, 2);
    assert.equal(await (await a!("/logout-everywhere")).text(), "2");
    for (const cookie of cookies) {
      assert.equal(await (await b!("/", cookie)).text(), "nobody");
    }
  } finally {
    kv.close();
  }
});

/** A GET on a new connection, with `cookie`; body, worker and cookie. */
async function get(
  client: Deno.HttpClient,
  url: string,
  cookie?: string,
): Promise<{ body: string; worker: string; cookie: string | undefined }> {
  const response = await fetch(url, {
    client,
    headers: cookie === undefined ? {} : { cookie },
  });
  return {
    body: await response.text(),
    worker: response.headers.get("x-worker") ?? "",
    cookie: response.headers.get("set-cookie")?.split(";")[0],
  };
}

/** Sends `url` until `worker` is (or, with `other`, is not) who answers. */
async function getOn(
  client: Deno.HttpClient,
  url: string,
  cookie: string,
  accept: (worker: string) => boolean,
): Promise<{ body: string; worker: string }> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const answer = await get(client, url, cookie);
    if (accept(answer.worker)) return answer;
  }
  throw new Error("100 new connections all went to the same worker");
}

async function sessionsAcrossWorkers(
  t: Deno.TestContext,
  env: Record<string, string>,
): Promise<void> {
  await using server = await serveParallel(SERVER, env, 2);
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    await t.step(
      "a logout on one worker is seen by the next request on the other",
      async () => {
        const login = await get(client, `${server.url}/login?user=ada`);
        const cookie = login.cookie!;
        // Both workers have served (and cached) the session before it ends.
        const seen = new Set<string>();
        while (seen.size < 2) {
          const visit = await get(client, `${server.url}/`, cookie);
          assert.match(visit.body, /^hello ada, visit \d+\n$/);
          seen.add(visit.worker);
        }
        const logout = await get(client, `${server.url}/logout`, cookie);
        assert.equal(logout.body, "logged out\n");
        const next = await getOn(
          client,
          `${server.url}/`,
          cookie,
          (worker) => worker !== logout.worker,
        );
        assert.equal(next.body, "hello stranger, visit 1\n");
      },
    );
    await t.step(
      "listBy and destroyBy see every worker's sessions",
      async () => {
        const cookies: string[] = [];
        const workers = new Set<string>();
        while (cookies.length < 8 || workers.size < 2) {
          const login = await get(client, `${server.url}/login?user=bob`);
          cookies.push(login.cookie!);
          workers.add(login.worker);
        }
        const devices = await get(client, `${server.url}/devices`, cookies[0]);
        assert.equal(JSON.parse(devices.body).length, cookies.length);
        const out = await get(
          client,
          `${server.url}/logout-everywhere`,
          cookies[1],
        );
        assert.equal(out.body, `logged out ${cookies.length} sessions\n`);
        const after = new Set<string>();
        for (const [i, cookie] of cookies.entries()) {
          const visit = await get(client, `${server.url}/`, cookie);
          assert.equal(
            visit.body,
            "hello stranger, visit 1\n",
            `cookie ${i} of ${cookies.length}, on ${
              visit.worker === out.worker ? "the same" : "the other"
            } worker as the logout (made with cookie 1)`,
          );
          after.add(visit.worker);
        }
        assert.equal(after.size, 2, "every worker answered after the logout");
      },
    );
  } finally {
    client.close();
  }
}

Deno.test("Sessions on KvStore (file) under deno serve --parallel are one set across workers", async (t) => {
  await using tmp = await tempDir();
  await sessionsAcrossWorkers(t, {
    SESSION_STORE: `kv:${tmp.dir}/kv.sqlite3`,
  });
});

Deno.test("Sessions on RedisStore under deno serve --parallel are one set across workers", async (t) => {
  await using redis = await startRedisServer();
  await sessionsAcrossWorkers(t, { SESSION_STORE: redis.url });
});
