/**
 * Sessions for Deno, kept in memory and in one append-only log file in
 * buntdb's format.
 *
 * @example Saving and finding a session in memory
 * ```ts
 * import { BuntStore } from "@x/buntstore";
 * import assert from "node:assert/strict";
 *
 * await using store = await BuntStore.open(":memory:");
 * const expiry = new Date(Date.now() + 60_000);
 * await store.save("token", new TextEncoder().encode("hello"), expiry);
 * assert.equal(new TextDecoder().decode(await store.find("token")), "hello");
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./memory_store.ts";
export type * from "./session_store.ts";
export * from "./store.ts";
export * from "./session.ts";
