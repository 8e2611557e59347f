// With the `encryption` option, the files each store leaves on disk (the
// BuntStore log and its dump, the Deno KV database, a Redis AOF) hold none
// of the session values, nor the owner; without it they do (the control,
// so these tests can fail).

import assert from "node:assert/strict";
import { BuntStore, SessionManager, type SessionStore } from "@x/buntstore";
import { KvStore } from "@x/buntstore/kv";
import { RedisStore } from "@x/buntstore/redis";
import { startRedisServer } from "./_redis_server.ts";
import { run } from "./_cli_helpers.ts";

const EMAIL = "ada.lovelace@example.com";
const SECRET = "oauth-access-token-7f3a9c";
const KEY = crypto.getRandomValues(new Uint8Array(32));

type Data = { user: string; secret: string };

/**
 * Logs in twice, renews one session and logs the other out, with or
 * without encryption; returns the live session's token.
 */
async function use(store: SessionStore, encrypted: boolean): Promise<string> {
  const sessions = new SessionManager<Data>({
    store,
    index: "user",
    ...(encrypted ? { encryption: { keys: [KEY] } } : {}),
  });
  const login = () =>
    sessions.withToken(undefined, (session) => {
      session.put("user", EMAIL);
      session.put("secret", SECRET);
    });
  const { token } = await login();
  const renewed = await sessions.withToken(token, (s) => s.renewToken());
  const other = await login();
  await sessions.withToken(other.token, (session) => session.destroy());
  return renewed.token!;
}

/** Every file under `dir`, concatenated, as latin1 text. */
async function filesUnder(dir: string): Promise<string> {
  let text = "";
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) text += await filesUnder(path);
    else text += new TextDecoder("latin1").decode(await Deno.readFile(path));
  }
  return text;
}

function assertHolds(text: string, encrypted: boolean, what: string): void {
  for (const value of [EMAIL, SECRET]) {
    assert.equal(
      text.includes(value),
      !encrypted,
      `${what} ${encrypted ? "holds" : "lacks"} ${value}`,
    );
  }
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "buntstore_enc_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("SessionManager encryption leaves no session value or owner in the BuntStore log, its compacted copy or its dump", async (t) => {
  for (const encrypted of [false, true]) {
    await t.step(encrypted ? "encrypted" : "plain (control)", async () => {
      await withTempDir(async (dir) => {
        const path = `${dir}/s.db`;
        {
          await using store = await BuntStore.open(path);
          await use(store, encrypted);
        }
        assertHolds(await filesUnder(dir), encrypted, "the log");
        const dump = await run(["dump", path], { now: Date.now() });
        assert.equal(dump.code, 0, dump.stderr);
        // Each line: the key as text, the value as base64.
        const lines = dump.stdout.trim().split("\n").map((line) => {
          const { token, value } = JSON.parse(line);
          return token + atob(value);
        });
        assert.equal(lines.length, 2, "the session and its index entry");
        assertHolds(lines.join("\n"), encrypted, "the dump");
        {
          await using store = await BuntStore.open(path);
          await store.shrink();
          assert.equal((await store.all()).size, 1);
        }
        assertHolds(await filesUnder(dir), encrypted, "the compacted log");
      });
    });
  }
});

Deno.test("SessionManager encryption reads its sessions back from a reopened BuntStore log, and from a dump loaded into another", async () => {
  await withTempDir(async (dir) => {
    let token;
    {
      await using store = await BuntStore.open(`${dir}/s.db`);
      token = await use(store, true);
    }
    // The record is bound to its store key, which the dump keeps.
    const now = Date.now();
    const dump = await run(["dump", `${dir}/s.db`], { now });
    const path = `${dir}/loaded.db`;
    const load = await run(["load", path], { now, stdin: dump.stdout });
    assert.equal(load.code, 0, load.stderr);
    await using store = await BuntStore.open(path);
    const sessions = new SessionManager<Data>({
      store,
      index: "user",
      encryption: { keys: [KEY] },
    });
    const read = await sessions.withToken(token, (s) => s.get("secret"));
    assert.equal(read.value, SECRET);
    assert.equal((await sessions.listBy(EMAIL)).length, 1);
  });
});

Deno.test("SessionManager encryption leaves no session value or owner in the Deno KV file", async (t) => {
  for (const encrypted of [false, true]) {
    await t.step(encrypted ? "encrypted" : "plain (control)", async () => {
      await withTempDir(async (dir) => {
        {
          await using store = await KvStore.open(`${dir}/kv.sqlite`);
          await use(store, encrypted);
        }
        assertHolds(await filesUnder(dir), encrypted, "the KV files");
      });
    });
  }
});

Deno.test("SessionManager encryption leaves no session value or owner in a Redis AOF", async (t) => {
  for (const encrypted of [false, true]) {
    await t.step(encrypted ? "encrypted" : "plain (control)", async () => {
      await withTempDir(async (dir) => {
        const server = await startRedisServer(undefined, [
          "--appendonly",
          "yes",
          "--appendfsync",
          "always",
          "--dir",
          dir,
        ]);
        try {
          await using store = await RedisStore.connect(server.url);
          await use(store, encrypted);
        } finally {
          await server.stop();
        }
        const files = await filesUnder(dir);
        assert.match(files, /SET|set/, "the AOF was written");
        assertHolds(files, encrypted, "the AOF");
      });
    });
  }
});
