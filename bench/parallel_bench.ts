/**
 * `deno task bench` part "parallel": what a second core costs or gives per
 * store. The session read and write routes under `deno serve --parallel`
 * with 2 workers (and with 1, for the ratio) on KvStore (one local file)
 * and RedisStore, beside BuntStore in one `deno run` process and a bare
 * handler under `deno serve` with 1 and 2 workers, all in the same rounds
 * (list order on even rounds, reversed on odd ones, as in http_bench.ts).
 *
 * Reported per target and route: req/s over the rounds, and per round the
 * ratio to BuntStore in one process and, for a 2-worker target, to the
 * same store on 1 worker. wrk's checks apply (no non-2xx, no socket
 * errors); the counters are not summed as in http_bench.ts, because two
 * workers may run requests of one session at once, and across workers
 * the last write wins (documented).
 *
 * Usage: deno run -A --unstable-kv bench/parallel_bench.ts [--quick]
 *        [--runs 3] [--out file.json]
 *
 * @module
 */

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
import { type Route, runWrk, type WrkShape } from "./http_bench.ts";
import { startRedisServer } from "../tests/_redis_server.ts";

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));

/** A server the parallel bench loads. */
export interface ParallelTarget {
  id: string;
  label: string;
  /** The store: BuntStore in `deno run`, or a `deno serve` store. */
  store: "bunt" | "bare" | "kv" | "redis";
  /** `deno serve` workers; 0 for the `deno run` process. */
  workers: number;
}

/** Every target, in report order. */
export const PARALLEL_TARGETS: ParallelTarget[] = [
  { id: "bunt-run", label: "BuntStore, deno run", store: "bunt", workers: 0 },
  {
    id: "bare-1",
    label: "bare, deno serve, 1 worker",
    store: "bare",
    workers: 1,
  },
  {
    id: "bare-2",
    label: "bare, deno serve --parallel, 2 workers",
    store: "bare",
    workers: 2,
  },
  {
    id: "kv-1",
    label: "KvStore (file), deno serve, 1 worker",
    store: "kv",
    workers: 1,
  },
  {
    id: "kv-2",
    label: "KvStore (file), deno serve --parallel, 2 workers",
    store: "kv",
    workers: 2,
  },
  {
    id: "redis-1",
    label: "RedisStore, deno serve, 1 worker",
    store: "redis",
    workers: 1,
  },
  {
    id: "redis-2",
    label: "RedisStore, deno serve --parallel, 2 workers",
    store: "redis",
    workers: 2,
  },
];

/** One target's results. */
export interface ParallelResult {
  id: string;
  label: string;
  rps: Record<Route, Summary>;
  /** Each round's req/s over BuntStore's in one `deno run` process. */
  vsBuntRun: Record<Route, Summary>;
  /** 2 workers only: each round's req/s over the same store on 1 worker. */
  vsOneWorker?: Record<Route, Summary>;
}

/** Durations and load of the parallel bench. */
export interface ParallelBenchConfig {
  runs: number;
  seconds: number;
  warmupSeconds: number;
  shape: WrkShape;
  cookies: number;
}

/** The configuration for the given flags. */
export function parallelConfig(flags: BenchFlags): ParallelBenchConfig {
  const shape = { threads: 1, connections: 32 };
  return flags.quick
    ? { runs: flags.runs, seconds: 1, warmupSeconds: 1, shape, cookies: 64 }
    : { runs: flags.runs, seconds: 3, warmupSeconds: 1, shape, cookies: 500 };
}

