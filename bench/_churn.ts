/**
 * The churn workload of the scale bench (issue 12): a store of N sessions
 * with auto-compaction on takes overwrites, short-lived saves and deletes
 * for some seconds, at a fixed rate or as fast as it goes, while a 1 ms
 * timer records how late it fires (the longest event-loop pause) and a
 * slower one records every auto-compaction: how long it took and the file
 * size after it against the live records. Afterwards the store is checked
 * against a model of what was written, in memory and after a reopen, so a
 * broken store cannot look fast.
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { setRecordBytes } from "../aof.ts";
import { BuntStore } from "../store.ts";
import {
  check,
  readValue,
  token,
  TTL_MS,
  value,
  VALUE_BYTES,
} from "./_common.ts";

/** Lifetime of the short-lived saves. */
const SHORT_TTL_MS = 3000;
/** Operations issued per event-loop turn by the unthrottled writer. */
const UNTHROTTLED_BATCH = 64;
/** Most operations a fixed-rate turn issues when it has fallen behind. */
const MAX_BURST = 256;
/** How often compactions are looked for. */
const POLL_MS = 20;
/** Longest wait for a compaction still running when the churn stops. */
const FINISH_WAIT_MS = 120_000;
/** Every how many sessions one is read back in the checks. */
const SAMPLE_STRIDE = 97;

/** How a churn run writes. */
export interface ChurnConfig {
  /** Sessions in the log it starts from (`token(0..sessions-1)`). */
  sessions: number;
  /** How long the churn lasts. */
  seconds: number;
  /**
   * Operations per second; `0` for as fast as the store goes, yielding with
   * `setImmediate`; `-1` for a flood that yields through a `MessageChannel`
   * (see {@linkcode flood}).
   */
  rate: number;
  /** Seed of the operation mix. */
  seed: number;
}

/** One auto-compaction seen during a churn run. */
export interface CompactionSeen {
  /** From the first poll that saw it running to the first that did not. */
  ms: number;
  /** Log size right after it. */
  fileBytes: number;
  /** Bytes of the live records then (live keys x bytes of one record). */
  liveBytes: number;
  /** The size the next auto-compaction is measured against. */
  thresholdBaseBytes: number;
  /** Whether it finished only after the churn had stopped. */
  afterChurn: boolean;
}

/** What one churn run measured. */
export interface ChurnRun {
  /** Longest event-loop pause during the churn, in ms. */
  maxPauseMs: number;
  /**
   * Longest pause that began or ended while a compaction ran (as last
   * polled, so a pause next to one counts as its own).
   */
  maxPauseCompactingMs: number;
  /** Longest pause with no compaction running. */
  maxPauseIdleMs: number;
  /** Operations acknowledged per second. */
  opsPerSec: number;
  /** Auto-compactions completed during the churn. */
  compactions: number;
  /** Each compaction that completed, in order. */
  seen: CompactionSeen[];
  /** Whether a compaction was still running when the churn stopped. */
  runningAtEnd: boolean;
  /** Whether that one finished within the wait after the churn. */
  finishedAfterChurn: boolean;
  /** Log size after the churn (and any compaction it left running). */
  fileBytes: number;
  /** Live records then, in bytes. */
  liveBytes: number;
  /** Live sessions at the end, checked against the model. */
  liveKeys: number;
}

/** Runs the churn on the log at `path` and checks the result. */
export async function churn(
  path: string,
  config: ChurnConfig,
): Promise<ChurnRun> {
  const expiry = new Date(Date.now() + TTL_MS);
  const recordBytes = setRecordBytes(43, VALUE_BYTES, expiry.getTime());
  const store = await BuntStore.open(path, { sync: "everysecond" });
  const model = new Model(config.sessions, config.seed);
  let pauses = { all: 0, compacting: 0, idle: 0 };
  let ops = 0;
  let churnMs = 0;
  const watcher = new CompactionWatcher(store, recordBytes);
  try {
    check(store.size === config.sessions, `Opened ${store.size} sessions`);
    const monitor = splitPauseMonitor(() => watcher.running);
    const started = performance.now();
    ops = config.rate > 0
      ? await fixedRate(store, model, config, expiry)
      : config.rate === 0
      ? await unthrottled(store, model, config, expiry)
      : await flood(store, model, config, expiry);
    churnMs = performance.now() - started;
    pauses = monitor.stop();
    watcher.churnEnded();
    await watcher.waitIdle(FINISH_WAIT_MS);
    watcher.stop();
    // Short-lived saves are counted out of the model: wait until they are
    // all past their expiry so the count is exact.
    // (a second more, for expiries kept in whole seconds).
    const wait = model.lastShortExpiry - Date.now() + 1010;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    await model.verify(store, "after the churn");
  } finally {
    watcher.stop();
    await store.close();
  }
  const fileBytes = (await Deno.stat(path)).size;
  {
    await using reopened = await BuntStore.open(path, {
      sync: "never",
      autoShrinkDisabled: true,
    });
    await model.verify(reopened, "after a reopen");
  }
  return {
    maxPauseMs: pauses.all,
    maxPauseCompactingMs: pauses.compacting,
    maxPauseIdleMs: pauses.idle,
    opsPerSec: ops / (churnMs / 1000),
    compactions: watcher.seen.filter((c) => !c.afterChurn).length,
    seen: watcher.seen,
    runningAtEnd: watcher.runningAtEnd,
    finishedAfterChurn: watcher.runningAtEnd && !watcher.running,
    fileBytes,
    liveBytes: model.alive * recordBytes,
    liveKeys: model.alive,
  };
}

