/**
 * The child process of tests/store_crash_test.ts. It is killed with
 * SIGKILL at random moments, so it prints a line for every write only
 * after the store acknowledged it.
 *
 * Usage: deno run --allow-read --allow-write tests/_crash_child.ts
 *   <path> <mode> <sync> <round>
 *
 * Modes:
 * - `save`: workers save new tokens, overwrite a hot key and delete some of
 *   their earlier tokens, printing `ack <token>`, `hot <key> <n>` and
 *   `del <token>` after each acknowledgement.
 * - `shrink`: the same writers, plus `shrink()` in a loop, printing
 *   `shrink-start` and `shrink-done`. Writers yield to the event loop
 *   between saves, so compactions progress and kills land inside them.
 * - `big`: saves 8 MiB values one after another, printing `ack <token>`;
 *   a kill inside such a long write(2) leaves a torn record behind.
 * - `hold`: opens the store, prints `locked`, and waits for stdin to close.
 * - `try`: tries to open the store and prints the error's name or `opened`.
 *
 * @module
 */

import { BuntStore, type SyncPolicy } from "../store.ts";

const [path, mode, sync = "everysecond", round = "0"] = Deno.args;
if (path === undefined || mode === undefined) {
  throw new TypeError("Usage: _crash_child.ts <path> <mode> <sync> <round>");
}

const encoder = new TextEncoder();
const HOUR = 3_600_000;
const WORKERS = 8;

function print(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let written = 0;
  while (written < bytes.length) {
    written += Deno.stdout.writeSync(bytes.subarray(written));
  }
}

/** The value saved under `token`; the parent recomputes it. */
function valueOf(token: string): Uint8Array {
  return encoder.encode(`v:${token}:${"p".repeat(token.length * 3)}`);
}

/**
 * Lets timers and I/O run: an `"everysecond"` save resolves on a microtask,
 * so writers that only await saves would starve a compaction, which needs
 * the event loop, at its first await. (The save mode needs no compaction
 * and keeps its writers at full speed.)
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

async function worker(store: BuntStore, w: number): Promise<never> {
  for (let i = 0;; i++) {
    if (mode === "shrink") await yieldToEventLoop();
    const token = `r${round}-w${w}-${i}`;
    await store.save(token, valueOf(token), new Date(Date.now() + HOUR));
    print(`ack ${token}`);
    if (i % 5 === 4) {
      const key = `hot-r${round}-w${w}`;
      await store.save(
        key,
        encoder.encode(String(i)),
        new Date(Date.now() + HOUR),
      );
      print(`hot ${key} ${i}`);
    }
    if (i % 7 === 6) {
      const victim = `r${round}-w${w}-${i - 3}`;
      await store.delete(victim);
      print(`del ${victim}`);
    }
  }
}

async function shrinkForever(store: BuntStore): Promise<never> {
  while (true) {
    print("shrink-start");
    await store.shrink();
    print("shrink-done");
  }
}

if (mode === "try") {
  try {
    const store = await BuntStore.open(path);
    await store.close();
    print("opened");
  } catch (error) {
    print((error as Error).name);
  }
} else {
  const store = await BuntStore.open(path, { sync: sync as SyncPolicy });
  if (mode === "big") {
    print("ready");
    for (let i = 0;; i++) {
      const token = `big-r${round}-${i}`;
      const value = new Uint8Array(8 << 20).fill(i % 251);
      await store.save(token, value, new Date(Date.now() + HOUR));
      print(`ack ${token}`);
    }
  } else if (mode === "hold") {
    print("locked");
    // Wait until the parent closes our stdin.
    for await (const _ of Deno.stdin.readable) {
      // Nothing to do with the bytes.
    }
    await store.close();
  } else {
    if (mode === "shrink" && store.size < 10_000) {
      // Enough data that a compaction takes a while.
      const saves = [];
      const from = store.size;
      for (let i = from; i < 10_000; i++) {
        const token = `fill-${i}`;
        saves.push(
          store.save(token, valueOf(token), new Date(Date.now() + HOUR)),
        );
      }
      await Promise.all(saves);
      print(`filled ${from} 10000`);
    }
    print("ready");
    const work: Promise<never>[] = [];
    for (let w = 0; w < WORKERS; w++) work.push(worker(store, w));
    if (mode === "shrink") work.push(shrinkForever(store));
    await Promise.race(work);
  }
}
