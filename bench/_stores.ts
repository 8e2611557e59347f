/**
 * The stores the benchmarks compare, each opened with its documented
 * durable default, behind one small interface.
 *
 * @module
 */

import { type GoRun, runGoBuntdb } from "./_go_buntdb.ts";
import { BuntStore, type SyncPolicy } from "../store.ts";
import { KvStore } from "../kv_store.ts";
import type { SessionStore } from "../session_store.ts";
import { SqliteStore } from "./_sqlite_store.ts";

/** A store under test: the session contract plus counting and closing. */
export interface BenchStore extends SessionStore {
  /** Live entries, counted by the store itself. */
  count(): Promise<number>;
  close(): Promise<void>;
}

/** One contender in the store and HTTP benchmarks. */
export interface StoreTarget {
  /** Short id used on the command line (`--only`) and in results. */
  id: string;
  /** What the chart and README call it. */
  label: string;
  /** What a resolved `save` guarantees, in this configuration. */
  durability: string;
  /** Whether data survives a close and reopen (file-backed). */
  persistent: boolean;
  /** Needs a time cap on write phases (fsync or commit per write). */
  slow: boolean;
  /** Opens (or reopens) the store in `dir`. */
  open(dir: string): Promise<BenchStore>;
  /** BuntStore only: the underlying store, for stats and shrink. */
  bunt?: (store: BenchStore) => BuntStore;
  /** Runs the whole workload in another process instead (Go buntdb). */
  external?: (dir: string, sessions: number, concurrency: number) => Promise<
    GoRun
  >;
}

/** A plain `Map` with expiries: the ceiling, no durability at all. */
export class MapStore implements BenchStore {
  readonly #map = new Map<string, { data: Uint8Array; expiry: number }>();

  find(token: string): Promise<Uint8Array | undefined> {
    const entry = this.#map.get(token);
    if (entry === undefined) return Promise.resolve(undefined);
    if (entry.expiry <= Date.now()) {
      this.#map.delete(token);
      return Promise.resolve(undefined);
    }
    return Promise.resolve(entry.data);
  }

  save(token: string, data: Uint8Array, expiry: Date): Promise<void> {
    const ms = expiry.getTime();
    if (ms <= Date.now()) this.#map.delete(token);
    else this.#map.set(token, { data, expiry: ms });
    return Promise.resolve();
  }

  delete(token: string): Promise<void> {
    this.#map.delete(token);
    return Promise.resolve();
  }

  all(): Promise<Map<string, Uint8Array>> {
    const now = Date.now();
    const out = new Map<string, Uint8Array>();
    for (const [k, v] of this.#map) if (v.expiry > now) out.set(k, v.data);
    return Promise.resolve(out);
  }

  count(): Promise<number> {
    return this.all().then((m) => m.size);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * A store of the project's, with the count the harness checks. It passes
 * on everything the session manager uses (`replace`, `copiesOnSave`,
 * `shared`), so the HTTP bench runs the path users get.
 */
class Counted<S extends BuntStore | KvStore> implements BenchStore {
  constructor(readonly store: S, readonly count: () => Promise<number>) {}
  get copiesOnSave(): boolean {
    return (this.store as { copiesOnSave?: boolean }).copiesOnSave === true;
  }
  get shared(): boolean {
    return (this.store as { shared?: boolean }).shared === true;
  }
  find(token: string) {
    return this.store.find(token);
  }
  save(token: string, data: Uint8Array, expiry: Date) {
    return this.store.save(token, data, expiry);
  }
  replace(token: string, data: Uint8Array, expiry: Date) {
    return this.store.replace(token, data, expiry);
  }
  delete(token: string) {
    return this.store.delete(token);
  }
  all() {
    return this.store.all();
  }
  close() {
    return this.store.close();
  }
}

class SqliteBench extends SqliteStore implements BenchStore {
  count() {
    return Promise.resolve(this.size);
  }
}

function buntTarget(sync: SyncPolicy, durability: string): StoreTarget {
  return {
    id: `bunt-${sync}`,
    label: `BuntStore sync=${sync}`,
    durability,
    persistent: true,
    slow: sync === "always",
    async open(dir) {
      const store = await BuntStore.open(`${dir}/sessions.db`, {
        sync,
        // The bench measures compaction on its own, with shrink().
        autoShrinkDisabled: true,
      });
      return new Counted(store, () => Promise.resolve(store.size));
    },
    bunt: (store) => (store as Counted<BuntStore>).store,
  };
}

/** Every store target, in chart order. */
export const STORE_TARGETS: StoreTarget[] = [
  buntTarget(
    "everysecond",
    "written to the OS before save resolves (survives kill -9); fdatasync at most once a second (default)",
  ),
  buntTarget(
    "always",
    "fdatasync before save resolves; concurrent saves share one fsync",
  ),
  buntTarget("never", "written to the OS before save resolves; no fsync"),
  {
    id: "sqlite",
    label: "node:sqlite (WAL, NORMAL)",
    durability:
      "committed to the WAL before save resolves (survives kill -9); fsync at checkpoints (journal_mode=WAL, synchronous=NORMAL)",
    persistent: true,
    slow: true,
    open(dir) {
      return Promise.resolve(new SqliteBench(`${dir}/sessions.sqlite`));
    },
  },
  {
    id: "kv",
    label: "Deno KV (local file)",
    durability:
      "one atomic commit per save with expireIn (Deno KV's SQLite defaults)",
    persistent: true,
    slow: true,
    async open(dir) {
      const store = await KvStore.open(`${dir}/sessions.kv`);
      return new Counted(store, async () => (await store.all()).size);
    },
  },
  {
    id: "go-buntdb",
    label: "Go buntdb 1.1.7 (EverySecond)",
    durability:
      "written to the OS before Update returns; fsync at most once a second (buntdb's default)",
    persistent: true,
    slow: false,
    open() {
      return Promise.reject(new Error("Go buntdb runs in its own process"));
    },
    external: runGoBuntdb,
  },
  {
    id: "map",
    label: "Map (ceiling)",
    durability: "none: memory only",
    persistent: false,
    slow: false,
    open() {
      return Promise.resolve(new MapStore());
    },
  },
];

/** Picks targets by id; all when `only` is empty. */
export function pickTargets(only: string[]): StoreTarget[] {
  if (only.length === 0) return STORE_TARGETS;
  const picked = STORE_TARGETS.filter((t) => only.includes(t.id));
  if (picked.length === 0) {
    throw new RangeError(`No store target matches --only ${only.join(",")}`);
  }
  return picked;
}
