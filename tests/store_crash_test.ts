/**
 * Crash tests: a child `deno` process writes (tests/_crash_child.ts) and is
 * killed with SIGKILL at random moments; every write it acknowledged must
 * be there when the log is reopened. Also the lock between two opens, in
 * one process and across processes.
 *
 * Rerun a failure with `BUNTSTORE_SEED=<seed>`.
 */

import assert from "node:assert/strict";
import { BuntStore, StoreLockedError } from "../mod.ts";
import { prng, seedFromEnv, sleep, tempDir } from "./_fixtures.ts";

const CHILD = new URL("./_crash_child.ts", import.meta.url).pathname;
const encoder = new TextEncoder();

function valueOf(token: string): Uint8Array {
  return encoder.encode(`v:${token}:${"p".repeat(token.length * 3)}`);
}

function spawnChild(
  args: string[],
  stdin: "piped" | "null" = "null",
): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-read", "--allow-write", CHILD, ...args],
    stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Collects a child's stdout and lets the caller wait for a line. */
class Lines {
  text = "";
  readonly done: Promise<void>;
  #waiters: { needle: string; resolve: () => void }[] = [];

  constructor(stream: ReadableStream<Uint8Array>) {
    this.done = (async () => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        this.text += chunk;
        this.#waiters = this.#waiters.filter((waiter) => {
          if (!this.text.includes(waiter.needle)) return true;
          waiter.resolve();
          return false;
        });
      }
    })();
  }

  /** Resolves once `needle` was printed, or rejects after `ms`. */
  waitFor(needle: string, ms: number): Promise<void> {
    if (this.text.includes(needle)) return Promise.resolve();
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const timer = setTimeout(
      () => reject(new Error(`child never printed "${needle}"`)),
      ms,
    );
    this.#waiters.push({
      needle,
      resolve: () => {
        clearTimeout(timer);
        resolve();
      },
    });
    return promise;
  }

  /** Complete lines only: a line cut by the kill is not acknowledged. */
  complete(): string[] {
    const lines = this.text.split("\n");
    lines.pop();
    return lines;
  }
}

/** What the children acknowledged, over all rounds on one file. */
class Acknowledged {
  readonly present = new Set<string>();
  readonly deleted = new Set<string>();
  readonly hot = new Map<string, number>();
  /** Tokens whose delete was issued but maybe not acknowledged. */
  readonly mayBeDeleted = new Set<string>();
  count = 0;

  add(lines: string[]): void {
    for (const line of lines) {
      const [kind, a, b] = line.split(" ");
      if (kind === "ack") {
        this.present.add(a!);
        this.count++;
        // The child deletes token i - 3 right after acknowledging token i.
        const match = /^(.*-)(\d+)$/.exec(a!)!;
        const i = Number(match[2]);
        if (i % 7 === 6) this.mayBeDeleted.add(`${match[1]}${i - 3}`);
      } else if (kind === "del") {
        this.present.delete(a!);
        this.deleted.add(a!);
        this.mayBeDeleted.delete(a!);
        this.count++;
      } else if (kind === "hot") {
        this.hot.set(a!, Number(b));
        this.count++;
      } else if (kind === "filled") {
        for (let i = Number(a); i < Number(b); i++) {
          this.present.add(`fill-${i}`);
        }
      }
    }
  }

  /** Asserts the reopened store holds every acknowledged write. */
  async check(path: string, label: string): Promise<number> {
    const store = await BuntStore.open(path);
    try {
      await assert.rejects(Deno.stat(`${path}.tmp`), Deno.errors.NotFound);
      const decoder = new TextDecoder();
      for (const token of this.present) {
        const value = await store.find(token);
        if (value === undefined && this.mayBeDeleted.has(token)) continue;
        assert.ok(value !== undefined, `${label}: acknowledged ${token} lost`);
        assert.deepEqual(value, valueOf(token), `${label}: ${token}`);
      }
      for (const token of this.deleted) {
        assert.equal(await store.find(token), undefined, `${label}: ${token}`);
      }
      for (const [key, acked] of this.hot) {
        const value = await store.find(key);
        assert.ok(value !== undefined, `${label}: ${key} lost`);
        const stored = Number(decoder.decode(value));
        // The next overwrite may have reached the file unacknowledged.
        assert.ok(
          stored === acked || stored === acked + 5,
          `${label}: ${key} is ${stored}, acknowledged ${acked}`,
        );
      }
      return store.stats().recoveredBytes;
    } finally {
      await store.close();
    }
  }
}

interface CrashSummary {
  acknowledged: number;
  tornTails: number;
  killedInShrink: number;
  compactions: number;
}

async function crashRounds(
  mode: "save" | "shrink",
  sync: string,
  rounds: number,
  seed: number,
): Promise<CrashSummary> {
  const random = prng(seed);
  await using tmp = await tempDir();
  const acked = new Acknowledged();
  const summary: CrashSummary = {
    acknowledged: 0,
    tornTails: 0,
    killedInShrink: 0,
    compactions: 0,
  };
  for (let round = 0; round < rounds; round++) {
    const child = spawnChild([tmp.path, mode, sync, String(round)]);
    const lines = new Lines(child.stdout);
    const stderr = new Response(child.stderr).text();
    try {
      await lines.waitFor("ready\n", 60_000);
      // Kill at a random moment: early, while batches fly, or mid-shrink.
      const delay = 5 + Math.floor(random() * 250);
      await sleep(delay);
    } finally {
      child.kill("SIGKILL");
      await child.status;
      await lines.done;
    }
    const errors = await stderr;
    assert.equal(errors, "", `child wrote to stderr: ${errors}`);
    const complete = lines.complete();
    acked.add(complete);
    const lastShrink = complete.findLast((line) => line.startsWith("shrink-"));
    if (lastShrink === "shrink-start") summary.killedInShrink++;
    summary.compactions += complete.filter((line) => line === "shrink-done")
      .length;
    const label = `${mode} ${sync} round ${round} (seed ${seed})`;
    if ((await acked.check(tmp.path, label)) > 0) summary.tornTails++;
  }
  summary.acknowledged = acked.count;
  return summary;
}

