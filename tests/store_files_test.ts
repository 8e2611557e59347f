/**
 * The log as a file among others: its mode, the path it is opened by
 * (symlinks, relative paths and `Deno.chdir`), and clear errors when the
 * file system is not what the store needs.
 */

import assert from "node:assert/strict";
import { BuntStore } from "../mod.ts";
import { run } from "./_cli_helpers.ts";
import { bytes, FIXED_NOW, logFile, openHooked, tempDir } from "./_fixtures.ts";

const now = () => FIXED_NOW;
const expiry = new Date(FIXED_NOW + 3_600_000);

async function modeOf(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

Deno.test("BuntStore.open() creates a new log readable by its owner only (0600)", async () => {
  await using tmp = await tempDir();
  await using store = await BuntStore.open(tmp.path, { now });
  await store.save("token", bytes("secret"), expiry);
  assert.equal((await modeOf(tmp.path)).toString(8), "600");
});

Deno.test("BuntStore.shrink() keeps the log's mode", async (t) => {
  for (const mode of [0o600, 0o640]) {
    await t.step(mode.toString(8), async () => {
      await using tmp = await tempDir();
      await Deno.writeFile(tmp.path, new Uint8Array(0), { mode });
      await Deno.chmod(tmp.path, mode);
      await using store = await BuntStore.open(tmp.path, { now });
      for (let i = 0; i < 10; i++) {
        await store.save("token", bytes(`v${i}`), expiry);
      }
      const inode = (await Deno.stat(tmp.path)).ino;
      await store.shrink();
      assert.notEqual((await Deno.stat(tmp.path)).ino, inode, "no swap");
      assert.equal((await modeOf(tmp.path)).toString(8), mode.toString(8));
    });
  }
});

Deno.test("buntstore load creates a new log with mode 0600", async () => {
  await using tmp = await tempDir();
  const line = JSON.stringify({ token: "t", expires: null, value: "dg==" });
  const result = await run(["load", "-q", tmp.path], { stdin: `${line}\n` });
  assert.equal(result.code, 0, result.stderr);
  assert.equal((await modeOf(tmp.path)).toString(8), "600");
});

Deno.test("BuntStore.shrink() of a log opened through a symlink compacts the real file and keeps the link", async () => {
  await using tmp = await tempDir();
  const real = `${tmp.dir}/real.db`;
  const link = `${tmp.dir}/link.db`;
  await Deno.symlink("real.db", link);
  await Deno.writeFile(real, new Uint8Array(0));
  const store = await BuntStore.open(link, { now });
  try {
    for (let i = 0; i < 10; i++) await store.save("a", bytes(`v${i}`), expiry);
    await store.shrink();
    await store.save("b", bytes("after the shrink"), expiry);
    assert.ok((await Deno.lstat(link)).isSymlink, "the link was replaced");
    // The lock moved to the compacted real file.
    await assert.rejects(BuntStore.open(real), /already open in this process/);
  } finally {
    await store.close();
  }
  await using reopened = await BuntStore.open(real, { now });
  assert.deepEqual(await reopened.find("a"), bytes("v9"));
  assert.deepEqual(await reopened.find("b"), bytes("after the shrink"));
  assert.deepEqual(
    (await Array.fromAsync(Deno.readDir(tmp.dir))).map((e) => e.name).sort(),
    ["link.db", "real.db"],
  );
});

Deno.test("BuntStore opened by a relative path keeps using that file after Deno.chdir()", async () => {
  await using home = await tempDir();
  await using elsewhere = await tempDir();
  // In a child process: Deno.chdir here would move every test beside it.
  const output = await openChild(["s.db", elsewhere.dir], {
    cwd: home.dir,
    read: [home.dir, elsewhere.dir],
    write: [home.dir, elsewhere.dir],
  });
  assert.equal(output, "compacted\n");
  assert.deepEqual(
    await Array.fromAsync(Deno.readDir(elsewhere.dir)),
    [],
    "the compaction wrote into the new working directory",
  );
  await using reopened = await BuntStore.open(`${home.dir}/s.db`, { now });
  assert.deepEqual(await reopened.find("a"), bytes("2"));
  assert.deepEqual(await reopened.find("b"), bytes("3"));
});

Deno.test("buntstore repair --skip through a symlink rewrites the real file and keeps the link", async () => {
  await using tmp = await tempDir();
  const real = `${tmp.dir}/real.db`;
  const link = `${tmp.dir}/link.db`;
  await Deno.symlink("real.db", link);
  const good = "*3\r\n$3\r\nset\r\n$1\r\na\r\n$1\r\n1\r\n";
  await Deno.writeTextFile(real, `${good}*3\r\n$3\r\nset\r\n$1\r\nb!!!${good}`);
  const result = await run(["repair", "-q", "--skip", link]);
  assert.equal(result.code, 0, result.stderr);
  assert.ok((await Deno.lstat(link)).isSymlink, "the link was replaced");
  assert.equal(await Deno.readTextFile(real), good + good);
});

Deno.test("BuntStore.open() refuses a symlink to a missing file instead of creating a log a shrink would unlink", async () => {
  await using tmp = await tempDir();
  const link = `${tmp.dir}/link.db`;
  await Deno.symlink("missing.db", link);
  await assert.rejects(
    BuntStore.open(link),
    new RegExp(
      `^Error: Cannot open store at "${link}": it is a symbolic link to a missing file; `,
    ),
  );
  await assert.rejects(
    Deno.stat(`${tmp.dir}/missing.db`),
    Deno.errors.NotFound,
  );
});

Deno.test("BuntStore.open() names the file and says what to do when the path is not a log", async (t) => {
  await t.step("the path is a directory", async () => {
    await using tmp = await tempDir();
    await assert.rejects(
      BuntStore.open(tmp.dir),
      new RegExp(
        `^IsADirectory: Cannot open store at "${tmp.dir}": it is a directory; give the path of a file in it`,
      ),
    );
  });
  await t.step("a parent is a file", async () => {
    await using tmp = await tempDir();
    await Deno.writeTextFile(`${tmp.dir}/data`, "not a directory");
    const path = `${tmp.dir}/data/sessions/s.db`;
    await assert.rejects(
      BuntStore.open(path),
      new RegExp(
        `^NotADirectory: Cannot open store at "${path}": "${tmp.dir}/data" is a file, not a directory; `,
      ),
    );
  });
  for (const empty of [true, false]) {
    await t.step(
      `<path>.tmp is ${empty ? "an empty" : "a"} directory`,
      async () => {
        await using tmp = await tempDir();
        await Deno.mkdir(`${tmp.path}.tmp`);
        if (!empty) await Deno.writeTextFile(`${tmp.path}.tmp/keep`, "mine");
        await assert.rejects(
          BuntStore.open(tmp.path),
          new RegExp(
            `^Error: Cannot open store at "${tmp.path}": "${tmp.path}.tmp" is a directory, where compactions write their temp file; move it away`,
          ),
        );
        assert.ok((await Deno.stat(`${tmp.path}.tmp`)).isDirectory);
      },
    );
  }
});

Deno.test("BuntStore.open() refuses a log whose directory it cannot write, which every compaction needs", async () => {
  await using tmp = await tempDir();
  await Deno.writeFile(tmp.path, new Uint8Array(0));
  const stdout = await openChild([tmp.path], {
    read: [tmp.dir],
    write: [tmp.path],
  });
  assert.match(
    stdout,
    new RegExp(
      `^\\w+: Cannot open store at "${tmp.path}": cannot create files in its directory "${tmp.dir}" .*; compactions write a temp file there`,
    ),
  );
});

Deno.test("BuntStore.save() on a full disk names the file and says what to do", async () => {
  await using tmp = await tempDir();
  let full = false;
  await using store = await openHooked(tmp.path, {
    now,
    onError: () => {},
    wrapFile: (file) =>
      logFile({
        writeSync: (data) => {
          // What Deno throws for ENOSPC: a plain Error with a code.
          if (full) {
            throw Object.assign(
              new Error("No space left on device (os error 28)"),
              { code: "ENOSPC" },
            );
          }
          return file.writeSync(data);
        },
        syncData: () => file.syncData(),
        truncateSync: (size) => file.truncateSync(size),
      }),
  });
  full = true;
  await assert.rejects(
    store.save("t", bytes("v"), expiry),
    new RegExp(
      `^Error: Cannot write to store at "${tmp.path}": No space left on device \\(os error 28\\); free disk space`,
    ),
  );
  full = false;
  await store.save("t", bytes("v"), expiry);
});

/** Runs tests/_open_child.ts with only the given permissions; its stdout. */
async function openChild(
  args: string[],
  options: { cwd?: string; read: string[]; write: string[] },
): Promise<string> {
  const child = new URL("./_open_child.ts", import.meta.url).pathname;
  const sources = new URL("..", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      `--allow-read=${[...options.read, sources].join(",")}`,
      `--allow-write=${options.write.join(",")}`,
      child,
      ...args,
    ],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  return new TextDecoder().decode(output.stdout);
}
