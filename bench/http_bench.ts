/**
 * `deno task bench:http`: requests per second, and the server's CPU time
 * per request, of a bare `Deno.serve` handler, the floor (the least any
 * cookie session middleware does: see bench/_http_server.ts), the same
 * handler behind `SessionManager` on each store, and express +
 * express-session on Node with session-file-store and with memorystore, on
 * a read-only route and a writing route.
 *
 * Each server runs in its own process; `wrk` (a separate process) drives it
 * over keep-alive connections, cycling through the cookies of sessions
 * created beforehand. Every server is started and warmed up first; then
 * each round runs every target back to back for each wrk shape
 * (`-t1 -c32`, `-t2 -c50`) and route, in list order on even rounds and
 * reversed on odd ones, so a ratio to the bare handler is taken from runs
 * seconds apart, never across a lucky and an unlucky stretch of a noisy
 * machine. Reported per shape and route: req/s and the ratios to bare
 * and to the floor of each round (median, min and max), the server's CPU
 * µs per request, and wrk's p99 latency (median of the rounds). Checks:
 * no non-2xx answers and no socket errors; the read route returns the
 * stored counter; the counters summed over all sessions grew by at least
 * the number of write requests wrk completed (at most one extra per connection and run, for requests
 * cut off when a run ends), so a server that drops writes cannot look fast.
 *
 * Usage: deno run -A --unstable-kv bench/http_bench.ts [--quick] [--runs 3]
 *        [--only bare,bunt-everysecond] [--out file.json] [--before dir]
 *
 * @module
 */

import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type BenchFlags,
  check,
  fmtRate,
  machineInfo,
  parseFlags,
  summarize,
  type Summary,
} from "./_common.ts";

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const EXPRESS_DIR = `${BENCH_DIR}node_express`;

/** A server under load. */
export interface HttpTarget {
  id: string;
  label: string;
  /** `deno` runs bench/_http_server.ts; `node` runs the express app. */
  runtime: "deno" | "node";
  /** Whether the routes really use a session (false for bare). */
  sessions: boolean;
  /**
   * The target this one is compared with round by round (`vsBaseline`):
   * the same server with the session data encrypted.
   */
  baseline?: string;
  /**
   * The Deno server script: a file in bench/ or an absolute path;
   * `_http_server.ts` when unset.
   */
  script?: string;
  /** The target id the server script runs; `id` when unset. */
  serves?: string;
  /**
   * How the write check treats it: `"kept"` (the default on Deno) must
   * keep every write; `"may-lose"` (the default on Node) may lose writes
   * to concurrent requests of one session, which are reported; `"cookie"`
   * keeps the data in the cookie, which wrk does not send back, so writes
   * cannot be counted.
   */
  writes?: "kept" | "may-lose" | "cookie";
}

/** Every HTTP target, in chart order. */
export const HTTP_TARGETS: HttpTarget[] = [
  { id: "bare", label: "bare Deno.serve", runtime: "deno", sessions: false },
  {
    // The least any cookie session middleware does on Deno.serve: what
    // stays out of reach of the ratio to bare, measured in the same rounds.
    id: "floor",
    label: "floor: Cookie + Vary; writes + Set-Cookie, JSON, log",
    runtime: "deno",
    sessions: false,
  },
  {
    id: "bunt-everysecond",
    label: "BuntStore (everysecond)",
    runtime: "deno",
    sessions: true,
  },
  { id: "sqlite", label: "node:sqlite", runtime: "deno", sessions: true },
  { id: "kv", label: "Deno KV", runtime: "deno", sessions: true },
  { id: "map", label: "Map (ceiling)", runtime: "deno", sessions: true },
  {
    // The `encryption` option (issue 23), against the same store unencrypted.
    id: "bunt-everysecond-encrypted",
    label: "BuntStore (everysecond), encrypted",
    runtime: "deno",
    sessions: true,
    baseline: "bunt-everysecond",
  },
  {
    id: "map-encrypted",
    label: "Map (ceiling), encrypted",
    runtime: "deno",
    sessions: true,
    baseline: "map",
  },
  {
    id: "express-memorystore",
    label: "express-session + memorystore (Node)",
    runtime: "node",
    sessions: true,
  },
  {
    id: "express-file",
    label: "express-session + session-file-store (Node)",
    runtime: "node",
    sessions: true,
  },
];