for (const sync of ["everysecond", "always", "never"] as const) {
  const rounds = sync === "never" ? 4 : 10;
  Deno.test(`BuntStore.save() with sync "${sync}" loses nothing acknowledged when the process is killed`, async () => {
    const seed = seedFromEnv();
    const summary = await crashRounds("save", sync, rounds, seed);
    console.log(
      `seed ${seed}: ${rounds} SIGKILLs, ${summary.acknowledged} ` +
        `acknowledged writes all found, ${summary.tornTails} torn tails cut`,
    );
    assert.ok(summary.acknowledged > 0);
  });
}

Deno.test("BuntStore.shrink() killed at random moments leaves a log with all acknowledged data", async () => {
  const seed = seedFromEnv();
  const rounds = 6;
  const summary = await crashRounds("shrink", "everysecond", rounds, seed);
  console.log(
    `seed ${seed}: ${rounds} SIGKILLs during writes and compactions ` +
      `(${summary.killedInShrink} inside a shrink(), ` +
      `${summary.compactions} compactions completed), ` +
      `${summary.acknowledged} acknowledged writes all found`,
  );
  assert.ok(summary.acknowledged > 0);
  // The children's compactions must get past their first await, or the
  // kills never land in the snapshot, the catch-up or the swap.
  assert.ok(summary.compactions > 0, "no compaction ever completed");
});

Deno.test("BuntStore.open() cuts the torn record a kill leaves inside a large write", async () => {
  const seed = seedFromEnv();
  const random = prng(seed);
  const rounds = 5;
  let torn = 0;
  let acknowledged = 0;
  for (let round = 0; round < rounds; round++) {
    await using tmp = await tempDir();
    const child = spawnChild([tmp.path, "big", "never", String(round)]);
    const lines = new Lines(child.stdout);
    const stderr = new Response(child.stderr).text();
    try {
      await lines.waitFor("ready\n", 60_000);
      await sleep(20 + Math.floor(random() * 200));
    } finally {
      child.kill("SIGKILL");
      await child.status;
      await lines.done;
    }
    assert.equal(await stderr, "");
    const acked = lines.complete().filter((line) => line.startsWith("ack "));
    acknowledged += acked.length;
    const store = await BuntStore.open(tmp.path);
    try {
      if (store.stats().recoveredBytes > 0) torn++;
      for (const line of acked) {
        const token = line.slice(4);
        const i = Number(token.split("-").at(-1));
        const value = await store.find(token);
        assert.ok(value !== undefined, `seed ${seed}: ${token} lost`);
        assert.equal(value.length, 8 << 20);
        assert.ok(value.every((byte) => byte === i % 251), token);
      }
      assert.equal((await Deno.stat(tmp.path)).size, store.stats().fileBytes);
    } finally {
      await store.close();
    }
  }
  console.log(
    `seed ${seed}: ${rounds} SIGKILLs during 8 MiB writes, ${acknowledged} ` +
      `acknowledged writes all found, ${torn} torn records cut`,
  );
});

Deno.test("BuntStore.open() throws StoreLockedError for a second open in one process", async () => {
  await using tmp = await tempDir();
  const store = await BuntStore.open(tmp.path);
  try {
    await assert.rejects(BuntStore.open(tmp.path), StoreLockedError);
    await assert.rejects(
      BuntStore.open(tmp.path),
      /already open in this process/,
    );
  } finally {
    await store.close();
  }
  const again = await BuntStore.open(tmp.path);
  await again.close();
});

Deno.test("BuntStore.open() throws StoreLockedError while another process holds the file", async (t) => {
  await t.step("the other process opened first", async () => {
    await using tmp = await tempDir();
    const child = spawnChild([tmp.path, "hold"], "piped");
    const lines = new Lines(child.stdout);
    const stderr = new Response(child.stderr).text();
    const stdin = child.stdin.getWriter();
    try {
      await lines.waitFor("locked\n", 60_000);
      await assert.rejects(BuntStore.open(tmp.path), StoreLockedError);
    } finally {
      await stdin.close();
      const status = await child.status;
      await lines.done;
      assert.equal(status.code, 0, await stderr);
    }
    const store = await BuntStore.open(tmp.path);
    await store.close();
  });
  await t.step("this process opened first", async () => {
    await using tmp = await tempDir();
    const store = await BuntStore.open(tmp.path);
    try {
      const output = await spawnChild([tmp.path, "try"]).output();
      assert.equal(
        new TextDecoder().decode(output.stdout),
        "StoreLockedError\n",
      );
    } finally {
      await store.close();
    }
    const output = await spawnChild([tmp.path, "try"]).output();
    assert.equal(new TextDecoder().decode(output.stdout), "opened\n");
  });
});
