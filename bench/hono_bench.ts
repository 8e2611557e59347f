/**
 * `deno task bench`'s Hono part (also on its own: `bench/hono_bench.ts`):
 * requests per second of the same two routes as the Deno.serve part on
 * bare Hono, on the floor (Cookie parsed + `Vary`), behind our
 * `sessionMiddleware` on BuntStore and MemoryStore, and behind the peers:
 * hono-sessions (MemoryStore without and with an `encryptionKey`,
 * CookieStore) and @hono/session (its JWE cookie, and a Map as session
 * storage). Same method as bench/http_bench.ts: every server started and
 * warmed up first, then rounds that run every target back to back (in
 * reverse order on odd rounds), under the first wrk shape only (`-t1
 * -c32`) to keep the run short; ratios are taken per round.
 *
 * Targets (issue 20): ours at least 2x the fastest configuration of each
 * peer on both routes (per round: ours over the best of that peer's
 * configurations in the same round), and at least 0.8x the Hono floor on
 * reads, 0.6x on writes.
 *
 * Usage: deno run -A --unstable-kv bench/hono_bench.ts [--quick]
 *        [--runs 3] [--only hono-bare,hono-bunt] [--out file.json]
 * (`--out` also draws the two routes' chart beside it, as `file.svg`)
 *
 * @module
 */

import { type BarKind, type Panel, renderChart } from "./_chart.ts";
import {
  fmtRate,
  machineInfo,
  parseFlags,
  summarize,
  type Summary,
} from "./_common.ts";
import {
  type HttpBenchConfig,
  httpConfig,
  type HttpResult,
  type HttpTarget,
  type Route,
  runHttpBench,
} from "./http_bench.ts";

const hono = (
  id: string,
  label: string,
  sessions: boolean,
  writes?: HttpTarget["writes"],
): HttpTarget => ({
  id,
  label,
  runtime: "deno",
  sessions,
  script: "_hono_server.ts",
  ...(writes === undefined ? {} : { writes }),
});

/** Every Hono target, in chart order. */
export const HONO_TARGETS: HttpTarget[] = [
  hono("hono-bare", "bare Hono", false),
  hono("hono-floor", "Hono + Cookie parsed + Vary (floor)", false),
  hono("hono-bunt", "ours on Hono, BuntStore", true),
  hono("hono-memory", "ours on Hono, MemoryStore", true),
  // No locking: concurrent requests of one session may overwrite each
  // other, as in express-session.
  hono("hono-sessions-memory", "hono-sessions, MemoryStore", true, "may-lose"),
  hono(
    "hono-sessions-memory-key",
    "hono-sessions, MemoryStore + encryptionKey",
    true,
    "may-lose",
  ),
  hono("hono-sessions-cookie", "hono-sessions, CookieStore", true, "cookie"),
  hono("hono-session-jwe", "@hono/session (JWE cookie)", true, "cookie"),
  hono("hono-session-map", "@hono/session + Map storage", true, "may-lose"),
];

/** The peers, each with its configurations; ours must beat the fastest. */
export const HONO_PEERS: Record<string, string[]> = {
  "hono-sessions": [
    "hono-sessions-memory",
    "hono-sessions-memory-key",
    "hono-sessions-cookie",
  ],
  "@hono/session": ["hono-session-jwe", "hono-session-map"],
};

/** Our two Hono targets. */
export const HONO_OURS = ["hono-bunt", "hono-memory"];

/** The Hono part's configuration: the HTTP part's, first shape only. */
export function honoConfig(config: HttpBenchConfig): HttpBenchConfig {
  return { ...config, shapes: config.shapes.slice(0, 1) };
}

/** Picks Hono targets by id; all when `only` is empty. */
export function pickHonoTargets(only: string[]): HttpTarget[] {
  if (only.length === 0) return HONO_TARGETS;
  return HONO_TARGETS.filter((t) => only.includes(t.id));
}

/** Runs the Hono targets; throws on a failed check. */
export function runHonoBench(
  targets: HttpTarget[],
  config: HttpBenchConfig,
  log: (line: string) => void = console.log,
): Promise<HttpResult[]> {
  return runHttpBench(targets, honoConfig(config), log);
}

