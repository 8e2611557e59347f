/**
 * The background timer that removes expired entries. It is unref'd so it
 * never keeps a process alive, and it runs the sweep in slices with the
 * event loop free between them.
 *
 * @module
 */

import type { Keyspace } from "./keyspace.ts";

/** Longest a single sweep slice may hold the event loop, in milliseconds. */
const SWEEP_SLICE_MS = 5;

/** What a sweep needs from its store. */
export interface SweepTarget {
  /** The entries to sweep. */
  keyspace: Keyspace;
  /** The store's clock. */
  now: () => number;
  /** Called with each removed key, within the slice's time budget. */
  forget: (key: string) => void;
  /** Told which keys each slice removed. */
  onExpired: ((keys: string[]) => void) | undefined;
}

/**
 * Sweeps `target` every `intervalMs`, continuing at once while expired
 * entries remain.
 */
export class Sweeper {
  readonly #target: SweepTarget;
  readonly #intervalMs: number;
  #interval: ReturnType<typeof setInterval> | undefined;
  #continuation: ReturnType<typeof setTimeout> | undefined;

  /**
   * Starts the timer.
   *
   * @param intervalMs Milliseconds between sweeps.
   * @param target The store's entries, clock and expiry callback.
   */
  constructor(intervalMs: number, target: SweepTarget) {
    this.#intervalMs = intervalMs;
    this.#target = target;
    const interval = setInterval(() => this.#run(), this.#intervalMs);
    Deno.unrefTimer(interval);
    this.#interval = interval;
  }

  /** Stops the timer and any pending continuation. */
  stop(): void {
    clearInterval(this.#interval);
    clearTimeout(this.#continuation);
    this.#interval = undefined;
    this.#continuation = undefined;
  }

  #run(): void {
    if (this.#continuation !== undefined || this.#interval === undefined) {
      return;
    }
    if (!this.#sweepSlice()) return;
    const continuation = setTimeout(() => {
      this.#continuation = undefined;
      this.#run();
    }, 0);
    Deno.unrefTimer(continuation);
    this.#continuation = continuation;
  }

  /** Removes one slice of expired entries; returns whether more remain. */
  #sweepSlice(): boolean {
    const { keyspace, now, forget, onExpired } = this.#target;
    const { expired, more } = keyspace.sweep(now(), SWEEP_SLICE_MS, forget);
    if (expired.length > 0) onExpired?.(expired);
    return more;
  }
}