/** The two routes. */
export type Route = "read" | "write";

/** A wrk load shape: threads and keep-alive connections. */
export interface WrkShape {
  threads: number;
  connections: number;
}

/** One target's results under one wrk shape. */
export interface ShapeResult {
  /** `-t<threads> -c<connections>`. */
  shape: string;
  /** Requests per second per route, over the rounds. */
  rps: Record<Route, Summary>;
  /** Each round's req/s divided by bare's in the same round; bare omits it. */
  vsBare?: Record<Route, Summary>;
  /**
   * Each round's req/s divided by the floor's in the same round (session
   * targets, when the floor is run too): what the middleware keeps of what
   * any cookie session middleware can reach.
   */
  vsFloor?: Record<Route, Summary>;
  /** Each round's req/s divided by the baseline target's, when run too. */
  vsBaseline?: Record<Route, Summary>;
  /** wrk's 99th percentile latency in ms per route, median of the rounds. */
  p99Ms: Record<Route, number>;
  /**
   * The server process's CPU time (user + system, every thread) per
   * request in µs, per route, over the rounds: unlike req/s, it does not
   * depend on how much of the two cores wrk and the machine left over.
   */
  cpuUs: Record<Route, Summary>;
}

/** Results of one target. */
export interface HttpResult {
  id: string;
  label: string;
  /** The id of the target `vsBaseline` divides by, when there is one. */
  baseline?: string;
  /** Requests per second per route under the first shape (the chart's). */
  rps: Record<Route, Summary>;
  /** Mean latency in ms per route under the first shape (median run). */
  latencyMs: Record<Route, number>;
  /** Every shape's results, in config order. */
  shapes: ShapeResult[];
  /** Write requests wrk completed in the measured runs. */
  writeRequests: number;
  /**
   * BuntStore only: write requests completed per write(2) to the log over
   * the measured runs (requests handled in one event-loop turn share one).
   */
  writeRequestsPerLogWrite?: number;
  /**
   * express-session only: completed write requests whose update another
   * request of the same session overwrote (see `checkCounters`).
   */
  lostWrites?: number;
}

/** Durations and load of one HTTP bench. */
export interface HttpBenchConfig {
  /** Rounds; each runs every target under every shape and route once. */
  runs: number;
  /** Seconds per measured wrk run (wrk's minimum is 1). */
  seconds: number;
  /** Seconds of discarded warm-up per route. */
  warmupSeconds: number;
  /** Warm up the read route too (the write route always). */
  warmupRead: boolean;
  /** The wrk shapes; the first one is the chart's. */
  shapes: WrkShape[];
  /** Sessions created before the runs; wrk cycles through their cookies. */
  cookies: number;
}

/** The two shapes issue 13 measures: the README's and a busier one. */
export const WRK_SHAPES: WrkShape[] = [
  { threads: 1, connections: 32 },
  { threads: 2, connections: 50 },
];

/** The configuration for the given flags. */
export function httpConfig(flags: BenchFlags): HttpBenchConfig {
  return flags.quick
    ? {
      runs: flags.runs,
      seconds: 1,
      warmupSeconds: 1,
      warmupRead: false,
      shapes: WRK_SHAPES.slice(0, 1),
      cookies: 128,
    }
    : {
      runs: flags.runs,
      seconds: 5,
      warmupSeconds: 2,
      warmupRead: true,
      shapes: WRK_SHAPES,
      cookies: 1000,
    };
}

/**
 * Adds, for each Deno session target, the same target run from `checkout`
 * (another working tree, such as the code before a change, with this
 * tree's bench/_http_server.ts and bench/_stores.ts copied in), id
 * `<id>@before`, compared round by round with this tree's (`vsBaseline`).
 */
export function withBefore(
  targets: HttpTarget[],
  checkout: string,
): HttpTarget[] {
  const before = targets.filter((t) =>
    t.sessions && t.runtime === "deno" && t.baseline === undefined
  ).map((t): HttpTarget => ({
    ...t,
    id: `${t.id}@before`,
    label: `${t.label}, before`,
    script: `${checkout.replace(/\/$/, "")}/bench/_http_server.ts`,
    serves: t.id,
    baseline: t.id,
  }));
  return [...targets, ...before];
}

