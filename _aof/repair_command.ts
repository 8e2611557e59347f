/**
 * The one place that spells the repair command the error messages of the
 * store and the CLI recommend.
 *
 * @module
 */

/**
 * The CLI command that repairs the log at `path` and keeps every intact
 * record (`--skip` drops only the damaged ranges; without it, repair cuts
 * the log at the first damage and loses what follows), in a form that runs
 * wherever Deno does.
 *
 * @param path The damaged log.
 * @returns The command line.
 */
export function repairCommand(path: string): string {
  return `deno run --allow-read --allow-write jsr:@x/buntstore/cli repair --skip "${path}"`;
}
