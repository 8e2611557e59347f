// `buntstore dump --key-file`: the plaintext of sessions saved with the
// middleware's `encryption` option, beside the unchanged ciphertext.

import assert from "node:assert/strict";
import { BuntStore, SessionManager } from "@x/buntstore";
import { run } from "./_cli_helpers.ts";

const EMAIL = "ada.lovelace@example.com";

function base64Key(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toBase64();
}

/** One session saved under each key; returns the log's path. */
async function logWith(dir: string, keys: string[]): Promise<string> {
  const path = `${dir}/s.db`;
  await using store = await BuntStore.open(path);
  for (const [i, key] of keys.entries()) {
    const sessions = new SessionManager({
      store,
      index: "user",
      encryption: { keys: [key] },
    });
    await sessions.withToken(undefined, (s) => s.put("user", `${EMAIL}#${i}`));
  }
  return path;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "buntstore_cli_key_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("cli dump --key-file adds the plaintext of the sessions its keys decrypt, and the dump still loads", async () => {
  await withTempDir(async (dir) => {
    const [known, other] = [base64Key(), base64Key()];
    const path = await logWith(dir, [known, other]);
    await Deno.writeTextFile(`${dir}/keys`, `\n${base64Key()}\n${known}\n`);
    const now = Date.now();
    const plain = await run(["dump", path], { now });
    assert.ok(!plain.stdout.includes(EMAIL));
    assert.ok(!plain.stdout.includes("decrypted"));

    const dump = await run(["dump", path, "--key-file", `${dir}/keys`], {
      now,
    });
    assert.equal(dump.code, 0, dump.stderr);
    const lines = dump.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const shown = lines.filter((l) => l.decrypted !== undefined);
    assert.equal(shown.length, 1, "the session of the key in the file only");
    assert.equal(JSON.parse(shown[0].decrypted).v.user, `${EMAIL}#0`);
    assert.equal(lines.length, 4, "two sessions and their index entries");

    const load = await run(["load", `${dir}/copy.db`], {
      now,
      stdin: dump.stdout,
    });
    assert.equal(load.code, 0, load.stderr);
    await using copy = await BuntStore.open(`${dir}/copy.db`);
    const sessions = new SessionManager({
      store: copy,
      index: "user",
      encryption: { keys: [known] },
    });
    assert.equal((await sessions.listBy(`${EMAIL}#0`)).length, 1);
  });
});

Deno.test("cli dump --key-file refuses a missing file, an empty one and a key that is not 32 bytes", async () => {
  await withTempDir(async (dir) => {
    const path = await logWith(dir, [base64Key()]);
    const dump = (file: string) => run(["dump", path, "--key-file", file]);
    const missing = await dump(`${dir}/nope`);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /Cannot read key file ".*nope": not found/);
    await Deno.writeTextFile(`${dir}/empty`, "\n\n");
    assert.match((await dump(`${dir}/empty`)).stderr, /holds no key/);
    await Deno.writeTextFile(`${dir}/short`, btoa("0123456789abcdef"));
    const short = await dump(`${dir}/short`);
    assert.equal(short.code, 1);
    assert.match(
      short.stderr,
      /Cannot use key file ".*short": encryption key 0 is 16 bytes, must be exactly 32 random bytes/,
    );
    assert.equal(short.stdout, "");
  });
});
