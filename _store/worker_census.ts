/**
 * Who else in this process uses a store that cannot be shared: the other
 * workers of `deno serve --parallel`. Those run one isolate per core in one
 * process, each evaluating the module, with no `postMessage` between them;
 * a `BroadcastChannel` reaches all of them, so stores announce themselves
 * on one while the server starts.
 *
 * The channel is open only for {@linkcode CENSUS_WINDOW_MS} after a store
 * opens (or until it closes): an open `BroadcastChannel` keeps the event
 * loop alive and makes `deno serve` wait for it on SIGTERM.
 *
 * @module
 */

/**
 * How long a store listens for the other workers after it opens: the
 * workers of `deno serve --parallel` start together, but on a loaded
 * machine seconds apart. It is also how long a process that never closes
 * such a store lingers before it exits.
 */
export const CENSUS_WINDOW_MS = 5000;

/**
 * How long a lock that failed waits for the holder to answer: 500 ms was
 * too short for a holder starting beside a busy test suite on 2 cores.
 */
const ASK_MS = 1500;
const ASK_EVERY_MS = 25;

const CHANNEL = "@x/buntstore:census";

/**
 * This isolate's id, shared by every copy of the module loaded in it, so
 * that its own announcements are not taken for another worker's.
 */
const ISOLATE: string = ((globalThis as Record<symbol, unknown>)[
  Symbol.for("@x/buntstore:isolate")
] ??= crypto.randomUUID()) as string;

type Message =
  | { type: "memory"; isolate: string; main: string; reply: boolean }
  | { type: "who"; isolate: string; realPath: string; ask: string }
  | { type: "mine"; isolate: string; main: string; ask: string };

/** The real paths of the logs that stores of this isolate hold open. */
const openHere = new Set<string>();

/** A store's place in the census; `leave()` when the store closes. */
export interface CensusEntry {
  /** Stops listening. Later calls do nothing. */
  leave(): void;
}

/**
 * Announces an in-memory store to the other workers of this process and
 * listens for theirs for {@linkcode CENSUS_WINDOW_MS}: when another worker
 * running the same main module has one too, every worker keeps a memory
 * of its own, and `onShared` is told.
 */
export function joinAsMemory(onShared: () => void): CensusEntry {
  const main = mainModule();
  let told = false;
  return listen((message, post) => {
    if (
      message.type !== "memory" || message.isolate === ISOLATE ||
      message.main !== main
    ) {
      return;
    }
    if (!message.reply) {
      post({ type: "memory", isolate: ISOLATE, main, reply: true });
    }
    if (!told) {
      told = true;
      onShared();
    }
  }, { type: "memory", isolate: ISOLATE, main, reply: false });
}

/**
 * Records that this isolate holds the log at `realPath` open, and answers,
 * for {@linkcode CENSUS_WINDOW_MS}, the other workers whose lock on it
 * failed.
 */
export function joinAsFileOwner(realPath: string): CensusEntry {
  openHere.add(realPath);
  const main = mainModule();
  const entry = listen((message, post) => {
    if (message.type === "who" && message.realPath === realPath) {
      post({ type: "mine", isolate: ISOLATE, main, ask: message.ask });
    }
  });
  return {
    leave() {
      openHere.delete(realPath);
      entry.leave();
    },
  };
}

/** Who holds the lock on a log, as far as this process can tell. */
export type LockHolder =
  | { kind: "isolate" }
  | { kind: "worker"; sameModule: boolean }
  | { kind: "process"; pid: number }
  | { kind: "unknown" };

/**
 * Finds out who holds the lock on the log at `realPath` (inode `ino`): a
 * store of this isolate, another worker of this process (asked on the
 * census channel, or found in `/proc/locks` under this process's id), or
 * another process (found in `/proc/locks`, read only when Deno's read
 * permission for it is already granted, so no prompt appears; Deno 2.9
 * lets only `--allow-all` read `/proc`).
 */
export async function findLockHolder(
  realPath: string,
  ino: number | null,
): Promise<LockHolder> {
  if (openHere.has(realPath)) return { kind: "isolate" };
  const answer = await ask(realPath);
  if (answer !== undefined) {
    return { kind: "worker", sameModule: answer === mainModule() };
  }
  const pid = ino === null ? undefined : await flockHolder(ino);
  if (pid === undefined) return { kind: "unknown" };
  if (pid === Deno.pid) return { kind: "worker", sameModule: false };
  return { kind: "process", pid };
}

function listen(
  onMessage: (message: Message, post: (message: Message) => void) => void,
  hello?: Message,
): CensusEntry {
  const channel = new BroadcastChannel(CHANNEL);
  const timer = setTimeout(leave, CENSUS_WINDOW_MS);
  // The window never keeps a process alive by itself.
  Deno.unrefTimer(timer);
  let open = true;
  function leave(): void {
    if (!open) return;
    open = false;
    clearTimeout(timer);
    channel.close();
  }
  const post = (message: Message) => {
    if (open) channel.postMessage(message);
  };
  channel.onmessage = (event: MessageEvent<Message>) =>
    onMessage(event.data, post);
  if (hello !== undefined) post(hello);
  return { leave };
}

/**
 * Asks the other workers whether one holds `realPath`; their main module.
 * The question is repeated, because a channel hears only what is posted
 * after it opens, and the holder joins only once its lock is taken.
 */
function ask(realPath: string): Promise<string | undefined> {
  const id = crypto.randomUUID();
  const channel = new BroadcastChannel(CHANNEL);
  const question: Message = {
    type: "who",
    isolate: ISOLATE,
    realPath,
    ask: id,
  };
  return new Promise<string | undefined>((resolve) => {
    const done = (main: string | undefined) => {
      clearTimeout(timer);
      clearInterval(repeat);
      channel.close();
      resolve(main);
    };
    const timer = setTimeout(() => done(undefined), ASK_MS);
    const repeat = setInterval(
      () => channel.postMessage(question),
      ASK_EVERY_MS,
    );
    channel.onmessage = (event: MessageEvent<Message>) => {
      const message = event.data;
      if (message.type === "mine" && message.ask === id) done(message.main);
    };
    channel.postMessage(question);
  });
}

/**
 * The pid that holds a `flock` on inode `ino`, from Linux's `/proc/locks`
 * (`1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF`); `undefined` when it
 * cannot be read or lists no such lock.
 */
async function flockHolder(ino: number): Promise<number | undefined> {
  const path = "/proc/locks";
  const status = Deno.permissions.querySync?.({ name: "read", path });
  if (status?.state !== "granted") return undefined;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    // Not Linux, no procfs, or (Deno 2.9) no --allow-all, which /proc
    // reads need although the query says "granted": the caller falls back
    // to a message naming both possible holders.
    if (error instanceof Error) return undefined;
    throw error;
  }
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] !== "FLOCK") continue;
    const inode = fields[5]?.split(":")[2];
    if (inode === String(ino)) return Number(fields[4]);
  }
  return undefined;
}

function mainModule(): string {
  try {
    return Deno.mainModule;
  } catch (error) {
    // Deno.mainModule needs no permission today; an embedder without it
    // still gets a census, only keyed on nothing.
    if (error instanceof Error) return "";
    throw error;
  }
}
