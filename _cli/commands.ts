/**
 * The command table: each command's usage, help text, flags (parsed with
 * `node:util`'s `parseArgs`) and the function that runs it.
 *
 * @module
 */

import { writeAll } from "../aof.ts";
import { parseArgs } from "node:util";
import { CliError, EXIT_FAILURE, type Output, UsageError } from "./output.ts";
import {
  dumpCommand,
  getCommand,
  statsCommand,
  verifyCommand,
} from "./read.ts";
import { repairCommand } from "./repair.ts";
import { delCommand, loadCommand, shrinkCommand } from "./write.ts";
import { benchCommand } from "./bench.ts";
import { TokenHasher } from "../_session/token.ts";
import { SessionCipher } from "../_session/encryption.ts";

type Flag = { type: "boolean" | "string"; short?: string; arg?: string };
type Values = Record<string, string | boolean | undefined>;

/** One command of the CLI. */
export interface Command {
  /** One line for the command list. */
  summary: string;
  /** Positional arguments, for the usage line. */
  args: string[];
  /** The help text after the usage line. */
  help: string;
  /** Flags beyond --help, --json and --quiet. */
  flags: Record<string, Flag>;
  /** Runs it with checked positionals; returns the exit code. */
  run: (out: Output, args: string[], values: Values) => Promise<number>;
}

const HASHED_HELP = `
  --hashed  TOKEN is the raw cookie value; look up the key the session
            middleware stores when hashTokenInStore is on (unpadded
            base64url SHA-256 of the token)`;

