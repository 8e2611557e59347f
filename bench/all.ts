/**
 * `deno task bench`: the store, HTTP, Hono, scale and parallel (`deno serve
 * --parallel`) benchmarks in one run (so
 * the ratios hold on a noisy machine), written to
 * `bench/results/<date>.json` with machine info and drawn to
 * `docs/bench.svg`. With `--quick` (1/10 scale) the files are
 * `bench/results/<date>-quick.json` and `.svg`, ignored by git.
 *
 * Usage: deno run -A --unstable-kv bench/all.ts [--quick] [--runs 3]
 *        [--scale N] [--only ids] [--out results.json]
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { type Bar, type BarKind, type Panel, renderChart } from "./_chart.ts";
import {
  type BenchFlags,
  fmtRate,
  type MachineInfo,
  machineInfo,
  parseFlags,
  today,
} from "./_common.ts";
import { pickTargets, STORE_TARGETS } from "./_stores.ts";
import {
  PHASES,
  runStoreBench,
  type StoreBenchConfig,
  storeConfig,
  type StoreResult,
} from "./store_bench.ts";
import {
  HTTP_TARGETS,
  type HttpBenchConfig,
  httpConfig,
  type HttpResult,
  pickHttpTargets,
  runHttpBench,
  shapeNames,
} from "./http_bench.ts";
import {
  HONO_TARGETS,
  honoPanels,
  honoRatios,
  pickHonoTargets,
  runHonoBench,
} from "./hono_bench.ts";
import {
  CHURN_SECONDS,
  churnLabel,
  runScaleBench,
  type ScaleResult,
  scaleSizes,
} from "./scale_bench.ts";
import {
  parallelConfig,
  type ParallelResult,
  runParallelBench,
} from "./parallel_bench.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Everything one `deno task bench` run measured. */
export interface BenchReport {
  date: string;
  quick: boolean;
  seconds: number;
  machine: MachineInfo;
  config: { store: StoreBenchConfig; http: HttpBenchConfig };
  store: StoreResult[];
  http: HttpResult[];
  /** The Hono part (bench/hono_bench.ts): same routes, Hono middleware. */
  hono: HttpResult[];
  scale: ScaleResult[];
  /** Session routes under `deno serve --parallel`, beside one process. */
  parallel: ParallelResult[];
  targets: TargetCheck[];
}

/** One target of issues 3 and 5, with the measured ratio. */
export interface TargetCheck {
  target: string;
  ratio: number;
  required: number;
  met: boolean;
}

/** Runs all three parts; each part may be narrowed with `--only`. */
export async function runAll(flags: BenchFlags): Promise<BenchReport> {
  const started = performance.now();
  const machine = await machineInfo();
  const storeCfg = storeConfig(flags);
  const httpCfg = httpConfig(flags);
  const only = flags.only;
  const storeOnly = only.filter((id) => STORE_TARGETS.some((t) => t.id === id));
  const httpOnly = only.filter((id) => HTTP_TARGETS.some((t) => t.id === id));
  const honoOnly = only.filter((id) => HONO_TARGETS.some((t) => t.id === id));

  console.log(
    `## Store: ${storeCfg.sessions} sessions, ${storeCfg.runs} runs`,
  );
  const store = only.length > 0 && storeOnly.length === 0
    ? []
    : await runStoreBench(pickTargets(storeOnly), storeCfg);
  console.log(`## HTTP: wrk ${shapeNames(httpCfg)}, ${httpCfg.seconds} s`);
  const http = only.length > 0 && httpOnly.length === 0
    ? []
    : await runHttpBench(pickHttpTargets(httpOnly), httpCfg);
  console.log(`## Hono: wrk ${shapeNames(httpCfg).split(" and ")[0]}`);
  const hono = only.length > 0 && honoOnly.length === 0
    ? []
    : await runHonoBench(pickHonoTargets(honoOnly), httpCfg);
  console.log("## Scale");
  const scale = only.length > 0 && !only.includes("scale")
    ? []
    : await runScaleBench(scaleSizes(flags.divisor), flags.runs, console.log, {
      churnSeconds: CHURN_SECONDS / flags.divisor,
    });
  const parallelCfg = parallelConfig(flags);
  console.log(
    `## Parallel: deno serve --parallel, ${parallelCfg.runs} rounds of ${parallelCfg.seconds} s`,
  );
  const parallel = only.length > 0 && !only.includes("parallel")
    ? []
    : await runParallelBench(parallelCfg);
  const report: BenchReport = {
    date: new Date().toISOString(),
    quick: flags.quick,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    machine,
    config: { store: storeCfg, http: httpCfg },
    store,
    http,
    hono,
    scale,
    parallel,
    targets: [
      ...checkTargets(store, http),
      ...checkHonoTargets(hono),
      ...checkScaleTargets(scale),
    ],
  };
  for (const t of report.targets) {
    console.log(
      `${t.met ? "met   " : "MISSED"} ${t.target}: ${t.ratio.toFixed(2)}x` +
        ` (needs ${t.required}x)`,
    );
  }
  return report;
}