/** Issues `config.rate` operations a second from a 1 ms timer. */
async function fixedRate(
  store: BuntStore,
  model: Model,
  config: ChurnConfig,
  expiry: Date,
): Promise<number> {
  const pending = new Pending();
  const started = performance.now();
  const end = started + config.seconds * 1000;
  let issued = 0;
  const { promise, resolve } = Promise.withResolvers<void>();
  const id = setInterval(() => {
    const now = performance.now();
    if (now >= end) {
      clearInterval(id);
      resolve();
      return;
    }
    const due = Math.floor((now - started) / 1000 * config.rate) - issued;
    const count = Math.min(due, MAX_BURST);
    const batch = [];
    for (let k = 0; k < count; k++) batch.push(model.step(store, expiry));
    pending.add(Promise.all(batch));
    issued += count;
  }, 1);
  await promise;
  await pending.settle();
  return issued;
}

/**
 * Issues operations as fast as they are acknowledged, a batch per
 * event-loop turn, yielding with `setImmediate` so timers run every turn.
 * (Yielding through a `MessageChannel` starved timers: alone, with no
 * store at all, it made a 1 ms timer 50 ms late, and a `setImmediate`
 * ran once per ~40 ms.)
 */
function unthrottled(
  store: BuntStore,
  model: Model,
  config: ChurnConfig,
  expiry: Date,
): Promise<number> {
  return asFastAsAcknowledged(
    store,
    model,
    config,
    expiry,
    () => new Promise((resolve) => setImmediate(resolve)),
  );
}

/**
 * Like {@linkcode unthrottled}, but yielding through a `MessageChannel`, as
 * a flood of requests on sockets does: Deno runs such ready work before
 * timers and `setImmediate`, so by itself (no store) it kept a 1 ms timer
 * 50 ms late; the pauses it reports are mostly its own. It is the case
 * where a compaction gets the least of the event loop.
 */
async function flood(
  store: BuntStore,
  model: Model,
  config: ChurnConfig,
  expiry: Date,
): Promise<number> {
  const channel = new MessageChannel();
  let wake = () => {};
  channel.port1.onmessage = () => wake();
  try {
    return await asFastAsAcknowledged(
      store,
      model,
      config,
      expiry,
      () =>
        new Promise<void>((resolve) => {
          wake = resolve;
          channel.port2.postMessage(0);
        }),
    );
  } finally {
    channel.port1.close();
  }
}

/** Issues a batch, yields with `turn`, and again until the time is up. */
async function asFastAsAcknowledged(
  store: BuntStore,
  model: Model,
  config: ChurnConfig,
  expiry: Date,
  turn: () => Promise<unknown>,
): Promise<number> {
  const pending = new Pending();
  const end = performance.now() + config.seconds * 1000;
  let issued = 0;
  while (performance.now() < end) {
    const batch = [];
    for (let k = 0; k < UNTHROTTLED_BATCH; k++) {
      batch.push(model.step(store, expiry));
    }
    issued += UNTHROTTLED_BATCH;
    pending.add(Promise.all(batch));
    await turn();
  }
  await pending.settle();
  return issued;
}

/** Outstanding writes; the first failure fails the run. */
class Pending {
  #set = new Set<Promise<unknown>>();
  #error: unknown;

  add(promise: Promise<unknown>): void {
    this.#set.add(promise);
    promise.then(
      () => this.#set.delete(promise),
      (error) => this.#error ??= error,
    );
  }