/** Picks targets by id; all when `only` is empty. */
export function pickHttpTargets(only: string[]): HttpTarget[] {
  if (only.length === 0) return HTTP_TARGETS;
  const picked = HTTP_TARGETS.filter((t) => only.includes(t.id));
  if (picked.length === 0) {
    throw new RangeError(`No HTTP target matches --only ${only.join(",")}`);
  }
  return picked;
}

/** Installs the express app's dependencies with `npm ci` when missing. */
export async function ensureExpressDeps(): Promise<void> {
  try {
    await Deno.stat(`${EXPRESS_DIR}/node_modules/express-session`);
    return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  console.log("Installing bench/node_express dependencies (npm ci)...");
  const { code } = await new Deno.Command("npm", {
    args: ["ci", "--no-audit", "--no-fund", "--loglevel=error"],
    cwd: EXPRESS_DIR,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  check(code === 0, `npm ci in ${EXPRESS_DIR} failed with exit code ${code}`);
}

/** Runs every target; throws on a failed check. */
export async function runHttpBench(
  targets: HttpTarget[],
  config: HttpBenchConfig,
  log: (line: string) => void = console.log,
): Promise<HttpResult[]> {
  if (targets.some((t) => t.runtime === "node")) await ensureExpressDeps();
  const dir = await Deno.makeTempDir({ prefix: "buntstore-http-" });
  const loaded: Loaded[] = [];
  try {
    for (const target of targets) {
      loaded.push(await startTarget(target, `${dir}/${target.id}`, config));
    }
    for (let round = 0; round < config.runs; round++) {
      const order = round % 2 === 0 ? loaded : [...loaded].reverse();
      for (const [s, shape] of config.shapes.entries()) {
        for (const route of ["read", "write"] as const) {
          for (const t of order) {
            const cpuBefore = await cpuMicros(t.server.pid);
            const run = await runWrk(
              t.base,
              route,
              config.seconds,
              shape,
              t.cookies,
            );
            const cpu = (await cpuMicros(t.server.pid)) - cpuBefore;
            t.runs[s]![route].push({ ...run, cpuUs: cpu / run.requests });
          }
        }
      }
    }
    const results = [];
    for (const t of loaded) {
      const logWritesAfter = await logWrites(t.base);
      const lostWrites = await checkCounters(t, config);
      const baseline = loaded.find((b) => b.target.id === t.target.baseline);
      const floor = t.target.sessions
        ? loaded.find((f) => f.target.id === "floor")
        : undefined;
      const result = resultOf(t, loaded[0]!, config, { baseline, floor });
      if (lostWrites > 0) result.lostWrites = lostWrites;
      if (logWritesAfter !== undefined && t.logWritesBefore !== undefined) {
        result.writeRequestsPerLogWrite = result.writeRequests /
          (logWritesAfter - t.logWritesBefore);
      }
      results.push(result);
    }
    for (const r of results) log(describe(r));
    return results;
  } finally {
    for (const t of loaded) await t.server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A started, warmed-up server and the runs measured on it. */
interface Loaded {
  target: HttpTarget;
  server: Server;
  base: string;
  cookies: string[];
  /** The session counters' sum after the warm-up. */
  countersBefore: number;
  /** BuntStore only: write(2) calls to the log after the warm-up. */
  logWritesBefore: number | undefined;
  /** Per shape, per route, one wrk result per round. */
  runs: Record<Route, MeasuredRun[]>[];
}

async function startTarget(
  target: HttpTarget,
  dir: string,
  config: HttpBenchConfig,
): Promise<Loaded> {
  await Deno.mkdir(dir);
  const server = await startServer(target, dir);
  const base = `http://127.0.0.1:${server.port}`;
  const cookies = target.sessions
    ? await createSessions(base, config.cookies)
    : Array.from(
      { length: config.cookies },
      (_, i) => `session=${String(i).padStart(43, "x")}`,
    );
  const shape = config.shapes[0]!;
  await runWrk(base, "write", config.warmupSeconds, shape, cookies);
  if (config.warmupRead) {
    await runWrk(base, "read", config.warmupSeconds, shape, cookies);
  }
  return {
    target,
    server,
    base,
    cookies,
    countersBefore: target.sessions ? await sumCounters(base, cookies) : 0,
    logWritesBefore: await logWrites(base),
    runs: config.shapes.map(() => ({ read: [], write: [] })),
  };
}

/**
 * Checks that no write was lost or invented (session targets only), and
 * returns the writes lost. Only express-session may lose some: without
 * locking, two requests of one session in flight at once overwrite each
 * other (expressjs/session#606), which the bench reports, not hides; any
 * other target fails.
 */
async function checkCounters(
  t: Loaded,
  config: HttpBenchConfig,
): Promise<number> {
  const mode = t.target.writes ??
    (t.target.runtime === "node" ? "may-lose" : "kept");
  if (!t.target.sessions || mode === "cookie") return 0;
  const writes = t.runs.flatMap((r) => r.write);
  const completed = writes.reduce((sum, w) => sum + w.requests, 0);
  const grown = (await sumCounters(t.base, t.cookies)) - t.countersBefore;
  // A run that ends cuts off the requests in flight: the server may have
  // done them, wrk does not count them. Up to one per connection, and on a
  // loaded machine one more that wrk had written but not yet timed.
  const slack = 2 * config.runs *
    config.shapes.reduce((sum, s) => sum + s.connections, 0);
  check(
    (grown >= completed || mode === "may-lose") &&
      grown <= completed + slack,
    `${t.target.id}: session counters grew by ${grown} over ` +
      `${completed} completed write requests (lost or invented writes)`,
  );
  return Math.max(0, completed - grown);
}

function resultOf(
  t: Loaded,
  bare: Loaded,
  config: HttpBenchConfig,
  { baseline, floor }: {
    baseline: Loaded | undefined;
    floor: Loaded | undefined;
  },
): HttpResult {
  const shapes = config.shapes.map((shape, s): ShapeResult => {
    const runs = t.runs[s]!;
    const ratio = (route: Route, to = bare) =>
      summarize(
        runs[route].map((w, i) => w.rps / to.runs[s]![route][i]!.rps),
      );
    return {
      shape: `-t${shape.threads} -c${shape.connections}`,
      rps: {
        read: summarize(runs.read.map((w) => w.rps)),
        write: summarize(runs.write.map((w) => w.rps)),
      },
      // Ratios to the first target when it is a bare server ("bare",
      // "hono-bare").
      ...(t === bare || !bare.target.id.endsWith("bare")
        ? {}
        : { vsBare: { read: ratio("read"), write: ratio("write") } }),
      ...(floor === undefined ? {} : {
        vsFloor: { read: ratio("read", floor), write: ratio("write", floor) },
      }),
      ...(baseline === undefined ? {} : {
        vsBaseline: {
          read: ratio("read", baseline),
          write: ratio("write", baseline),
        },
      }),
      p99Ms: {
        read: summarize(runs.read.map((w) => w.p99Ms)).median,
        write: summarize(runs.write.map((w) => w.p99Ms)).median,
      },
      cpuUs: {
        read: summarize(runs.read.map((w) => w.cpuUs)),
        write: summarize(runs.write.map((w) => w.cpuUs)),
      },
    };
  });
  const first = t.runs[0]!;
  return {
    id: t.target.id,
    label: t.target.label,
    ...(baseline === undefined ? {} : { baseline: baseline.target.id }),
    rps: shapes[0]!.rps,
    latencyMs: {
      read: medianBy(first.read).latencyMs,
      write: medianBy(first.write).latencyMs,
    },
    shapes,
    writeRequests: t.runs.flatMap((r) => r.write).reduce(
      (sum, w) => sum + w.requests,
      0,
    ),
  };
}

function describe(r: HttpResult): string {
  return `${r.label}\n` + r.shapes.map((s) => {
    const route = (name: Route) => {
      const vs = s.vsBare?.[name];
      const vsBase = s.vsBaseline?.[name];
      const vsFloor = s.vsFloor?.[name];
      return `${name} ${fmtRate(s.rps[name].median)}/s` +
        ` [${fmtRate(s.rps[name].min)}-${fmtRate(s.rps[name].max)}]` +
        (vs
          ? ` ${vs.median.toFixed(2)}x bare [${vs.min.toFixed(2)}-${
            vs.max.toFixed(2)
          }]`
          : "") +
        (vsFloor
          ? ` ${vsFloor.median.toFixed(2)}x floor [${vsFloor.min.toFixed(2)}-${
            vsFloor.max.toFixed(2)
          }]`
          : "") +
        (vsBase
          ? ` ${vsBase.median.toFixed(3)}x ${r.baseline} [${
            vsBase.min.toFixed(3)
          }-${vsBase.max.toFixed(3)}]`
          : "") +
        ` p99 ${s.p99Ms[name].toFixed(2)} ms` +
        ` cpu ${s.cpuUs[name].median.toFixed(1)} µs/req [${
          s.cpuUs[name].min.toFixed(1)
        }-${s.cpuUs[name].max.toFixed(1)}]`;
    };
    return `  ${s.shape.padEnd(10)} ${route("read")}  ${route("write")}`;
  }).join("\n") +
    (r.writeRequestsPerLogWrite === undefined
      ? ""
      : `\n  ${
        r.writeRequestsPerLogWrite.toFixed(1)
      } write requests per write(2) to the log`) +
    (r.lostWrites === undefined
      ? ""
      : `\n  ${r.lostWrites} writes lost to concurrent requests of one session`);
}

/** The config's wrk shapes, for log lines. */
export function shapeNames(config: HttpBenchConfig): string {
  return config.shapes.map((s) => `-t${s.threads} -c${s.connections}`).join(
    " and ",
  );
}

function medianBy(runs: MeasuredRun[]): MeasuredRun {
  return [...runs].sort((a, b) => a.rps - b.rps)[runs.length >> 1]!;
}

interface Server {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

async function startServer(target: HttpTarget, dir: string): Promise<Server> {
  const command = target.runtime === "deno"
    ? new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--unstable-kv",
        target.script?.startsWith("/")
          ? target.script
          : `${BENCH_DIR}${target.script ?? "_http_server.ts"}`,
        target.serves ?? target.id,
        dir,
      ],
      stdout: "piped",
      stderr: "inherit",
    })
    : new Deno.Command("node", {
      args: ["server.js"],
      cwd: EXPRESS_DIR,
      env: {
        STORE: target.id === "express-file" ? "file" : "memory",
        DIR: dir,
        NODE_ENV: "production",
      },
      stdout: "piped",
      stderr: "inherit",
    });
  const child = command.spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) {
      await child.status;
      throw new Error(`${target.id}: server exited before listening`);
    }
    text += value;
  }
  const { port } = JSON.parse(text.slice(0, text.indexOf("\n")));
  return {
    port,
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await child.status;
      clearTimeout(timer);
      await reader.cancel();
    },
  };
}

