/**
 * Per-request data of one manager, kept on the request itself under a
 * private symbol.
 *
 * Not a `WeakMap<Request, …>`: under load V8's young-generation GC keeps
 * ephemeron values alive, so every request's session objects survived two
 * scavenges, were promoted and needed a mark-compact every few hundred ms.
 * Measured on Deno 2.9.6 with wrk: a bare `Deno.serve` handler that only
 * adds a `WeakMap` entry per request went from ~1 MB to ~16 MB surviving
 * each scavenge, with 5–8 ms scavenges and p99 latency of ~10 ms; with a
 * symbol property it stays at ~1 MB.
 *
 * @module
 */

/** A slot for one value per request. */
export class RequestSlot<V> {
  readonly #symbol = Symbol("buntstore session");

  /** Returns the value stored for `request`, if any. */
  get(request: Request): V | undefined {
    return (request as unknown as Record<symbol, V | undefined>)[this.#symbol];
  }

  /** Stores `value` for `request`. */
  set(request: Request, value: V): void {
    (request as unknown as Record<symbol, V>)[this.#symbol] = value;
  }
}
