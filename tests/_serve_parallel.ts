/**
 * Runs a module under a real `deno serve --parallel` on 127.0.0.1 for the
 * tests of tests/parallel_test.ts.
 *
 * @module
 */

/** A `deno serve` child process. */
export interface ServedModule extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Stops it (SIGTERM, then SIGKILL after 3 s: a Redis client keeps a
   * worker alive past SIGTERM) and waits for it. */
  stop(): Promise<Deno.CommandStatus>;
}

/** What a `deno serve` that ended by itself left. */
export interface EndedServe {
  /** Its exit status. */
  status: Deno.CommandStatus;
  /** Its stderr, without colours. */
  stderr: string;
}

const PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-sys",
  "--unstable-kv",
];

/**
 * Starts `module` under `DENO_JOBS=<jobs> deno serve --parallel` (no
 * `--parallel` when `jobs` is 1) on a free port and resolves once it
 * listens.
 *
 * @throws {Error} When it exits before listening, with its stderr.
 */
export async function serveParallel(
  module: string,
  env: Record<string, string>,
  jobs = 2,
): Promise<ServedModule> {
  const child = spawnServe(module, env, jobs);
  const output = collect(child.stderr);
  const listening = await Promise.race([
    output.waitFor(/Listening on (http:\/\/127\.0\.0\.1:\d+)\//),
    child.status.then(() => undefined),
  ]);
  if (listening === undefined) {
    await output.done;
    throw new Error(`deno serve exited before listening:\n${output.text()}`);
  }
  let stopped: Promise<Deno.CommandStatus> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch (error) {
        // It has already exited: nothing to stop.
        if (!(error instanceof TypeError)) throw error;
      }
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      try {
        const status = await child.status;
        await output.done;
        return status;
      } finally {
        clearTimeout(timer);
      }
    })();
    return stopped;
  };
  return {
    url: listening[1]!,
    stderr: output.text,
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}

/**
 * Runs `module` under `deno serve --parallel` and waits for it to end by
 * itself; kills it (and fails) when it is still running after
 * `timeoutMs`.
 */
export async function serveUntilExit(
  module: string,
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<EndedServe> {
  const child = spawnServe(module, env, 2);
  const output = collect(child.stderr);
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  try {
    const status = await child.status;
    await output.done;
    if (killed) {
      throw new Error(
        `deno serve was still running after ${timeoutMs} ms:\n${output.text()}`,
      );
    }
    return { status, stderr: output.text() };
  } finally {
    clearTimeout(timer);
  }
}

function spawnServe(
  module: string,
  env: Record<string, string>,
  jobs: number,
): Deno.ChildProcess {
  const parallel = jobs > 1 ? ["--parallel"] : [];
  return new Deno.Command(Deno.execPath(), {
    args: [
      "serve",
      ...PERMISSIONS,
      ...parallel,
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      module,
    ],
    env: { ...env, DENO_JOBS: String(jobs), NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

function collect(stream: ReadableStream<Uint8Array>) {
  let text = "";
  const waiters: { pattern: RegExp; resolve(m: RegExpMatchArray): void }[] = [];
  const done = (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      for (const waiter of [...waiters]) {
        const match = text.match(waiter.pattern);
        if (match === null) continue;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  })();
  return {
    done,
    text: () => text,
    waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
      const match = text.match(pattern);
      if (match !== null) return Promise.resolve(match);
      return new Promise((resolve) => waiters.push({ pattern, resolve }));
    },
  };
}

/** What {@linkcode load} saw. */
export interface LoadResult {
  /** How many responses had each status. */
  statuses: Map<number, number>;
  /** The distinct `x-worker` headers seen. */
  workers: Set<string>;
  /** The body of the first non-200 response, if any. */
  firstFailure: string | undefined;
}

/**
 * Sends `requests` GETs of `path`, `concurrency` at a time, each on a new
 * connection (so that the kernel spreads them over the workers), each loop
 * with a session cookie of its own, taking `urls` in turn.
 */
export async function load(
  urls: string[],
  options: { requests: number; concurrency: number; path: string },
): Promise<LoadResult> {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const result: LoadResult = {
    statuses: new Map(),
    workers: new Set(),
    firstFailure: undefined,
  };
  let sent = 0;
  async function loop(): Promise<void> {
    let cookie: string | undefined;
    while (sent < options.requests) {
      const url = urls[sent % urls.length]!;
      sent++;
      const response = await fetch(`${url}${options.path}`, {
        client,
        headers: cookie === undefined ? {} : { cookie },
      });
      const body = await response.text();
      const setCookie = response.headers.get("set-cookie");
      if (setCookie !== null) cookie = setCookie.split(";")[0];
      const worker = response.headers.get("x-worker");
      if (worker !== null) result.workers.add(worker);
      const { status } = response;
      result.statuses.set(status, (result.statuses.get(status) ?? 0) + 1);
      if (status !== 200) result.firstFailure ??= `${status}: ${body}`;
    }
  }
  try {
    await Promise.all(Array.from({ length: options.concurrency }, loop));
  } finally {
    client.close();
  }
  return result;
}

/**
 * Sends GETs of `url`, each on a new connection, until `jobs` different
 * `x-worker` headers answered or `timeoutMs` passed: `deno serve` reports
 * listening once the first worker does, and on a loaded machine the others
 * may still be starting.
 */
export async function waitForWorkers(
  url: string,
  jobs: number,
  timeoutMs = 10_000,
): Promise<void> {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const seen = new Set<string>();
  const deadline = Date.now() + timeoutMs;
  try {
    while (seen.size < jobs && Date.now() < deadline) {
      const response = await fetch(url, { client });
      await response.body?.cancel();
      const worker = response.headers.get("x-worker");
      if (worker !== null) seen.add(worker);
    }
  } finally {
    client.close();
  }
}
