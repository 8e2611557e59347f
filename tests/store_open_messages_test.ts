// What BuntStore.open() accepts as a path (strings, file: URLs, URL
// objects) and the messages a new user meets: another scheme, a directory,
// a damaged log (issue 19).

import assert from "node:assert/strict";
import { BuntStore, CorruptLogError } from "@x/buntstore";
import { resp, tempDir } from "./_fixtures.ts";

Deno.test("BuntStore.open() takes a URL object or a file: URL string, as Deno's file APIs do", async () => {
  await using tmp = await tempDir();
  const cwd = Deno.cwd();
  Deno.chdir(tmp.dir);
  try {
    const url = new URL(`file://${tmp.dir}/a.db`);
    const byObject = await BuntStore.open(url);
    await byObject.save("t", new Uint8Array([1]), new Date(Date.now() + 1e6));
    assert.equal(byObject.path, `${tmp.dir}/a.db`);
    await byObject.close();
    await using byString = await BuntStore.open(url.href);
    assert.deepEqual(await byString.find("t"), new Uint8Array([1]));
    // Nothing was made in the working directory under a folder "file:".
    const names = [];
    for await (const entry of Deno.readDir(tmp.dir)) names.push(entry.name);
    assert.deepEqual(names, ["a.db"]);
  } finally {
    Deno.chdir(cwd);
  }
});

Deno.test("BuntStore.open() refuses a URL of another scheme, naming it", async () => {
  const cases: [string | URL, RegExp][] = [
    [
      "https://example.com/s.db",
      /^Cannot open store at "https:\/\/example\.com\/s\.db": only file: URLs name a file, got "https:"; give a file path or a file: URL$/,
    ],
    [
      new URL("redis://h:6379"),
      /^Cannot open store at "redis:\/\/h:6379": only file: URLs name a file, got "redis:"; for Redis use RedisStore from @x\/buntstore\/redis$/,
    ],
  ];
  for (const [path, message] of cases) {
    await assert.rejects(
      BuntStore.open(path),
      (error) => error instanceof TypeError && message.test(error.message),
    );
  }
});

Deno.test("BuntStore.open() of a directory suggests a file in it, with one slash", async () => {
  await using tmp = await tempDir();
  await assert.rejects(
    BuntStore.open(`${tmp.dir}/`),
    (error) =>
      error instanceof Error &&
      error.message.includes(`such as "${tmp.dir}/sessions.db"`),
  );
});

Deno.test("CorruptLogError at open names the repair that keeps every intact record, as a command that exists", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/s.db`;
  const record = (key: string) => resp("set", key, "v");
  const garbage = new TextEncoder().encode("*3\r\n$3\r\nset\r\n$X\r\n");
  await Deno.writeFile(
    path,
    new Uint8Array([...record("a"), ...garbage, ...record("b")]),
  );
  const error = await BuntStore.open(path).then(
    () => assert.fail("opened a damaged log"),
    (error) => error,
  );
  assert.ok(error instanceof CorruptLogError);
  assert.match(
    error.message,
    new RegExp(
      `; to keep every intact record, run: deno run --allow-read --allow-write jsr:@x/buntstore/cli repair --skip "${path}" \\(it keeps a \\.bak copy\\)$`,
    ),
  );
});