  async settle(): Promise<void> {
    await Promise.allSettled([...this.#set]);
    if (this.#error !== undefined) throw this.#error;
  }
}

/**
 * What the store must hold: a round per base session (0 = deleted), and
 * the latest expiry of the short-lived saves, which all expire.
 */
class Model {
  readonly #rounds: Uint32Array;
  readonly #random: () => number;
  #nextShort: number;
  #alive: number;
  lastShortExpiry = 0;

  constructor(sessions: number, seed: number) {
    // Round 0 is how the bench wrote every session: alive, round 0; a
    // stored round is one more than the value's, so 0 can mean deleted.
    this.#rounds = new Uint32Array(sessions).fill(1);
    this.#alive = sessions;
    this.#nextShort = sessions;
    this.#random = mulberry32(seed);
  }

  get alive(): number {
    return this.#alive;
  }

  /** One operation: 60% overwrite, 20% short-lived save, 20% delete. */
  step(store: BuntStore, expiry: Date): Promise<void> {
    const r = this.#random();
    if (r < 0.2) {
      const i = this.#nextShort++;
      const at = Date.now() + SHORT_TTL_MS;
      this.lastShortExpiry = at;
      return store.save(token(i), value(i), new Date(at));
    }
    const i = Math.floor(this.#random() * this.#rounds.length);
    const round = this.#rounds[i]!;
    if (r < 0.4) {
      if (round !== 0) this.#alive--;
      this.#rounds[i] = 0;
      return store.delete(token(i));
    }
    if (round === 0) this.#alive++;
    this.#rounds[i] = round + 1;
    return store.save(token(i), value(i, round), expiry);
  }

  /** Checks the count and a sample of the sessions. */
  async verify(store: BuntStore, when: string): Promise<void> {
    check(
      store.size === this.#alive,
      `${store.size} live sessions ${when}, expected ${this.#alive}`,
    );
    for (let i = 0; i < this.#rounds.length; i += SAMPLE_STRIDE) {
      const round = this.#rounds[i]!;
      const got = readValue(await store.find(token(i)));
      const ok = round === 0
        ? got === undefined
        : got?.i === i && got.round === round - 1;
      check(ok, `Session ${i} wrong ${when}: ${JSON.stringify(got)}`);
    }
  }
}

/** Polls the store's stats for compactions starting and finishing. */
class CompactionWatcher {
  readonly seen: CompactionSeen[] = [];
  runningAtEnd = false;
  readonly #store: BuntStore;
  readonly #recordBytes: number;
  #id: ReturnType<typeof setInterval> | undefined;
  #since: number | undefined;
  #count = 0;
  #churning = true;

  constructor(store: BuntStore, recordBytes: number) {
    this.#store = store;
    this.#recordBytes = recordBytes;
    this.#id = setInterval(() => this.#poll(), POLL_MS);
  }

  get running(): boolean {
    return this.#since !== undefined;
  }

  churnEnded(): void {
    this.#poll();
    this.#churning = false;
    this.runningAtEnd = this.running;
  }

  async waitIdle(maxMs: number): Promise<void> {
    const end = performance.now() + maxMs;
    while (this.running && performance.now() < end) {
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  stop(): void {
    clearInterval(this.#id);
    this.#id = undefined;
  }

  #poll(): void {
    const stats = this.#store.stats();
    const now = performance.now();
    if (stats.compactions > this.#count) {
      this.#count = stats.compactions;
      this.seen.push({
        ms: now - (this.#since ?? now),
        fileBytes: stats.fileBytes,
        liveBytes: stats.keys * this.#recordBytes,
        thresholdBaseBytes: stats.lastCompactedBytes,
        afterChurn: !this.#churning,
      });
      this.#since = undefined;
    }
    if (stats.compacting) this.#since ??= now;
    else this.#since = undefined;
  }
}

/**
 * A 1 ms timer that measures its own lateness, split by whether a
 * compaction was running before or after each gap.
 */
function splitPauseMonitor(compacting: () => boolean): {
  stop(): { all: number; compacting: number; idle: number };
} {
  let last = performance.now();
  let wasCompacting = compacting();
  const max = { all: 0, compacting: 0, idle: 0 };
  const note = (now: number) => {
    const gap = now - last;
    const isCompacting = compacting();
    max.all = Math.max(max.all, gap);
    if (wasCompacting || isCompacting) {
      max.compacting = Math.max(max.compacting, gap);
    } else {
      max.idle = Math.max(max.idle, gap);
    }
    last = now;
    wasCompacting = isCompacting;
  };
  const id = setInterval(() => note(performance.now()), 1);
  return {
    stop() {
      clearInterval(id);
      note(performance.now());
      return max;
    },
  };
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