/** One per-round ratio of two Hono targets, summarised. */
export interface HonoRatio {
  /** `ours-id vs peer` or `ours-id vs hono-floor`. */
  name: string;
  route: Route;
  ratio: Summary;
  required: number;
}

/**
 * The per-round ratios the targets judge: each of ours over the fastest
 * configuration of each peer in the same round, and over the floor.
 */
export function honoRatios(results: HttpResult[]): HonoRatio[] {
  const runs = (id: string, route: Route) =>
    results.find((r) => r.id === id)?.shapes[0]?.rps[route].runs;
  const out: HonoRatio[] = [];
  for (const ours of HONO_OURS) {
    for (const route of ["read", "write"] as const) {
      const mine = runs(ours, route);
      if (mine === undefined) continue;
      for (const [peer, ids] of Object.entries(HONO_PEERS)) {
        const configs = ids.map((id) => runs(id, route)).filter((r) =>
          r !== undefined
        );
        if (configs.length === 0) continue;
        const ratios = mine.map((x, i) =>
          x / Math.max(...configs.map((c) => c[i]!))
        );
        out.push({
          name: `${ours} vs ${peer}`,
          route,
          ratio: summarize(ratios),
          required: 2,
        });
      }
      const floor = runs("hono-floor", route);
      if (floor !== undefined) {
        out.push({
          name: `${ours} vs hono-floor`,
          route,
          ratio: summarize(mine.map((x, i) => x / floor[i]!)),
          required: route === "read" ? 0.8 : 0.6,
        });
      }
    }
  }
  return out;
}

/** The chart's two panels (read-only and writing route) of Hono results. */
export function honoPanels(results: HttpResult[]): Panel[] {
  const kind = (id: string): BarKind =>
    HONO_OURS.includes(id)
      ? "ours"
      : id === "hono-bare" || id === "hono-floor"
      ? "ceiling"
      : "peer";
  return (["read", "write"] as const).map((route) => ({
    title: `Hono: ${route === "read" ? "read-only" : "writing"} route`,
    unit: "req/s, median",
    bars: results.map((r) => ({
      label: r.label,
      value: r.rps[route].median,
      kind: kind(r.id),
    })),
  })).filter((p) => p.bars.length > 0);
}

/** Log lines for the ratios. */
export function describeRatios(ratios: HonoRatio[]): string[] {
  return ratios.map(({ name, route, ratio, required }) =>
    `${ratio.median >= required ? "met   " : "MISSED"} ${name} ${route}: ` +
    `${ratio.median.toFixed(2)}x [${ratio.min.toFixed(2)}-` +
    `${ratio.max.toFixed(2)}] (needs ${required}x)`
  );
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const config = honoConfig(httpConfig(flags));
  console.log(
    `Hono bench: wrk -t${config.shapes[0]!.threads} ` +
      `-c${config.shapes[0]!.connections}, ${config.runs} rounds of ` +
      `${config.seconds} s per target and route`,
  );
  const results = await runHonoBench(pickHonoTargets(flags.only), config);
  const ratios = honoRatios(results);
  for (const line of describeRatios(ratios)) console.log(line);
  if (flags.out !== undefined) {
    await Deno.writeTextFile(
      flags.out,
      JSON.stringify(
        {
          machine: await machineInfo(),
          config,
          hono: results,
          ratios,
          peak: fmtRate(Math.max(0, ...results.map((r) => r.rps.read.max))),
        },
        null,
        2,
      ) + "\n",
    );
    const m = await machineInfo();
    const svg = flags.out.replace(/\.json$/, "") + ".svg";
    await Deno.writeTextFile(
      svg,
      renderChart({
        title: "@x/buntstore on Hono beside hono-sessions and @hono/session",
        subtitle: `${m.cpu}, ${m.cores} cores; Deno ${m.deno}; ` +
          `${new Date().toISOString().slice(0, 10)}; median of ` +
          `${config.runs} rounds, wrk -t1 -c32`,
        panels: honoPanels(results),
      }),
    );
    const fmt = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--quiet", svg, flags.out],
    }).output();
    if (!fmt.success) throw new Error(`deno fmt failed on ${svg}`);
  }
}
