/**
 * The log as a file among others: its mode, the path it is opened by
 * (symlinks, relative paths and `Deno.chdir`), and clear errors when the
 * file system is not what the store needs.
 */

import assert from "node:assert/strict";
import { BuntStore } from "../mod.ts";
import { run } from "./_cli_helpers.ts";
import { bytes, FIXED_NOW, tempDir } from "./_fixtures.ts";

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
