/**
 * A child process for tests/store_files_test.ts, run with narrow
 * permissions: opens the store at `<path>`, saves, compacts and closes,
 * then prints `compacted`, or prints `<error name>: <message>` for the
 * first failure.
 *
 * Usage: deno run --allow-read=<dir> --allow-write=<path>
 *   tests/_open_child.ts <path>
 *
 * @module
 */

import { BuntStore } from "../store.ts";

const [path] = Deno.args;
if (path === undefined) throw new TypeError("Usage: _open_child.ts <path>");

try {
  await using store = await BuntStore.open(path, { onError: () => {} });
  await store.save("t", new Uint8Array([1]), new Date(Date.now() + 60_000));
  await store.shrink();
  console.log("compacted");
} catch (error) {
  console.log(`${(error as Error).name}: ${(error as Error).message}`);
}