/** Every command, by name. */
export const COMMANDS: Record<string, Command> = {
  stats: {
    summary: "live and expired sessions, sizes, reclaimable bytes, expiries",
    args: ["FILE"],
    help: `Reads the whole log without changing it (safe on a live file) and
reports live sessions, expired sessions still in the file, records, file
bytes, bytes a compaction would reclaim, the oldest and newest expiry and a
histogram of time left.`,
    flags: {},
    run: (out, [path], values) => statsCommand(out, path!, flags(values)),
  },
  get: {
    summary: "show one session (UTF-8 text, else base64)",
    args: ["FILE", "TOKEN"],
    help: `Shows one session's expiry and value without changing the file. The
value is printed as UTF-8 when it is valid text, else as base64. Exit 1 when
the session is missing or expired.
${HASHED_HELP}`,
    flags: { hashed: { type: "boolean" } },
    run: (out, [path, token], values) =>
      getCommand(out, path!, keyOf(token!, values), token!, flags(values)),
  },
  del: {
    summary: "delete one session (takes the store's lock)",
    args: ["FILE", "TOKEN"],
    help: `Deletes one session, appending a "del" record with an fsync. Refuses
while another process holds the store open. Exit 1 when there is no such
session.
${HASHED_HELP}`,
    flags: { hashed: { type: "boolean" } },
    run: (out, [path, token], values) =>
      delCommand(out, path!, keyOf(token!, values), token!, flags(values)),
  },
  verify: {
    summary: "check every record; exit 1 with the offset of damage",
    args: ["FILE"],
    help: `Reads the whole log without changing it. Exit 0 when every record is
sound, 1 with the byte offset and a description of the first damaged record
(and a list of every damaged range). An incomplete last record is reported
as a write in progress, not as damage.`,
    flags: {},
    run: (out, [path], values) => verifyCommand(out, path!, flags(values)),
  },
  repair: {
    summary: "back up, then cut at (or --skip) damaged records",
    args: ["FILE"],
    help: `Takes the store's lock, copies FILE to FILE.bak (or FILE.bak.1, ...),
then cuts the log at its first damaged record, dropping everything after
it, or with --skip drops only the damaged ranges and keeps the records
that follow. Reports exactly what was dropped. Does nothing (and writes no
backup) when the log is sound.

  --skip    drop only the damaged records; keep what follows them`,
    flags: { skip: { type: "boolean" } },
    run: (out, [path], values) =>
      repairCommand(out, path!, { ...flags(values), skip: !!values.skip }),
  },
  shrink: {
    summary: "compact the log offline (takes the store's lock)",
    args: ["FILE"],
    help: `Rewrites the log as one record per live session with the engine's
compactor (temp file, fsync, atomic rename). Refuses while another process
holds the store open.`,
    flags: {},
    run: (out, [path], values) => shrinkCommand(out, path!, flags(values)),
  },
  dump: {
    summary: "export live sessions as JSON Lines",
    args: ["FILE"],
    help: `Writes one JSON object per live session, in log order:
  {"token":"...","expires":1767225600000,"value":"<base64>"}
"expires" is Unix milliseconds (null for no expiry; the log keeps whole
seconds). The output is JSON already, so --json changes nothing; the count
goes to stderr unless --quiet. Reads the log without changing it; memory
grows with the number of sessions, not their size. Tokens are secrets: keep
the output private.

  --out PATH       write to PATH (created with mode 0600) instead of stdout
  --key-file PATH  sessions saved with the middleware's "encryption" option:
                   PATH holds its keys, one base64 key a line; each session
                   one of them decrypts gets "decrypted": its plaintext (UTF-8
                   text, else base64) beside the unchanged "value", so the
                   output still loads. A file, not an argument, so the key
                   stays out of shell history and the process list`,
    flags: {
      out: { type: "string", short: "o", arg: "PATH" },
      "key-file": { type: "string", arg: "PATH" },
    },
    run: async (out, [path], values) => {
      const cipher = await readKeyFile(values["key-file"]);
      return typeof values.out === "string"
        ? await dumpToFile(out, path!, values.out, values, cipher)
        : await dumpCommand(
          out,
          path!,
          flags(values),
          out.io.stdout,
          cipher,
        );
    },
  },
  load: {
    summary: "import JSON Lines from dump (takes the store's lock)",
    args: ["FILE"],
    help:
      `Appends the sessions of a dump to FILE (created if missing), replacing
sessions with the same token. All or nothing: on a bad line the file is cut
back to its size before the load. Expired entries are skipped.

  --in PATH   read PATH instead of stdin`,
    flags: { in: { type: "string", short: "i", arg: "PATH" } },
    run: async (out, [path], values) => {
      if (typeof values.in !== "string") {
        return loadCommand(out, path!, out.io.stdin(), flags(values));
      }
      const input = await Deno.open(values.in, { read: true });
      const { size } = await input.stat();
      return loadCommand(out, path!, input.readable, flags(values), size);
    },
  },
  bench: {
    summary: "measure the session workload on this disk",
    args: [],
    help: `Saves N sessions of 256 bytes (64 at a time) with each sync policy,
finds them, and reopens the log, in a temporary directory that is removed
afterwards. Reports operations per second.

  --dir DIR     where to put the temporary logs (default: .)
  -n, --count N sessions per sync policy (default: 10000)`,
    flags: {
      dir: { type: "string", arg: "DIR" },
      count: { type: "string", short: "n", arg: "N" },
    },
    run: (out, _args, values) => {
      const count = Number(values.count ?? 10_000);
      if (!Number.isSafeInteger(count) || count < 1) {
        throw new UsageError(
          `--count must be a positive integer, got "${values.count}"`,
          "bench",
        );
      }
      return benchCommand(out, {
        ...flags(values),
        dir: typeof values.dir === "string" ? values.dir : ".",
        count,
      });
    },
  },
};

/** Parses `args` for `name`, or throws {@linkcode UsageError}. */
export function parseCommand(
  name: string,
  args: string[],
): { help: boolean; positionals: string[]; values: Values } {
  const command = COMMANDS[name]!;
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: "boolean", short: "h" },
        json: { type: "boolean" },
        quiet: { type: "boolean", short: "q" },
        ...parseOptions(command.flags),
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message, name);
  }
  const values = parsed.values as Values;
  const positionals = parsed.positionals;
  if (values.help) return { help: true, positionals, values };
  if (positionals.length !== command.args.length) {
    throw new UsageError(
      positionals.length < command.args.length
        ? `missing ${command.args.slice(positionals.length).join(" ")}`
        : `unexpected argument "${positionals[command.args.length]}"`,
      name,
    );
  }
  return { help: false, positionals, values };
}

