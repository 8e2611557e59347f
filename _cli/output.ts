/**
 * The CLI's side of the terminal: the injectable I/O, the error a command
 * throws to end with a one-line message and an exit code, and formatting
 * of sizes, rates and times for people.
 *
 * @module
 */

/** Exit code of a command that did what was asked. */
export const EXIT_OK = 0;
/** Exit code of a command that failed: damage found, locked, not found. */
export const EXIT_FAILURE = 1;
/** Exit code of a command line that cannot be understood. */
export const EXIT_USAGE = 2;

/** Where the CLI reads and writes; tests inject their own. */
export interface CliIo {
  /** Writes all of `bytes` to standard output. */
  stdout: (bytes: Uint8Array) => void;
  /** Writes all of `bytes` to standard error. */
  stderr: (bytes: Uint8Array) => void;
  /** Opens standard input, read by `load` when no `--in` file is given. */
  stdin: () => ReadableStream<Uint8Array>;
  /** Whether standard error is a terminal, which allows a progress bar. */
  stderrIsTerminal: boolean;
  /** The clock in Unix milliseconds, for expiry decisions. */
  now: () => number;
}

/** A failure to report as one line on stderr with an exit code. */
export class CliError extends Error {
  /** The process exit code. */
  readonly exitCode: number;

  /** Creates it; `exitCode` is 1 (failure) unless given. */
  constructor(
    message: string,
    exitCode = EXIT_FAILURE,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** A command line that cannot be understood (exit code 2). */
export class UsageError extends CliError {
  /** The command whose help to point at ("" for the top level). */
  readonly command: string;

  /** Creates it for `command` ("" for the top level). */
  constructor(message: string, command: string) {
    super(message, EXIT_USAGE);
    this.name = "UsageError";
    this.command = command;
  }
}

const encoder = new TextEncoder();

/** Writes text and JSON lines to the injected streams. */
export class Output {
  readonly io: CliIo;

  /** Wraps `io`. */
  constructor(io: CliIo) {
    this.io = io;
  }

  /** Writes `text` and a newline to stdout. */
  line(text = ""): void {
    this.io.stdout(encoder.encode(text + "\n"));
  }

  /** Writes `value` as indented JSON to stdout. */
  json(value: unknown): void {
    this.line(JSON.stringify(value, null, 2));
  }

  /** Writes `text` and a newline to stderr. */
  error(text: string): void {
    this.io.stderr(encoder.encode(text + "\n"));
  }
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** Formats a byte count: `1.5 MiB`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** Formats a duration in milliseconds: `850ms`, `42s`, `3m20s`, `2h05m`, `3d04h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "never";
  const sign = ms < 0 ? "-" : "";
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${Math.round(abs)}ms`;
  const seconds = Math.floor(abs / 1000);
  if (seconds < 60) return `${sign}${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${sign}${minutes}m${pad2(seconds % 60)}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${sign}${hours}h${pad2(minutes % 60)}m`;
  return `${sign}${Math.floor(hours / 24)}d${pad2(hours % 24)}h`;
}

/** Formats an absolute time and how far it is from `now`. */
export function formatExpiry(expiresAt: number, now: number): string {
  if (expiresAt === Infinity) return "never";
  const when = new Date(expiresAt).toISOString();
  const delta = expiresAt - now;
  return delta >= 0
    ? `${when} (in ${formatDuration(delta)})`
    : `${when} (${formatDuration(-delta)} ago)`;
}

/** Formats a count with thousands separators: `100,000`. */
export function formatCount(count: number): string {
  return count.toLocaleString("en-US");
}

/** Formats operations per second from a count and milliseconds. */
export function formatRate(count: number, ms: number): string {
  return formatCount(Math.round(count / Math.max(ms, 1e-3) * 1000));
}

/** Expiry as JSON: Unix milliseconds, or `null` for none. */
export function jsonExpiry(expiresAt: number): number | null {
  return expiresAt === Infinity ? null : expiresAt;
}

/** Aligns `rows` of label and value into two columns. */
export function table(rows: [string, string][]): string[] {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`);
}

function pad2(value: number): string {
  return String(value).padStart(2, "0");
}
