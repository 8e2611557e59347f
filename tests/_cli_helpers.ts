/**
 * Shared helpers for the CLI tests: running `main` in-process with captured
 * streams, running the real CLI in a subprocess, and generated logs.
 */

import { main } from "../cli.ts";
import { RecordWriter } from "../aof.ts";
import { concat } from "./_fixtures.ts";

/** The fixed clock the in-process runs use. */
export const NOW = Date.UTC(2030, 0, 1);
export const HOUR = 3600_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What one run of the CLI printed and returned. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Uint8Array;
}

/** Options for {@linkcode run}. */
export interface RunOptions {
  stdin?: Uint8Array | string;
  terminal?: boolean;
  now?: number;
}

/** Runs `main` in-process with captured stdout and stderr. */
export async function run(
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const input = typeof options.stdin === "string"
    ? encoder.encode(options.stdin)
    : options.stdin ?? new Uint8Array(0);
  const code = await main(args, {
    stdout: (bytes) => out.push(bytes.slice()),
    stderr: (bytes) => err.push(bytes.slice()),
    stdin: () => ReadableStream.from([input]),
    stderrIsTerminal: options.terminal ?? false,
    now: () => options.now ?? NOW,
  });
  const stdoutBytes = concat(...out);
  return {
    code,
    stdout: decoder.decode(stdoutBytes),
    stderr: decoder.decode(concat(...err)),
    stdoutBytes,
  };
}

/** Runs the real CLI in a subprocess with read and write permissions. */
export async function runProcess(args: string[]): Promise<RunResult> {
  const cli = new URL("../cli.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-read", "--allow-write", cli, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
    stdoutBytes: output.stdout,
  };
}

/** Encodes records with the engine's writer. */
export function encode(build: (records: RecordWriter) => void): Uint8Array {
  const records = new RecordWriter();
  build(records);
  return records.view().slice();
}

/** `count` sessions `tok<i>` = `value <i>`, expiring an hour after NOW. */
export function soundLog(count = 10, expiresAt = NOW + HOUR): Uint8Array {
  return encode((records) => {
    for (let i = 0; i < count; i++) {
      records.set(`tok${i}`, encoder.encode(`value ${i}`), expiresAt);
    }
  });
}

/** Parses the JSON a `--json` run printed. */
export function json(result: RunResult): Record<string, unknown> {
  return JSON.parse(result.stdout);
}
