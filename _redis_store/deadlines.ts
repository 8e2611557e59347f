/**
 * A time bound on every Redis command of one store. node-redis's own
 * timeout stops applying once a command is on the socket, so a stopped
 * server would hold each caller for as long as it stays stopped.
 *
 * Every command of a store has the same bound, so deadlines come in the
 * order commands start: one queue and one timer, armed for the oldest
 * command still pending, cost about a third of a `setTimeout` and
 * `Promise.race` per command.
 *
 * @module
 */

interface Pending {
  deadline: number;
  reject: (error: unknown) => void;
  settled: boolean;
}

/** Drop settled entries from the queue's front once this many pile up. */
const COMPACT_AFTER = 1024;

/** Rejects commands that outlive a fixed bound. */
export class CommandDeadlines {
  readonly #ms: number;
  readonly #timedOut: () => Error;
  #queue: Pending[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @param ms The bound, in milliseconds.
   * @param timedOut Makes the error a late command rejects with.
   */
  constructor(ms: number, timedOut: () => Error) {
    this.#ms = ms;
    this.#timedOut = timedOut;
  }

  /**
   * Returns `command`'s outcome, or a rejection once it has taken longer
   * than the bound. A command that fails after its deadline has already
   * been reported as timed out; its late failure is dropped.
   */
  watch<T>(command: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = {
        deadline: performance.now() + this.#ms,
        reject,
        settled: false,
      };
      this.#queue.push(pending);
      command.then((value) => {
        pending.settled = true;
        resolve(value);
      }, (error) => {
        pending.settled = true;
        reject(error);
      });
      if (this.#timer === undefined) this.#arm(this.#ms);
    });
  }

  /** Stops the timer; commands still pending are no longer bounded. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
    this.#head = 0;
  }

  #arm(delay: number): void {
    const timer = setTimeout(() => this.#expire(), delay);
    // Bounding commands is no reason to keep a process alive.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const pending = queue[this.#head]!;
      if (!pending.settled) {
        if (pending.deadline > now) break;
        pending.settled = true;
        pending.reject(this.#timedOut());
      }
      this.#head++;
    }
    if (this.#head >= COMPACT_AFTER && this.#head * 2 >= queue.length) {
      queue.splice(0, this.#head);
      this.#head = 0;
    }
    const oldest = queue[this.#head];
    if (oldest === undefined) {
      this.#queue = [];
      this.#head = 0;
    } else {
      this.#arm(Math.max(0, oldest.deadline - now));
    }
  }
}
