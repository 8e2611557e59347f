/**
 * The background timer that removes expired entries. It is unref'd so it
 * never keeps a process alive, and it runs the sweep in slices with the
 * event loop free between them.
 *
 * @module
 */

/** One slice of sweeping; returns whether more work is waiting. */
export type SweepStep = () => boolean;

/** Longest a single sweep slice may hold the event loop, in milliseconds. */
export const SWEEP_SLICE_MS = 5;

/** Runs `step` every `intervalMs`, continuing at once while it has more. */
export class Sweeper {
  readonly #step: SweepStep;
  readonly #intervalMs: number;
  #interval: ReturnType<typeof setInterval> | undefined;
  #continuation: ReturnType<typeof setTimeout> | undefined;

  /**
   * Starts the timer.
   *
   * @param intervalMs Milliseconds between sweeps.
   * @param step One slice of work.
   */
  constructor(intervalMs: number, step: SweepStep) {
    this.#intervalMs = intervalMs;
    this.#step = step;
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
    if (!this.#step()) return;
    const continuation = setTimeout(() => {
      this.#continuation = undefined;
      this.#run();
    }, 0);
    Deno.unrefTimer(continuation);
    this.#continuation = continuation;
  }
}
