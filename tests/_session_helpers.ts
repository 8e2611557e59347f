// Shared helpers for the session middleware tests.

import { MemoryStore, type SessionStore } from "@x/buntstore";

/** A clock the test moves by hand. */
export class Clock {
  time = 1_800_000_000_000;
  now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

/** A store wrapper that counts calls and can be told to fail. */
export class SpyStore implements SessionStore {
  readonly inner: SessionStore;
  finds = 0;
  saves = 0;
  deletes = 0;
  fail: "find" | "save" | "delete" | undefined;
  saveDelay = 0;
  /** While set, every `save` waits for it before writing. */
  holdSaves: Promise<void> | undefined;

  constructor(inner: SessionStore) {
    this.inner = inner;
  }

  find(token: string): Promise<Uint8Array | undefined> {
    this.finds++;
    if (this.fail === "find") return Promise.reject(new Error("find failed"));
    return this.inner.find(token);
  }

  async save(token: string, data: Uint8Array, expiry: Date): Promise<void> {
    this.saves++;
    if (this.fail === "save") throw new Error("save failed");
    if (this.saveDelay > 0) {
      await new Promise((resolve) => setTimeout(resolve, this.saveDelay));
    }
    await this.holdSaves;
    await this.inner.save(token, data, expiry);
  }

  delete(token: string): Promise<void> {
    this.deletes++;
    if (this.fail === "delete") {
      return Promise.reject(new Error("delete failed"));
    }
    return this.inner.delete(token);
  }

  all(): Promise<Map<string, Uint8Array>> {
    return this.inner.all!();
  }
}

/**
 * A second store object over the same data, standing for a restarted
 * server: managers share what is in memory per store object, so a manager
 * on this one starts cold and reads from the store.
 */
export function restarted(store: SessionStore): SessionStore {
  return {
    find: (key) => store.find(key),
    save: (key, data, expiry) => store.save(key, data, expiry),
    delete: (key) => store.delete(key),
    all: () => store.all!(),
  };
}

/** Lets every pending promise callback and timer of this turn run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A MemoryStore on `clock`, wrapped in a SpyStore; close with `using`. */
export function spyStore(clock: Clock): SpyStore & AsyncDisposable {
  const memory = new MemoryStore({ now: clock.now });
  const spy = new SpyStore(memory) as SpyStore & AsyncDisposable;
  spy[Symbol.asyncDispose] = () => memory.close();
  return spy;
}

/** Returns the `name=value` part of the response's Set-Cookie, or undefined. */
export function cookiePair(response: Response): string | undefined {
  return response.headers.get("set-cookie")?.split(";")[0];
}

/** Parses a Set-Cookie header's attributes into a lower-cased map. */
export function attributes(setCookie: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const part of setCookie.split(";").slice(1)) {
    const [name, ...value] = part.trim().split("=");
    map.set(name!.toLowerCase(), value.join("="));
  }
  return map;
}

/** A GET request to `path` on `origin`, with a Cookie header if given. */
export function get(
  path: string,
  cookie?: string,
  origin = "https://example.com",
): Request {
  return new Request(
    origin + path,
    cookie === undefined ? {} : { headers: { cookie } },
  );
}

/** Reads and returns the body text (so no body is left open). */
export function text(response: Response): Promise<string> {
  return response.text();
}
