/**
 * A `node:sqlite` session store for the benchmarks: the peer that people
 * would pick for "durable sessions in one file". Configured the way a
 * careful user would: WAL journal, `synchronous=NORMAL` (a commit survives
 * a process crash; a power cut may lose the last commits, like BuntStore's
 * "everysecond"), prepared statements, and an indexed expiry column (what a
 * cleanup job would delete by), as issue 5 sets it up.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { SessionStore } from "../session_store.ts";

/** A {@linkcode SessionStore} on one SQLite file through `node:sqlite`. */
export class SqliteStore implements SessionStore, AsyncDisposable {
  readonly #db: DatabaseSync;
  readonly #now = Date.now;
  readonly #find: StatementSync;
  readonly #save: StatementSync;
  readonly #delete: StatementSync;
  readonly #all: StatementSync;
  readonly #count: StatementSync;
  #closed = false;

  /**
   * Opens (creating if needed) the database at `path`.
   *
   * @param path A file path or `:memory:`.
   */
  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS sessions (
        token TEXT PRIMARY KEY,
        data BLOB NOT NULL,
        expiry INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions (expiry);
    `);
    this.#find = this.#db.prepare(
      "SELECT data FROM sessions WHERE token = ? AND expiry > ?",
    );
    this.#save = this.#db.prepare(
      `INSERT INTO sessions (token, data, expiry) VALUES (?, ?, ?)
       ON CONFLICT (token) DO UPDATE SET data = excluded.data,
       expiry = excluded.expiry`,
    );
    this.#delete = this.#db.prepare("DELETE FROM sessions WHERE token = ?");
    this.#all = this.#db.prepare(
      "SELECT token, data FROM sessions WHERE expiry > ?",
    );
    this.#count = this.#db.prepare(
      "SELECT count(*) AS n FROM sessions WHERE expiry > ?",
    );
  }

  /** Live sessions. */
  get size(): number {
    const row = this.#count.get(this.#now()) as { n: number };
    return Number(row.n);
  }

  /** Returns the data under `token`, or undefined when missing or expired. */
  find(token: string): Promise<Uint8Array | undefined> {
    const row = this.#find.get(token, this.#now()) as
      | { data: Uint8Array }
      | undefined;
    return Promise.resolve(row?.data);
  }

  /** Saves `data` under `token` until `expiry`; a past expiry deletes. */
  save(token: string, data: Uint8Array, expiry: Date): Promise<void> {
    const ms = expiry.getTime();
    if (ms <= this.#now()) this.#delete.run(token);
    else this.#save.run(token, data, ms);
    return Promise.resolve();
  }

  /** Deletes `token`; no error when missing. */
  delete(token: string): Promise<void> {
    this.#delete.run(token);
    return Promise.resolve();
  }

  /** Every live entry. */
  all(): Promise<Map<string, Uint8Array>> {
    const rows = this.#all.all(this.#now()) as {
      token: string;
      data: Uint8Array;
    }[];
    return Promise.resolve(new Map(rows.map((r) => [r.token, r.data])));
  }

  /** Checkpoints the WAL and closes the database. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    this.#db.close();
    return Promise.resolve();
  }

  /** Same as {@linkcode SqliteStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
