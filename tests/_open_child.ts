/**
 * A child process for tests/store_files_test.ts, run with narrow
 * permissions or in a chosen working directory: opens the store at
 * `<path>`, saves `a` = "1", changes directory to `<chdir>` if given, saves
 * `a` = "2", compacts, saves `b` = "3" and closes, then prints `compacted`,
 * or prints `<error name>: <message>` for the first failure. (A test that
 * called `Deno.chdir` itself would move every test running beside it.)
 *
 * Usage: deno run <permissions> tests/_open_child.ts <path> [<chdir>]
 *
 * @module
 */

import { BuntStore } from "../store.ts";

const [path, chdir] = Deno.args;
if (path === undefined) {
  throw new TypeError("Usage: _open_child.ts <path> [<chdir>]");
}

const encoder = new TextEncoder();
const expiry = new Date(Date.now() + 60_000);

try {
  await using store = await BuntStore.open(path, { onError: () => {} });
  await store.save("a", encoder.encode("1"), expiry);
  if (chdir !== undefined) Deno.chdir(chdir);
  await store.save("a", encoder.encode("2"), expiry);
  await store.shrink();
  await store.save("b", encoder.encode("3"), expiry);
  console.log("compacted");
} catch (error) {
  console.log(`${(error as Error).name}: ${(error as Error).message}`);
}
