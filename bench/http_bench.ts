/**
 * `deno task bench:http`: requests per second of a bare `Deno.serve`
 * handler against the same handler behind `SessionManager` on each store,
 * and express + express-session on Node with session-file-store and with
 * memorystore, on a read-only route and a writing route.
 *
 * Each server runs in its own process; `wrk` (a separate process) drives it
 * over keep-alive connections, cycling through the cookies of sessions
 * created beforehand. Warm-up runs are discarded; the median, min and max
 * of the measured runs are reported. Checks: no non-2xx answers and no
 * socket errors; the read route returns the stored counter; the counters
 * summed over all sessions grew by at least the number of write requests
 * wrk completed (at most one extra per connection and run, for requests
 * cut off when a run ends), so a server that drops writes cannot look fast.
 *
 * Usage: deno run -A --unstable-kv bench/http_bench.ts [--quick] [--runs 3]
 *        [--only bare,bunt-everysecond] [--out file.json]
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import {
  check,
  fmtRate,
  machineInfo,
  parseFlags,
  summarize,
  type Summary,
} from "./_common.ts";
import type { BenchFlags } from "./_common.ts";

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
}

/** Every HTTP target, in chart order. */
export const HTTP_TARGETS: HttpTarget[] = [
  { id: "bare", label: "bare Deno.serve", runtime: "deno", sessions: false },
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

/** Results of one target. */
export interface HttpResult {
  id: string;
  label: string;
  /** Requests per second per route. */
  rps: Record<Route, Summary>;
  /** Mean latency in ms per route (median run). */
  latencyMs: Record<Route, number>;
  /** Write requests wrk completed in the measured runs. */
  writeRequests: number;
}

/** Durations and load of one HTTP bench. */
export interface HttpBenchConfig {
  runs: number;
  /** Seconds per measured wrk run (wrk's minimum is 1). */
  seconds: number;
  /** Seconds of discarded warm-up per route. */
  warmupSeconds: number;
  /** Warm up the read route too (the write route always). */
  warmupRead: boolean;
  connections: number;
  /** Sessions created before the runs; wrk cycles through their cookies. */
  cookies: number;
}

/** The configuration for the given flags. */
export function httpConfig(flags: BenchFlags): HttpBenchConfig {
  return flags.quick
    ? {
      runs: flags.runs,
      seconds: 1,
      warmupSeconds: 1,
      warmupRead: false,
      connections: 32,
      cookies: 128,
    }
    : {
      runs: flags.runs,
      seconds: 5,
      warmupSeconds: 2,
      warmupRead: true,
      connections: 32,
      cookies: 128,
    };
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
  const results: HttpResult[] = [];
  for (const target of targets) {
    const result = await runTarget(target, config);
    results.push(result);
    log(
      `${target.label.padEnd(44)} read ${fmtRate(result.rps.read.median)}/s` +
        ` [${fmtRate(result.rps.read.min)}-${fmtRate(result.rps.read.max)}]` +
        `  write ${fmtRate(result.rps.write.median)}/s` +
        ` [${fmtRate(result.rps.write.min)}-${fmtRate(result.rps.write.max)}]`,
    );
  }
  return results;
}

async function runTarget(
  target: HttpTarget,
  config: HttpBenchConfig,
): Promise<HttpResult> {
  const dir = await Deno.makeTempDir({ prefix: "buntstore-http-" });
  const server = await startServer(target, dir);
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const cookies = target.sessions
      ? await createSessions(base, config.cookies)
      : Array.from(
        { length: config.cookies },
        (_, i) => `session=${String(i).padStart(43, "x")}`,
      );
    const wrk = (route: Route, seconds: number) =>
      runWrk(base, route, seconds, config.connections, cookies);

    await wrk("write", config.warmupSeconds);
    if (config.warmupRead) await wrk("read", config.warmupSeconds);
    const before = target.sessions ? await sumCounters(base, cookies) : 0;

    const reads: WrkResult[] = [];
    const writes: WrkResult[] = [];
    for (let r = 0; r < config.runs; r++) {
      reads.push(await wrk("read", config.seconds));
      writes.push(await wrk("write", config.seconds));
    }
    const writeRequests = writes.reduce((sum, w) => sum + w.requests, 0);
    if (target.sessions) {
      const grown = (await sumCounters(base, cookies)) - before;
      const slack = config.connections * config.runs;
      check(
        grown >= writeRequests && grown <= writeRequests + slack,
        `${target.id}: session counters grew by ${grown} over ` +
          `${writeRequests} completed write requests (lost or invented writes)`,
      );
    }
    return {
      id: target.id,
      label: target.label,
      rps: {
        read: summarize(reads.map((w) => w.rps)),
        write: summarize(writes.map((w) => w.rps)),
      },
      latencyMs: {
        read: medianBy(reads).latencyMs,
        write: medianBy(writes).latencyMs,
      },
      writeRequests,
    };
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

function medianBy(runs: WrkResult[]): WrkResult {
  return [...runs].sort((a, b) => a.rps - b.rps)[runs.length >> 1]!;
}

interface Server {
  port: number;
  stop(): Promise<void>;
}

async function startServer(target: HttpTarget, dir: string): Promise<Server> {
  const command = target.runtime === "deno"
    ? new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--unstable-kv",
        `${BENCH_DIR}_http_server.ts`,
        target.id,
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
    const setCookie = res.headers.get("set-cookie");
    check(
      res.ok && body === "1" && setCookie !== null,
      `New session answered ${res.status} "${body}" with cookie ${setCookie}`,
    );
    cookies.push(setCookie.split(";")[0]!);
  }
  const res = await fetch(`${base}/read`, { headers: { cookie: cookies[0]! } });
  const body = await res.text();
  check(res.ok && body === "1", `The read route answered "${body}", not "1"`);
  return cookies;
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
}

/** Runs wrk and parses its report; throws on errors or non-2xx answers. */
export async function runWrk(
  base: string,
  route: Route,
  seconds: number,
  connections: number,
  cookies: string[],
): Promise<WrkResult> {
  const { code, stdout, stderr } = await new Deno.Command("wrk", {
    args: [
      "-t1",
      `-c${connections}`,
      `-d${seconds}s`,
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
  check(rps !== null && requests !== null, `Unreadable wrk output: ${out}`);
  check(
    !/Non-2xx or 3xx responses/.test(out),
    `Server answered errors: ${out}`,
  );
  check(!/Socket errors/.test(out), `Socket errors under load: ${out}`);
  const unit = { us: 0.001, ms: 1, s: 1000 }[latency?.[2] ?? "ms"] ?? 1;
  return {
    rps: Number(rps[1]),
    requests: Number(requests[1]),
    latencyMs: Number(latency?.[1] ?? NaN) * unit,
  };
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const config = httpConfig(flags);
  console.log(
    `HTTP bench: wrk -t1 -c${config.connections}, ${config.runs} runs of ` +
      `${config.seconds} s per route (+${config.warmupSeconds} s warm-up)`,
  );
  const results = await runHttpBench(pickHttpTargets(flags.only), config);
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