/** Compares the measured ratios with the targets of issues 3 and 5. */
export function checkTargets(
  store: StoreResult[],
  http: HttpResult[],
): TargetCheck[] {
  const out: TargetCheck[] = [];
  const s = (id: string) => store.find((r) => r.id === id);
  const h = (id: string) => http.find((r) => r.id === id);
  const add = (target: string, a?: number, b?: number, required = 1) => {
    if (a === undefined || b === undefined || !(b > 0)) return;
    out.push({ target, ratio: a / b, required, met: a / b >= required });
  };
  const bunt = s("bunt-everysecond");
  for (const phase of ["seqSave", "concSave"] as const) {
    add(
      `BuntStore ${phase} vs node:sqlite`,
      bunt?.rates[phase].median,
      s("sqlite")?.rates[phase].median,
      5,
    );
    add(
      `BuntStore ${phase} vs Deno KV`,
      bunt?.rates[phase].median,
      s("kv")?.rates[phase].median,
      50,
    );
  }
  add(
    "BuntStore find vs node:sqlite",
    bunt?.rates.find.median,
    s("sqlite")?.rates.find.median,
    5,
  );
  for (const phase of ["mixed", "delete"] as const) {
    for (const peer of ["sqlite", "kv"]) {
      add(
        `BuntStore ${phase} vs ${peer}`,
        bunt?.rates[phase].median,
        s(peer)?.rates[phase].median,
      );
    }
  }
  // Issue 12: beside Go buntdb, by the median of per-round ratios.
  const goRatios = bunt?.vsGo;
  if (goRatios !== undefined) {
    for (
      const [target, ratio, required] of [
        ["BuntStore seqSave vs Go buntdb", goRatios.seqSave.median, 2],
        ["BuntStore find vs Go buntdb", goRatios.find.median, 0.8],
        ["BuntStore reopen speed vs Go buntdb", goRatios.reopen.median, 1],
      ] as const
    ) {
      out.push({ target, ratio, required, met: ratio >= required });
    }
  }
  const ours = h("bunt-everysecond");
  // Issue 22: judged against the floor (what any cookie session middleware
  // pays on Deno.serve), by the median of per-round ratios: each round's
  // floor and session runs are seconds apart (see http_bench.ts).
  for (const shape of ours?.shapes ?? []) {
    for (const [route, required] of [["read", 0.9], ["write", 0.8]] as const) {
      const ratio = shape.vsFloor?.[route].median;
      if (ratio === undefined) continue;
      out.push({
        target: `HTTP ${route === "read" ? "read" : "writing"} route vs ` +
          `its floor (wrk ${shape.shape})`,
        ratio,
        required,
        met: ratio >= required,
      });
    }
  }
  for (const peer of ["express-memorystore", "express-file"]) {
    for (const route of ["read", "write"] as const) {
      add(
        `HTTP ${route} vs ${peer}`,
        ours?.rps[route].median,
        h(peer)?.rps[route].median,
      );
    }
  }
  return out;
}

/**
 * Issue 20's Hono targets, by the median of per-round ratios: ours over
 * the fastest configuration of each peer (2x) and over the Hono floor
 * (0.8x on reads, 0.6x on writes).
 */
export function checkHonoTargets(hono: HttpResult[]): TargetCheck[] {
  return honoRatios(hono).map(({ name, route, ratio, required }) => ({
    target: `Hono ${route}: ${name}`,
    ratio: ratio.median,
    required,
    met: ratio.median >= required,
  }));
}

/**
 * Issue 12's pause and compaction targets at the largest scale size, as
 * ratios that are met at 1 or more (20 ms over the pause, and so on).
 */