/** Creates `count` sessions through the write route; returns cookies. */
async function createSessions(base: string, count: number): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${base}/write`);
    const body = await res.text();
    // The last cookie wins in a browser (hono-sessions' CookieStore sends
    // two for a new session).
    const setCookie = res.headers.getSetCookie().at(-1);
    check(
      res.ok && body === "1" && setCookie !== undefined,
      `New session answered ${res.status} "${body}" with cookie ${setCookie}`,
    );
    cookies.push(setCookie.split(";")[0]!);
  }
  const res = await fetch(`${base}/read`, { headers: { cookie: cookies[0]! } });
  const body = await res.text();
  check(res.ok && body === "1", `The read route answered "${body}", not "1"`);
  return cookies;
}

/** The log's write(2) count from a BuntStore target's `/stats` route. */
async function logWrites(base: string): Promise<number | undefined> {
  const res = await fetch(`${base}/stats`);
  if (res.status === 404) {
    await res.body?.cancel();
    return undefined;
  }
  const body = await res.json();
  check(
    res.ok && Number.isInteger(body.logWrites),
    `Bad /stats answer: ${JSON.stringify(body)}`,
  );
  return body.logWrites;
}

async function sumCounters(base: string, cookies: string[]): Promise<number> {
  let sum = 0;
  for (const cookie of cookies) {
    const res = await fetch(`${base}/read`, { headers: { cookie } });
    const body = await res.text();
    const n = Number(body);
    check(res.ok && Number.isInteger(n) && n >= 1, `Bad counter "${body}"`);
    sum += n;
  }
  return sum;
}

interface WrkResult {
  rps: number;
  requests: number;
  latencyMs: number;
  /** 99th percentile latency in ms. */
  p99Ms: number;
}

/** A wrk run and the server's CPU time per request during it. */
interface MeasuredRun extends WrkResult {
  cpuUs: number;
}

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`). */
let clockTicks: number | undefined;

