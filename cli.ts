/**
 * The `buntstore` command line: inspect, verify, repair, compact, export
 * and import a session log.
 *
 * ```sh
 * deno run --allow-read --allow-write jsr:@x/buntstore/cli stats sessions.db
 * deno task cli verify sessions.db
 * ```
 *
 * Commands: `stats`, `get`, `del`, `verify`, `repair`, `shrink`, `dump`,
 * `load`, `bench`; `buntstore COMMAND --help` describes each. Read-only
 * commands never change the file and work while a server has it open;
 * `del`, `repair`, `shrink` and `load` take the store's lock and refuse
 * while another process holds it. Exit codes: 0 done, 1 failed, 2 usage.
 *
 * @example Running a command in-process
 * ```ts
 * import { main } from "@x/buntstore/cli";
 * import assert from "node:assert/strict";
 *
 * const chunks: Uint8Array[] = [];
 * const code = await main(["--help"], {
 *   stdout: (bytes) => chunks.push(bytes.slice()),
 *   stderr: () => {},
 * });
 * assert.equal(code, 0);
 * assert.match(new TextDecoder().decode(chunks[0]), /Usage: buntstore/);
 * ```
 *
 * @module
 */

import { writeAll } from "./aof.ts";
import {
  commandHelp,
  COMMANDS,
  mainHelp,
  parseCommand,
} from "./_cli/commands.ts";
import {
  CliError,
  type CliIo,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  Output,
  UsageError,
} from "./_cli/output.ts";

export type { CliIo } from "./_cli/output.ts";
export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./_cli/output.ts";

/**
 * Runs the CLI with `args` (without the program name) and returns the exit
 * code: 0 done, 1 failed (damage found, missing, locked), 2 usage error.
 * Errors are printed as one line on stderr; only an unexpected failure (a
 * bug) prints its stack.
 *
 * @param args The command line, such as `["verify", "sessions.db"]`.
 * @param io Where to read and write; defaults to the process's streams.
 * @returns The exit code.
 *
 * @example Checking a log from a script (needs --allow-read)
 * ```ts ignore
 * import { main } from "@x/buntstore/cli";
 *
 * const code = await main(["verify", "--quiet", "data/sessions.db"]);
 * if (code !== 0) console.error("the session log is damaged");
 * ``` *
 * @example Reading a `--json` report (needs --allow-read)
 * ```ts ignore
 * import { EXIT_OK, main } from "@x/buntstore/cli";
 *
 * const chunks: string[] = [];
 * const decoder = new TextDecoder();
 * const code = await main(["stats", "--json", "data/sessions.db"], {
 *   stdout: (bytes) => chunks.push(decoder.decode(bytes)),
 * });
 * if (code === EXIT_OK) {
 *   const report = JSON.parse(chunks.join(""));
 *   console.log(report.liveSessions, report.reclaimableBytes);
 * }
 * ```
 *
 * @example Telling a usage error from a failure
 * ```ts
 * import { EXIT_USAGE, main } from "@x/buntstore/cli";
 * import assert from "node:assert/strict";
 *
 * const errors: string[] = [];
 * const code = await main(["verify"], { // FILE is missing
 *   stdout: () => {},
 *   stderr: (bytes) => errors.push(new TextDecoder().decode(bytes)),
 * });
 * assert.equal(code, EXIT_USAGE);
 * assert.match(errors[0]!, /^buntstore: missing FILE/);
 * ```
 */
export async function main(
  args: string[],
  io: Partial<CliIo> = {},
): Promise<number> {
  const out = new Output({ ...processIo(), ...io });
  const [name, ...rest] = args;
  let command = "";
  try {
    if (name === undefined) {
      out.error(mainHelp());
      return EXIT_USAGE;
    }
    if (name === "--help" || name === "-h") {
      out.line(mainHelp());
      return EXIT_OK;
    }
    if (name === "help") {
      const topic = rest[0];
      out.line(
        topic !== undefined && Object.hasOwn(COMMANDS, topic)
          ? commandHelp(topic)
          : mainHelp(),
      );
      return EXIT_OK;
    }
    if (!Object.hasOwn(COMMANDS, name)) {
      throw new UsageError(`unknown command "${name}"`, "");
    }
    command = name;
    const parsed = parseCommand(name, rest);
    if (parsed.help) {
      out.line(commandHelp(name));
      return EXIT_OK;
    }
    return await COMMANDS[name]!.run(out, parsed.positionals, parsed.values);
  } catch (error) {
    return report(out, error, command);
  }
}

/** Prints `error` as one line and picks the exit code. */
function report(out: Output, error: unknown, command: string): number {
  if (error instanceof UsageError) {
    const help = error.command === ""
      ? `run "buntstore --help" for the commands`
      : `run "buntstore ${error.command} --help" for usage`;
    out.error(`buntstore: ${error.message}: ${help}`);
    return EXIT_USAGE;
  }
  if (error instanceof CliError) {
    out.error(`buntstore: ${error.message}`);
    return error.exitCode;
  }
  if (error instanceof Deno.errors.BrokenPipe) {
    return EXIT_OK; // the reader (such as `head`) has all it wanted
  }
  if (
    error instanceof Deno.errors.NotFound ||
    error instanceof Deno.errors.PermissionDenied ||
    error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.AlreadyExists ||
    error instanceof Deno.errors.IsADirectory
  ) {
    const hint = error instanceof Deno.errors.NotCapable
      ? ": run with --allow-read --allow-write"
      : "";
    out.error(`buntstore ${command}: ${(error as Error).message}${hint}`);
    return EXIT_FAILURE;
  }
  const stack = error instanceof Error ? error.stack : String(error);
  out.error(
    `buntstore ${command}: unexpected error (please report it): ${stack}`,
  );
  return EXIT_FAILURE;
}

function processIo(): CliIo {
  return {
    stdout: (bytes) => writeAll(Deno.stdout, bytes),
    stderr: (bytes) => writeAll(Deno.stderr, bytes),
    stdin: () => Deno.stdin.readable,
    stderrIsTerminal: Deno.stderr.isTerminal(),
    now: Date.now,
  };
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
