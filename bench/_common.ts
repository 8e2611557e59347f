/**
 * Shared pieces of the benchmark harness: command-line flags, the
 * median/min/max summary, result checks and machine information.
 *
 * @module
 */

import { parseArgs } from "node:util";
import os from "node:os";
import type { BuntStore } from "../store.ts";

/** The full store workload: sessions per run (issue 2). */
export const FULL_SESSIONS = 200_000;
/** Bytes of session data per save, the same for every store. */
export const VALUE_BYTES = 256;
/** Session lifetime given to every store. */
export const TTL_MS = 3_600_000;

/** Flags shared by every bench entry point. */
export interface BenchFlags {
  /** 1/10 scale: the smoke and development size. */
  quick: boolean;
  /** Measured runs per case; the median, min and max are reported. */
  runs: number;
  /** Extra scale divisor on top of `--quick`, for the smoke test. */
  scale: number;
  /** What every size is divided by: 10 with `--quick`, times `scale`. */
  divisor: number;
  /** Only these targets (comma-separated); empty means all. */
  only: string[];
  /** Write the results JSON here instead of printing only. */
  out: string | undefined;
}

/** Parses the flags every bench script accepts. */
export function parseFlags(args: string[]): BenchFlags {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      // --quick is a smoke run: one measured run unless asked for more.
      runs: { type: "string" },
      scale: { type: "string", default: "1" },
      only: { type: "string", default: "" },
      out: { type: "string" },
    },
    strict: true,
  });
  const runs = Number(values.runs ?? (values.quick ? "1" : "3"));
  const scale = Number(values.scale);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new RangeError(`Invalid --runs: ${values.runs}`);
  }
  if (!(scale >= 1)) throw new RangeError(`Invalid --scale: ${values.scale}`);
  return {
    quick: values.quick,
    runs,
    scale,
    divisor: (values.quick ? 10 : 1) * scale,
    only: values.only === "" ? [] : values.only.split(","),
    out: values.out,
  };
}

/** Median, min and max of the measured runs (warm-up excluded). */
export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

/** Summarises measured runs. */
export function summarize(runs: number[]): Summary {
  if (runs.length === 0) throw new RangeError("No runs to summarize");
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)!, runs };
}

/** Thrown when a store or server returned wrong results during a bench. */
export class BenchCheckError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "BenchCheckError";
  }
}

/** Throws a {@linkcode BenchCheckError} unless `ok`. */
export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new BenchCheckError(message);
}

/** The machine a result was measured on. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  deno: string;
  v8: string;
  node: string;
  loadAverage: number[];
}

/** Collects CPU model, cores, memory and runtime versions. */
export async function machineInfo(): Promise<MachineInfo> {
  const cpus = os.cpus();
  let node = "not found";
  try {
    const { stdout } = await new Deno.Command("node", { args: ["-v"] })
      .output();
    node = new TextDecoder().decode(stdout).trim();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return {
    cpu: cpus[0]?.model ?? "unknown",
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30 * 10) / 10,
    os: `${Deno.build.os} ${os.release()} ${Deno.build.arch}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    node,
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** A deterministic 43-character base64url token, like a session's. */
export function token(i: number): string {
  return `t${i.toString(36).padStart(8, "0")}`.padEnd(43, "x");
}

/** The value saved for token `i` in `round`: distinct and checkable. */
export function value(i: number, round = 0): Uint8Array {
  const bytes = new Uint8Array(VALUE_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, i);
  view.setUint32(4, round);
  for (let j = 8; j < VALUE_BYTES; j++) bytes[j] = (i + j) & 0xff;
  return bytes;
}

/** Reads back the `(i, round)` pair stored in a value, or undefined. */
export function readValue(
  bytes: Uint8Array | undefined,
): { i: number; round: number } | undefined {
  if (bytes === undefined || bytes.length !== VALUE_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const i = view.getUint32(0);
  if (bytes[VALUE_BYTES - 1] !== ((i + VALUE_BYTES - 1) & 0xff)) {
    return undefined;
  }
  return { i, round: view.getUint32(4) };
}

/** Formats a rate for humans. */
export function fmtRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

/** Today's date as YYYY-MM-DD, for result file names. */
export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Starts a 1 ms timer; `stop()` returns the longest gap between ticks. */
export function pauseMonitor(): { stop(): number } {
  let last = performance.now();
  let max = 0;
  const id = setInterval(() => {
    const now = performance.now();
    max = Math.max(max, now - last);
    last = now;
  }, 1);
  return {
    stop() {
      clearInterval(id);
      return Math.max(max, performance.now() - last);
    },
  };
}

/** What {@linkcode measureShrink} saw. */
export interface ShrinkMeasure {
  /** Log size before the shrink. */
  beforeBytes: number;
  /** Log size after it. */
  afterBytes: number;
  /** Longest event-loop pause during it. */
  maxPauseMs: number;
  /** How long it took. */
  shrinkMs: number;
}

/** Shrinks while a 1 ms timer records the longest event-loop pause. */
export async function measureShrink(store: BuntStore): Promise<ShrinkMeasure> {
  await store.sync();
  const beforeBytes = store.stats().fileBytes;
  const monitor = pauseMonitor();
  const started = performance.now();
  await store.shrink();
  const shrinkMs = performance.now() - started;
  const maxPauseMs = monitor.stop();
  return {
    beforeBytes,
    afterBytes: store.stats().fileBytes,
    maxPauseMs,
    shrinkMs,
  };
}

/**
 * Serves `handler` on a free port of 127.0.0.1 until SIGTERM, after
 * printing `{"port": N}` as the first stdout line, which the HTTP benches
 * wait for.
 */
export async function serveUntilTerminated(
  handler: Deno.ServeHandler,
): Promise<void> {
  const abort = new AbortController();
  Deno.addSignalListener("SIGTERM", () => abort.abort());
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: abort.signal,
    onListen({ port }) {
      console.log(JSON.stringify({ port }));
    },
  }, handler);
  await server.finished;
}
