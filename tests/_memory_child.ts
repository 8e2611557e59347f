/**
 * The child process of the memory test in tests/store_test.ts: saves one
 * large value to a store, deletes it, collects garbage and prints the
 * process's memory as JSON, so the parent can see what stayed allocated.
 *
 * Usage: deno run --v8-flags=--expose-gc --allow-read --allow-write
 *   tests/_memory_child.ts <path> <megabytes>
 *
 * @module
 */

import { BuntStore } from "../store.ts";

const [path, megabytes = "150"] = Deno.args;
if (path === undefined) throw new TypeError("Usage: _memory_child.ts <path>");
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

function external(): number {
  gc!();
  gc!();
  return Deno.memoryUsage().external;
}

await using store = await BuntStore.open(path, { sync: "never" });
const expiry = new Date(Date.now() + 3_600_000);
await store.save("small", new Uint8Array(100), expiry);
const before = external();
await saveBig(store, Number(megabytes) << 20);
await store.delete("big");
const after = external();
console.log(JSON.stringify({ before, after, size: store.size }));

/** In a function of its own, so no frame of this module keeps the value. */
async function saveBig(store: BuntStore, bytes: number): Promise<void> {
  await store.save("big", new Uint8Array(bytes).fill(7), expiry);
}