/** The usage line of `name`. */
export function usage(name: string): string {
  const command = COMMANDS[name]!;
  const flagNames = Object.entries(command.flags).map(([flag, { arg }]) =>
    arg === undefined ? `[--${flag}]` : `[--${flag} ${arg}]`
  );
  return [
    "buntstore",
    name,
    "[--json] [--quiet]",
    ...flagNames,
    ...command.args,
  ]
    .join(" ");
}

/** The full help of `name`. */
export function commandHelp(name: string): string {
  return `Usage: ${usage(name)}\n\n${COMMANDS[name]!.help}

  --json    print a machine-readable report on stdout
  --quiet   no progress bar and no notes on stderr
  --help    show this help

Exit codes: 0 done, 1 failed (damage, missing, locked), 2 usage error.`;
}

/** The top-level help. */
export function mainHelp(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const list = Object.entries(COMMANDS).map(([name, command]) =>
    `  ${name.padEnd(width)}  ${command.summary}`
  );
  return `Usage: buntstore COMMAND [options] ...

Inspect, verify, repair, compact, export and import a buntstore session log
(buntdb's file format).

Commands:
${list.join("\n")}

Run "buntstore COMMAND --help" for a command's options. Read-only commands
(stats, get, verify, dump) never change the file and work while a server
has it open; del, repair, shrink and load take the store's lock.`;
}

/** The flags as `parseArgs` takes them, without our `arg` names. */
function parseOptions(
  flags: Record<string, Flag>,
): Record<string, { type: "boolean" | "string"; short?: string }> {
  const options: Record<
    string,
    { type: "boolean" | "string"; short?: string }
  > = {};
  for (const [name, { type, short }] of Object.entries(flags)) {
    options[name] = short === undefined ? { type } : { type, short };
  }
  return options;
}

function flags(values: Values): { json: boolean; quiet: boolean } {
  return { json: !!values.json, quiet: !!values.quiet };
}

/** The store key for `token`: itself, or its hash with `--hashed`. */
export function keyOf(token: string, values: Values): string {
  // The middleware's own hasher, so the two can never disagree.
  return new TokenHasher(!!values.hashed, 1).keyOf(token);
}

async function dumpToFile(
  out: Output,
  path: string,
  target: string,
  values: Values,
  cipher: SessionCipher | undefined,
): Promise<number> {
  using file = await Deno.open(target, {
    write: true,
    create: true,
    truncate: true,
    mode: 0o600,
  });
  return await dumpCommand(
    out,
    path,
    flags(values),
    (bytes) => writeAll(file, bytes),
    cipher,
  );
}

/** The keys of `dump --key-file`, one base64 key a line; none without it. */
async function readKeyFile(
  path: string | boolean | undefined,
): Promise<SessionCipher | undefined> {
  if (typeof path !== "string") return undefined;
  let text;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    throw new CliError(`Cannot read key file "${path}": not found`);
  }
  const keys = text.split("\n").map((line) => line.trim()).filter(Boolean);
  if (keys.length === 0) {
    throw new CliError(
      `Cannot use key file "${path}": it holds no key (one base64 key a line)`,
    );
  }
  try {
    return new SessionCipher({ keys });
  } catch (error) {
    if (!(error instanceof TypeError || error instanceof RangeError)) {
      throw error;
    }
    // The message names the key by its line among the keys.
    throw new CliError(
      `Cannot use key file "${path}": ${
        (error as Error).message.replace(
          "Cannot create session manager: ",
          "",
        )
      }`,
      EXIT_FAILURE,
      { cause: error },
    );
  }
}