export function checkScaleTargets(scale: ScaleResult[]): TargetCheck[] {
  const out: TargetCheck[] = [];
  const add = (target: string, ratio: number) =>
    out.push({ target, ratio, required: 1, met: ratio >= 1 });
  const largest = scale.at(-1);
  if (largest === undefined) return out;
  const n = `${largest.sessions} sessions`;
  add(
    `Longest pause of shrink() <= 20 ms, ${n} (20 ms / max)`,
    20 / largest.shrinkMaxPauseMs.max,
  );
  for (const c of largest.churn ?? []) {
    const rate = churnLabel(c.rate);
    // A flood's pauses are its own (it starves timers without a store).
    if (c.rate >= 0) {
      add(
        `Longest pause in churn <= 20 ms, ${rate}, ${n} (20 ms / max)`,
        20 / c.maxPauseMs.max,
      );
    }
    add(
      `Auto-compactions under churn finish, ${rate} (1 if all did)`,
      c.unfinished === 0 && c.compactionMs !== undefined ? 1 : 0,
    );
    add(
      `File after auto-compaction <= 2x live, ${rate} (2 / max ratio)`,
      c.compactedToLive === undefined ? 0 : 2 / c.compactedToLive.max,
    );
  }
  return out;
}

/** Builds the chart's panels from a report. */
export function chartPanels(report: BenchReport): Panel[] {
  const storeKind = (id: string): BarKind =>
    id.startsWith("bunt-") ? "ours" : id === "map" ? "ceiling" : "peer";
  const httpKind = (id: string): BarKind =>
    id.startsWith("bunt-")
      ? "ours"
      : id === "bare" || id === "floor" || id === "map"
      ? "ceiling"
      : "peer";
  const titles: Record<typeof PHASES[number], string> = {
    seqSave: "Sequential save",
    concSave: "64 concurrent saves",
    find: "Find",
    mixed: "90% find / 10% save",
    delete: "Delete",
  };
  const panels: Panel[] = PHASES.map((phase) => ({
    title: `Store: ${titles[phase]}`,
    unit: "ops/s, median",
    bars: report.store.map((r): Bar => ({
      label: r.label,
      value: r.rates[phase].median,
      kind: storeKind(r.id),
    })),
  }));
  for (const route of ["read", "write"] as const) {
    panels.push({
      title: `HTTP: ${route === "read" ? "read-only" : "writing"} route`,
      unit: "req/s, median",
      bars: report.http.map((r): Bar => ({
        label: r.label,
        value: r.rps[route].median,
        kind: httpKind(r.id),
      })),
    });
  }
  panels.push(...honoPanels(report.hono ?? []));
  return panels.filter((p) => p.bars.length > 0);
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const report = await runAll(flags);
  const name = `${today()}${flags.quick ? "-quick" : ""}`;
  const json = flags.out ?? `${ROOT}bench/results/${name}.json`;
  const svg = flags.out !== undefined
    ? flags.out.replace(/\.json$/, "") + ".svg"
    : flags.quick
    ? `${ROOT}bench/results/${name}.svg`
    : `${ROOT}docs/bench.svg`;
  await Deno.mkdir(`${ROOT}bench/results`, { recursive: true });
  await Deno.writeTextFile(json, JSON.stringify(report, null, 2) + "\n");
  const m = report.machine;
  await Deno.writeTextFile(
    svg,
    renderChart({
      title: "@x/buntstore: BuntStore beside the stores people pick instead",
      subtitle: `${m.cpu}, ${m.cores} cores; Deno ${m.deno}, Node ${m.node};` +
        ` ${report.date.slice(0, 10)}` +
        `${report.quick ? " (--quick, 1/10 scale)" : ""}; ` +
        `median of ${flags.runs} runs`,
      panels: chartPanels(report),
    }),
  );
  // deno fmt also checks SVG: keep the committed chart fmt-clean.
  const fmt = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", svg, json],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!fmt.success) throw new Error(`deno fmt failed on ${svg}`);
  console.log(
    `Wrote ${json} and ${svg} in ${report.seconds} s` +
      ` (store ${report.store.length}, http ${report.http.length},` +
      ` hono ${report.hono.length},` +
      ` scale ${report.scale.length}, parallel ${report.parallel.length});` +
      ` peak ${
        fmtRate(Math.max(0, ...report.http.map((r) => r.rps.read.max)))
      } req/s`,
  );
}