/** Runs every target; throws on a failed check. */
export async function runParallelBench(
  config: ParallelBenchConfig,
  log: (line: string) => void = console.log,
  targets: ParallelTarget[] = PARALLEL_TARGETS,
): Promise<ParallelResult[]> {
  const dir = await Deno.makeTempDir({ prefix: "buntstore-parallel-" });
  await using redis = await startRedisServer();
  const loaded: Loaded[] = [];
  try {
    for (const target of targets) {
      const targetDir = `${dir}/${target.id}`;
      await Deno.mkdir(targetDir);
      const server = await startServer(target, targetDir, redis.url);
      loaded.push({ target, server, runs: { read: [], write: [] } });
      const base = `http://127.0.0.1:${server.port}`;
      const cookies = await createSessions(base, target, config.cookies);
      loaded.at(-1)!.cookies = cookies;
      await runWrk(base, "write", config.warmupSeconds, config.shape, cookies);
    }
    for (let round = 0; round < config.runs; round++) {
      const order = round % 2 === 0 ? loaded : [...loaded].reverse();
      for (const route of ["read", "write"] as const) {
        for (const t of order) {
          const base = `http://127.0.0.1:${t.server.port}`;
          const result = await runWrk(
            base,
            route,
            config.seconds,
            config.shape,
            t.cookies!,
          );
          t.runs[route].push(result.rps);
        }
      }
    }
    const results = loaded.map((t) => resultOf(t, loaded));
    for (const r of results) log(describe(r));
    return results;
  } finally {
    for (const t of loaded) await t.server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}

interface Loaded {
  target: ParallelTarget;
  server: Server;
  cookies?: string[];
  runs: Record<Route, number[]>;
}

function resultOf(t: Loaded, all: Loaded[]): ParallelResult {
  const ratio = (other: Loaded | undefined, route: Route) =>
    summarize(t.runs[route].map((rps, i) => rps / other!.runs[route][i]!));
  const bunt = all.find((o) => o.target.id === "bunt-run");
  const one = all.find((o) =>
    o.target.store === t.target.store && o.target.workers === 1
  );
  return {
    id: t.target.id,
    label: t.target.label,
    rps: { read: summarize(t.runs.read), write: summarize(t.runs.write) },
    vsBuntRun: bunt === undefined
      ? { read: summarize([NaN]), write: summarize([NaN]) }
      : { read: ratio(bunt, "read"), write: ratio(bunt, "write") },
    ...(t.target.workers === 2 && one !== undefined
      ? {
        vsOneWorker: { read: ratio(one, "read"), write: ratio(one, "write") },
      }
      : {}),
  };
}

function describe(r: ParallelResult): string {
  const range = (s: Summary) =>
    `${s.median.toFixed(2)}x [${s.min.toFixed(2)}-${s.max.toFixed(2)}]`;
  const route = (name: Route) =>
    `${name} ${fmtRate(r.rps[name].median)}/s` +
    ` [${fmtRate(r.rps[name].min)}-${fmtRate(r.rps[name].max)}]` +
    ` ${range(r.vsBuntRun[name])} BuntStore` +
    (r.vsOneWorker === undefined
      ? ""
      : `, ${range(r.vsOneWorker[name])} 1 worker`);
  return `${r.label}\n  ${route("read")}\n  ${route("write")}`;
}

interface Server {
  port: number;
  stop(): Promise<void>;
}

async function startServer(
  target: ParallelTarget,
  dir: string,
  redisUrl: string,
): Promise<Server> {
  const run = target.workers === 0;
  const args = run
    ? [
      "run",
      "-A",
      "--unstable-kv",
      `${BENCH_DIR}_http_server.ts`,
      "bunt-everysecond",
      dir,
    ]
    : [
      "serve",
      "-A",
      "--unstable-kv",
      ...(target.workers > 1 ? ["--parallel"] : []),
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      `${BENCH_DIR}_parallel_server.ts`,
    ];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env: {
      DENO_JOBS: String(Math.max(1, target.workers)),
      BENCH_STORE: target.store,
      BENCH_DIR: dir,
      BENCH_REDIS: redisUrl,
      NO_COLOR: "1",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // deno run prints {"port": N} on stdout; deno serve "Listening on" on
  // stderr.
  const stream = run ? child.stdout : child.stderr;
  const other = run ? child.stderr : child.stdout;
  const drained = other.pipeTo(new WritableStream());
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let port: number | undefined;
  while (port === undefined) {
    const { value, done } = await reader.read();
    if (done) {
      await child.status;
      throw new Error(`${target.id}: server exited before listening: ${text}`);
    }
    text += value;
    const match = run
      ? text.match(/\{"port":\s*(\d+)\}/)
      : text.match(/Listening on http:\/\/127\.0\.0\.1:(\d+)\//);
    if (match !== null) port = Number(match[1]);
  }
  const rest = (async () => {
    while (!(await reader.read()).done) {
      // Keeps the pipe drained so the server never blocks on it.
    }
  })();
  return {
    port,
    async stop() {
      child.kill("SIGTERM");
      // A Redis client keeps a deno serve worker alive past SIGTERM.
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await child.status;
      clearTimeout(timer);
      await rest;
      await drained;
    },
  };
}

/** Creates `count` sessions through the write route; returns cookies. */
async function createSessions(
  base: string,
  target: ParallelTarget,
  count: number,
): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${base}/write`);
    const body = await res.text();
    if (target.store === "bare") {
      cookies.push(`session=${String(i).padStart(43, "x")}`);
      continue;
    }
    const setCookie = res.headers.get("set-cookie");
    check(
      res.ok && body === "1" && setCookie !== null,
      `${target.id}: new session answered ${res.status} "${body}"`,
    );
    cookies.push(setCookie.split(";")[0]!);
  }
  return cookies;
}

if (import.meta.main) {
  const flags = parseFlags(Deno.args);
  const config = parallelConfig(flags);
  console.log(
    `Parallel bench: wrk -t${config.shape.threads} -c${config.shape.connections}, ` +
      `${config.runs} rounds of ${config.seconds} s per target and route`,
  );
  const results = await runParallelBench(config);
  if (flags.out !== undefined) {
    await Deno.writeTextFile(
      flags.out,
      JSON.stringify(
        { machine: await machineInfo(), config, parallel: results },
        null,
        2,
      ) + "\n",
    );
  }
}
