/**
 * Go buntdb as a store bench target: bench/go/buntdb_bench.go runs the same
 * workload as store_bench.ts in its own process (Debian's buntdb 1.1.7,
 * SyncPolicy EverySecond), built once per bench run.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { check } from "./_common.ts";

const GOPATH = "/usr/share/gocode";
const PROGRAM = fileURLToPath(new URL("./go/buntdb_bench.go", import.meta.url));

/** What one run of the Go harness reports. */
export interface GoRun {
  rates: Record<string, number>;
  ops: Record<string, number>;
  reopenMs: number;
  sessions: number;
  heapBytesPerSession: number;
}

let built: Promise<string> | undefined;

/** Runs the workload once on Go buntdb in `dir`. */
export async function runGoBuntdb(
  dir: string,
  sessions: number,
  concurrency: number,
): Promise<GoRun> {
  built ??= build();
  const binary = await built;
  const { code, stdout, stderr } = await new Deno.Command(binary, {
    args: [dir, String(sessions), String(concurrency)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const errors = new TextDecoder().decode(stderr);
  check(code === 0, `Go buntdb bench failed (exit ${code}): ${errors}`);
  return JSON.parse(new TextDecoder().decode(stdout));
}

async function build(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "buntdb-bench-go-" });
  return await buildGoProgram(PROGRAM, `${dir}/buntdb_bench`);
}

/**
 * Builds the Go program at `source` against Debian's buntdb (GOPATH mode)
 * into `binary`; returns `binary`. Used by the bench and the interop test.
 */
export async function buildGoProgram(
  source: string,
  binary: string,
): Promise<string> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("go", {
      args: ["build", "-o", binary, source],
      env: {
        GO111MODULE: "off",
        GOPATH,
        GOFLAGS: "",
        // Go needs a build cache; without a home, use one beside the binary.
        ...(Deno.env.get("HOME") ? {} : { GOCACHE: `${binary}.gocache` }),
      },
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `Cannot build ${source}: go is not installed; run ` +
          "`apt-get install -y golang-go golang-github-tidwall-buntdb-dev`",
        { cause: error },
      );
    }
    throw error;
  }
  check(
    output.success,
    `Cannot build ${source} (is golang-github-tidwall-buntdb-dev installed in ${GOPATH}?): ${
      new TextDecoder().decode(output.stderr)
    }`,
  );
  return binary;
}
