/**
 * Starts a throwaway `redis-server` on 127.0.0.1 for the Redis tests.
 *
 * When the server cannot be started the caller's test fails with a message
 * saying how to install it: the Redis tests are never skipped.
 *
 * @module
 */

/** A running `redis-server` child process. */
export interface RedisServer extends AsyncDisposable {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The server's process id, to stop (SIGSTOP) or kill it in a test. */
  readonly pid: number;
  /** Stops the server and waits for it to exit. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 5000;
const START_ATTEMPTS = 3;

/**
 * Starts `redis-server` with persistence off and resolves once it answers
 * `PING`.
 *
 * @param port The port to listen on; a random free one when omitted.
 * @param extraArgs More `redis-server` arguments, such as
 * `["--requirepass", "secret"]`.
 * @throws {Error} When `redis-server` is missing or does not answer in time.
 */
export async function startRedisServer(
  port?: number,
  extraArgs: string[] = [],
): Promise<RedisServer> {
  let lastError: unknown;
  // The free port is found by binding and releasing it, so another process
  // may take it before redis-server binds: retry with a new port.
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(port ?? freePort(), extraArgs);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new Error(
          "Cannot start redis-server: not found on PATH; install it with `apt-get install -y redis-server` (.ci/run does this)",
          { cause: error },
        );
      }
      lastError = error;
    }
  }
  throw new Error(
    `Cannot start redis-server after ${START_ATTEMPTS} attempts: ${
      lastError instanceof Error ? lastError.message : String(lastError)
    }`,
    { cause: lastError },
  );
}

async function startOnce(
  port: number,
  extraArgs: string[],
): Promise<RedisServer> {
  const child = new Deno.Command("redis-server", {
    args: [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--daemonize",
      "no",
      "--loglevel",
      "warning",
      ...extraArgs,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  let exited = false;
  const exit = output.then(() => {
    exited = true;
  });
  async function stop(): Promise<void> {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch (error) {
        // The child may exit between the check and the kill.
        if (!(error instanceof TypeError)) throw error;
      }
    }
    await exit;
  }
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await answersPing(port))) {
    if (exited || Date.now() > deadline) {
      await stop();
      const { stdout, stderr } = await output;
      const log = new TextDecoder().decode(stdout) +
        new TextDecoder().decode(stderr);
      throw new Error(
        `redis-server on port ${port} did not answer PING: ${log.trim()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** A port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function answersPing(port: number): Promise<boolean> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) return false;
    throw error;
  }
  try {
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buffer = new Uint8Array(64);
    const n = await conn.read(buffer);
    if (n === null) return false;
    const reply = new TextDecoder().decode(buffer.subarray(0, n));
    // A server with --requirepass answers, but refuses PING without AUTH.
    return reply.startsWith("+PONG") || reply.startsWith("-NOAUTH");
  } catch (error) {
    // A server still loading may reset the connection: poll again.
    if (error instanceof Deno.errors.ConnectionReset) return false;
    throw error;
  } finally {
    conn.close();
  }
}
