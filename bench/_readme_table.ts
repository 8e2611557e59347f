/**
 * Prints the benchmark tables of bench/README.md (Markdown) from a results
 * file.
 *
 * Usage: deno run --allow-read bench/_readme_table.ts bench/results/<date>.json
 *
 * @module
 */

import type { BenchReport } from "./all.ts";
import { PHASES } from "./store_bench.ts";
import type { Summary } from "./_common.ts";

/** Formats `median (min–max)` with k/M suffixes. */
export function cell(s: Summary): string {
  return `${short(s.median)} (${short(s.min)}–${short(s.max)})`;
}

function short(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(0)}k`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

/** The tables for one report. */
export function tables(report: BenchReport): string {
  const lines: string[] = [];
  lines.push(
    "| Store (ops/s) | " +
      "seq. save | 64 conc. saves | find | 90/10 mix | delete | reopen |",
    "|---|---|---|---|---|---|---|",
  );
  for (const r of report.store) {
    const reopen = r.reopen
      ? `${r.reopen.ms.median.toFixed(0)} ms (${short(r.reopen.sessions)})`
      : "n/a";
    lines.push(
      `| ${r.label} | ${PHASES.map((p) => cell(r.rates[p])).join(" | ")} | ` +
        `${reopen} |`,
    );
  }
  for (const [i, shape] of (report.http[0]?.shapes ?? []).entries()) {
    lines.push(
      "",
      `| HTTP, wrk ${shape.shape} | read req/s | read / bare | read p99 | ` +
        "write req/s | write / bare | write p99 |",
      "|---|---|---|---|---|---|---|",
    );
    for (const r of report.http) {
      const s = r.shapes[i]!;
      const vs = (route: "read" | "write") => {
        const v = s.vsBare?.[route];
        return v === undefined
          ? ""
          : `${v.median.toFixed(2)} (${v.min.toFixed(2)}–${v.max.toFixed(2)})`;
      };
      lines.push(
        `| ${r.label} | ${cell(s.rps.read)} | ${vs("read")} | ` +
          `${s.p99Ms.read.toFixed(2)} ms | ${cell(s.rps.write)} | ` +
          `${vs("write")} | ${s.p99Ms.write.toFixed(2)} ms |`,
      );
    }
  }
  lines.push(
    "",
    "| BuntStore sessions | log size | reopen | heap + external per session " +
      "| shrink | longest event-loop pause in shrink |",
    "|---|---|---|---|---|---|",
  );
  for (const s of report.scale) {
    lines.push(
      `| ${short(s.sessions)} | ${(s.fileBytes / 2 ** 20).toFixed(0)} MiB | ` +
        `${s.reopenMs.median.toFixed(0)} ms ` +
        `(${s.reopenMs.min.toFixed(0)}–${s.reopenMs.max.toFixed(0)}) | ` +
        `${s.heapBytesPerSession.median.toFixed(0)} B | ` +
        `${s.shrinkMs.median.toFixed(0)} ms | ` +
        `${s.shrinkMaxPauseMs.median.toFixed(0)} ms ` +
        `(${s.shrinkMaxPauseMs.min.toFixed(0)}–` +
        `${s.shrinkMaxPauseMs.max.toFixed(0)}) |`,
    );
  }
  const ratio = (v: Summary | undefined) =>
    v === undefined
      ? ""
      : `${v.median.toFixed(2)} (${v.min.toFixed(2)}–${v.max.toFixed(2)})`;
  if ((report.parallel ?? []).length > 0) {
    lines.push(
      "",
      "| Session routes, wrk -t1 -c32 | read req/s | read / BuntStore | " +
        "read / 1 worker | write req/s | write / BuntStore | write / 1 worker |",
      "|---|---|---|---|---|---|---|",
    );
  }
  for (const r of report.parallel ?? []) {
    lines.push(
      `| ${r.label} | ${cell(r.rps.read)} | ${ratio(r.vsBuntRun.read)} | ` +
        `${ratio(r.vsOneWorker?.read)} | ${cell(r.rps.write)} | ` +
        `${ratio(r.vsBuntRun.write)} | ${ratio(r.vsOneWorker?.write)} |`,
    );
  }
  lines.push("", "| Target | measured | needed | |", "|---|---|---|---|");
  for (const t of report.targets) {
    lines.push(
      `| ${t.target} | ${t.ratio.toFixed(2)}x | ${t.required}x | ` +
        `${t.met ? "met" : "**missed**"} |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const path = Deno.args[0];
  if (path === undefined) throw new TypeError("Give a results JSON path");
  console.log(tables(JSON.parse(await Deno.readTextFile(path))));
}
