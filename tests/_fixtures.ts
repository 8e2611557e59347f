/**
 * The one fixtures module of the store and CLI tests: bytes, temp
 * directories, waiting on the event loop, raw record encoding (written
 * independently of the engine's encoder), opening a store with test hooks,
 * comparing a store's contents and a seeded PRNG.
 *
 * @module
 */

import type { LogFile } from "../aof.ts";
import { BuntStore, type BuntStoreOptions } from "../store.ts";
import { type StoreHooks, withHooks } from "../_store/hooks.ts";

const encoder = new TextEncoder();

/** A fixed clock for tests: 2023-11-14T22:13:20Z. */
export const FIXED_NOW = 1_700_000_000_000;

/** An `ae` expiry (whole seconds) one hour after {@linkcode FIXED_NOW}. */
export const LATER_SECONDS = FIXED_NOW / 1000 + 3600;

/** Encodes one RESP array of bulk strings, as buntdb writes records. */
export function resp(...parts: (string | Uint8Array)[]): Uint8Array {
  const chunks: Uint8Array[] = [encoder.encode(`*${parts.length}\r\n`)];
  for (const part of parts) {
    const bytes = typeof part === "string" ? encoder.encode(part) : part;
    chunks.push(encoder.encode(`$${bytes.length}\r\n`), bytes);
    chunks.push(encoder.encode("\r\n"));
  }
  return concat(...chunks);
}

/** Joins byte arrays. */
export function concat(...chunks: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const chunk of chunks) length += chunk.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** A temp directory removed on `await using` disposal. */
export interface TempDir extends AsyncDisposable {
  /** The directory. */
  dir: string;
  /** The log path inside it. */
  path: string;
}

/** Creates a temp directory holding a log path `<dir>/s.db`. */
export async function tempDir(): Promise<TempDir> {
  const dir = await Deno.makeTempDir({ prefix: "buntstore_test_" });
  return {
    dir,
    path: `${dir}/s.db`,
    async [Symbol.asyncDispose]() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * A test's wrapper of the log's handle, completed with the write made off
 * the event loop, which goes through the wrapper's `writeSync`: a fault a
 * test injects there hits both write paths.
 */
export function logFile(file: Omit<LogFile, "write">): LogFile {
  return { ...file, write: async (bytes) => file.writeSync(bytes) };
}

/** Resolves after `ms` milliseconds of wall time. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves on the next macrotask, letting timers and I/O run. */
export function tick(): Promise<void> {
  return sleep(0);
}

/**
 * Awaits `promise` while keeping the event loop alive, for promises that
 * only a store's unref'd timers settle.
 */
export async function withLiveLoop<T>(promise: Promise<T>): Promise<T> {
  const keepAlive = setInterval(() => {}, 1000);
  try {
    return await promise;
  } finally {
    clearInterval(keepAlive);
  }
}

/**
 * Opens a store with test hooks (`wrapFile`, ...) given next to its
 * options; the package entry does not accept them.
 */
export function openHooked(
  path: string,
  options: BuntStoreOptions & StoreHooks,
): Promise<BuntStore> {
  const { wrapFile, startHousekeeping, compactionPhase, ...rest } = options;
  const hooks: StoreHooks = {};
  if (compactionPhase !== undefined) hooks.compactionPhase = compactionPhase;
  if (wrapFile !== undefined) hooks.wrapFile = wrapFile;
  if (startHousekeeping !== undefined) {
    hooks.startHousekeeping = startHousekeeping;
  }
  return BuntStore.open(path, withHooks(rest, hooks));
}

/**
 * Housekeeping ticks driven by the test: pass `start` as the
 * `startHousekeeping` hook of one or more stores, then call `tick()` where
 * a second would pass.
 */
export class ManualHousekeeping {
  readonly #ticks = new Set<() => void>();

  /** The hook: keeps the store's tick instead of starting a timer. */
  readonly start = (tick: () => void): () => void => {
    this.#ticks.add(tick);
    return () => this.#ticks.delete(tick);
  };

  /** Whether a store started its timer and has not stopped it. */
  get running(): boolean {
    return this.#ticks.size > 0;
  }

  /** Runs one tick of every running store, synchronously. */
  tick(): void {
    if (!this.running) throw new Error("housekeeping not running");
    for (const tick of this.#ticks) tick();
  }

  /** Runs one tick, then lets the fsync it started reach the file. */
  async tickAndWait(): Promise<void> {
    this.tick();
    await tick();
  }
}

/** The live contents of a store, values decoded as UTF-8 for readable diffs. */
export async function contents(store: BuntStore): Promise<Map<string, string>> {
  const decoder = new TextDecoder();
  const out = new Map<string, string>();
  for (const [key, value] of await store.all()) {
    out.set(key, decoder.decode(value));
  }
  return out;
}

/** Sorts a map's entries by key, so assertion diffs are stable. */
export function sorted<V>(map: Map<string, V>): [string, V][] {
  return [...map].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/**
 * A small deterministic PRNG (mulberry32) so every random test can print
 * its seed and be replayed.
 */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed from `BUNTSTORE_SEED`, or a fresh one; printed by callers. */
export function seedFromEnv(): number {
  const fromEnv = Deno.env.get("BUNTSTORE_SEED");
  if (fromEnv !== undefined && fromEnv !== "") return Number(fromEnv) >>> 0;
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}