/** User + system CPU time of process `pid` so far, in µs (Linux only). */
async function cpuMicros(pid: number): Promise<number> {
  if (clockTicks === undefined) {
    const { stdout } = await new Deno.Command("getconf", {
      args: ["CLK_TCK"],
    }).output();
    clockTicks = Number(new TextDecoder().decode(stdout).trim()) || 100;
  }
  // Read through cat: Deno lets only --allow-all read another process's
  // /proc files, and the bench tasks run with --allow-run instead.
  const { stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/stat`],
  }).output();
  const stat = new TextDecoder().decode(stdout);
  // Fields after the command name, which may hold spaces: state is the
  // first, utime the 12th and stime the 13th (proc(5)'s fields 14 and 15).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / clockTicks * 1e6;
}

/** Runs wrk and parses its report; throws on errors or non-2xx answers. */
export async function runWrk(
  base: string,
  route: Route,
  seconds: number,
  shape: WrkShape,
  cookies: string[],
): Promise<WrkResult> {
  const { code, stdout, stderr } = await new Deno.Command("wrk", {
    args: [
      `-t${shape.threads}`,
      `-c${shape.connections}`,
      `-d${seconds}s`,
      "--latency",
      "-s",
      `${BENCH_DIR}_wrk.lua`,
      base,
      "--",
      `/${route}`,
      ...cookies,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  check(
    code === 0,
    `wrk failed (${code}): ${new TextDecoder().decode(stderr)}${out}`,
  );
  return parseWrk(out);
}

/** Parses wrk's text report. */
export function parseWrk(out: string): WrkResult {
  const rps = out.match(/Requests\/sec:\s+([\d.]+)/);
  const requests = out.match(/(\d+) requests in/);
  const latency = out.match(/Latency\s+([\d.]+)(us|ms|s)/);
  const p99 = out.match(/\s99%\s+([\d.]+)(us|ms|s)/);
  check(rps !== null && requests !== null, `Unreadable wrk output: ${out}`);
  check(
    !/Non-2xx or 3xx responses/.test(out),
    `Server answered errors: ${out}`,
  );
  check(!/Socket errors/.test(out), `Socket errors under load: ${out}`);
  const millis = (match: RegExpMatchArray | null) =>
    Number(match?.[1] ?? NaN) *
    ({ us: 0.001, ms: 1, s: 1000 }[match?.[2] ?? "ms"] ?? 1);
  return {
    rps: Number(rps[1]),
    requests: Number(requests[1]),
    latencyMs: millis(latency),
    p99Ms: millis(p99),
  };
}

if (import.meta.main) {
  // --before <checkout>: also run the session targets from that tree.
  const at = Deno.args.indexOf("--before");
  const checkout = at < 0 ? undefined : Deno.args[at + 1];
  if (at >= 0 && (checkout === undefined || checkout.startsWith("--"))) {
    throw new RangeError("Missing the checkout after --before");
  }
  const before = checkout === undefined ? undefined : resolve(checkout);
  const flags = parseFlags(
    at < 0 ? Deno.args : Deno.args.toSpliced(at, 2),
  );
  const config = httpConfig(flags);
  console.log(
    `HTTP bench: wrk ${shapeNames(config)}, ${config.runs} rounds of ` +
      `${config.seconds} s per target, shape and route ` +
      `(+${config.warmupSeconds} s warm-up)`,
  );
  const picked = pickHttpTargets(flags.only);
  const results = await runHttpBench(
    before === undefined ? picked : withBefore(picked, before),
    config,
  );
  if (flags.out !== undefined) {
    await Deno.writeTextFile(
      flags.out,
      JSON.stringify(
        { machine: await machineInfo(), config, http: results },
        null,
        2,
      ) + "\n",
    );
  }
}
