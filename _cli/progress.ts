/**
 * The progress bar on stderr: a pure render function (tested on its own)
 * and a small throttled writer that draws it only on a terminal.
 *
 * @module
 */

import { formatBytes, formatDuration } from "./output.ts";

/** Below this many bytes a command finishes too fast to need a bar. */
export const PROGRESS_MIN_BYTES = 4 * 1024 * 1024;
/** Least time between two redraws, in milliseconds. */
const REDRAW_MS = 100;

/** What one frame of the progress bar shows. */
export interface ProgressFrame {
  /** What is being done, such as `verify`. */
  label: string;
  /** Bytes done so far. */
  done: number;
  /** Bytes in all. */
  total: number;
  /** Milliseconds since the start. */
  elapsedMs: number;
  /** Terminal columns available. */
  columns: number;
}

/**
 * Renders one line: label, bar, percentage, bytes, bytes/s and ETA, with
 * the bar shrunk (or dropped) to fit `columns`.
 */
export function renderProgress(frame: ProgressFrame): string {
  const { label, total, elapsedMs } = frame;
  const done = Math.min(Math.max(frame.done, 0), total);
  const ratio = total > 0 ? done / total : 1;
  const percent = `${Math.floor(ratio * 100)}%`.padStart(4);
  const rate = elapsedMs > 0 ? done / (elapsedMs / 1000) : 0;
  const eta = rate > 0 ? formatDuration((total - done) / rate * 1000) : "?";
  const tail = `${percent} ${formatBytes(done)}/${formatBytes(total)} ` +
    `${formatBytes(Math.round(rate))}/s ETA ${eta}`;
  const room = frame.columns - label.length - tail.length - 5;
  if (room < 10) return `${label} ${tail}`.slice(0, Math.max(frame.columns, 0));
  const width = Math.min(room, 30);
  const filled = Math.round(ratio * width);
  const bar = "#".repeat(filled) + "-".repeat(width - filled);
  return `${label} [${bar}] ${tail}`;
}

/** Options for {@linkcode Progress}. */
export interface ProgressOptions {
  /** Whether to draw at all (a terminal, not `--quiet`). */
  enabled: boolean;
  /** Bytes in all; below {@linkcode PROGRESS_MIN_BYTES} nothing is drawn. */
  total: number;
  /** What is being done. */
  label: string;
  /** Terminal columns. */
  columns?: number;
  /** The clock in milliseconds; tests inject their own. */
  now?: () => number;
}

const encoder = new TextEncoder();

/** Draws the bar on stderr at most every 100 ms and clears it at the end. */
export class Progress {
  readonly #write: (bytes: Uint8Array) => void;
  readonly #enabled: boolean;
  readonly #options: ProgressOptions;
  readonly #now: () => number;
  readonly #start: number;
  #lastDraw = -Infinity;
  #drawn = false;

  /** Creates it; `write` is the stderr writer. */
  constructor(write: (bytes: Uint8Array) => void, options: ProgressOptions) {
    this.#write = write;
    this.#options = options;
    this.#enabled = options.enabled && options.total >= PROGRESS_MIN_BYTES;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  /** Reports `done` bytes; redraws when the last draw is old enough. */
  update(done: number): void {
    if (!this.#enabled) return;
    const now = this.#now();
    if (now - this.#lastDraw < REDRAW_MS) return;
    this.#lastDraw = now;
    this.#drawn = true;
    const line = renderProgress({
      label: this.#options.label,
      done,
      total: this.#options.total,
      elapsedMs: now - this.#start,
      columns: this.#options.columns ?? 80,
    });
    this.#write(encoder.encode(`\r${line}\x1b[K`));
  }

  /** Erases the bar so the next output starts on a clean line. */
  finish(): void {
    if (this.#drawn) this.#write(encoder.encode("\r\x1b[K"));
    this.#drawn = false;
  }
}

/** Terminal width of stderr, or 80 when unknown. */
export function terminalColumns(): number {
  try {
    const { columns } = Deno.consoleSize();
    // A pseudo-terminal without a size (as under `script`) reports 0.
    return columns >= 20 ? columns : 80;
  } catch {
    // Not a terminal (or no console at all): fall back to a common width.
    return 80;
  }
}
