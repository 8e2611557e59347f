/**
 * The cost of the `encryption` option without a network in the way, for
 * bench/README.md's verdict on issue 23 (the HTTP rows come from
 * `http_bench.ts`'s `-encrypted` targets):
 *
 * 1. AES-256-GCM of one session record (the HTTP bench's: 200 bytes of
 *    data and a counter) through `node:crypto`, which the option uses,
 *    against WebCrypto (`crypto.subtle`), one call at a time; then of 24
 *    KiB, whose MB/s tell the cipher's speed from the cost of a call.
 * 2. The session layer's CPU time per request, the wrapped handler called
 *    on `new Request(...)` as the HTTP bench's routes (a write, and a read
 *    of a session in memory), on a `:memory:` BuntStore, with encryption
 *    off and on, alternating in each round.
 *
 * Each figure is min / median / max over the rounds. Usage:
 * deno run -A bench/encryption_bench.ts [--rounds 31]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { BuntStore, SessionManager } from "../mod.ts";
import { SessionCipher } from "../_session/encryption.ts";
import { jsonSessionCodec } from "../_session/codec.ts";
import { summarize, type Summary } from "./_common.ts";

/** The HTTP bench's session data (bench/_http_server.ts). */
const SESSION_DATA = "x".repeat(200);

const { values } = parseArgs({
  args: Deno.args,
  options: { rounds: { type: "string", default: "31" } },
});
const ROUNDS = Number(values.rounds);
const KEY = crypto.getRandomValues(new Uint8Array(32));
const STORE_KEY = "k".repeat(43);

function fmt(s: Summary, digits = 2): string {
  return `${s.median.toFixed(digits)} [${s.min.toFixed(digits)}-${
    s.max.toFixed(digits)
  }]`;
}

/** Microseconds per call of `fn`, one figure per round. */
async function perCall(
  fn: () => unknown,
  calls: number,
): Promise<number[]> {
  for (let i = 0; i < calls / 10; i++) await fn();
  const out = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    for (let i = 0; i < calls; i++) await fn();
    out.push((performance.now() - start) * 1000 / calls);
  }
  return out;
}

const record: Uint8Array<ArrayBuffer> = new Uint8Array(jsonSessionCodec.encode({
  deadline: Date.now() + 3_600_000,
  savedAt: Date.now(),
  createdAt: Date.now(),
  values: { data: SESSION_DATA, n: 12345 },
}));
const cipher = new SessionCipher({ keys: [KEY] });
const sealed = cipher.seal(STORE_KEY, record);
const rawKey: Uint8Array<ArrayBuffer> = new Uint8Array(KEY);
const webKey = await crypto.subtle.importKey(
  "raw",
  rawKey,
  "AES-GCM",
  false,
  ["encrypt", "decrypt"],
);
const iv = new Uint8Array(12);
const aad = new TextEncoder().encode(STORE_KEY);
const webSealed = await crypto.subtle.encrypt(
  { name: "AES-GCM", iv, additionalData: aad },
  webKey,
  record,
);
console.log(`AES-256-GCM of one ${record.byteLength}-byte record, µs/call:`);
for (
  const [name, fn] of [
    ["node:crypto seal", () => cipher.seal(STORE_KEY, record)],
    ["node:crypto open", () => cipher.open(STORE_KEY, sealed)],
    [
      "WebCrypto encrypt",
      () =>
        crypto.subtle.encrypt(
          {
            name: "AES-GCM",
            iv: crypto.getRandomValues(new Uint8Array(12)),
            additionalData: aad,
          },
          webKey,
          record,
        ),
    ],
    [
      "WebCrypto decrypt",
      () =>
        crypto.subtle.decrypt(
          { name: "AES-GCM", iv, additionalData: aad },
          webKey,
          webSealed,
        ),
    ],
  ] as const
) {
  console.log(
    `  ${name.padEnd(18)} ${fmt(summarize(await perCall(fn, 2000)))}`,
  );
}

// Throughput, to tell AES itself from the per-call overhead.
const big: Uint8Array<ArrayBuffer> = new Uint8Array(24 * 1024);
console.log("AES-256-GCM of 24 KiB, MB/s:");
for (
  const [name, fn] of [
    ["node:crypto seal", () => cipher.seal(STORE_KEY, big)],
    [
      "WebCrypto encrypt",
      () => crypto.subtle.encrypt({ name: "AES-GCM", iv }, webKey, big),
    ],
  ] as const
) {
  const mbs = (await perCall(fn, 100)).map((us) => big.byteLength / us);
  console.log(`  ${name.padEnd(18)} ${fmt(summarize(mbs), 0)}`);
}

/** A server's handler with the HTTP bench's routes, and a session cookie. */
async function server(encrypted: boolean) {
  const store = await BuntStore.open(":memory:");
  const sessions = new SessionManager<{ n: number; data: string }>({
    store,
    cookie: { secure: false },
    ...(encrypted ? { encryption: { keys: [KEY] } } : {}),
  });
  const handler = sessions.wrap(async (req) => {
    const session = await sessions.of(req);
    if (new URL(req.url).pathname === "/write") {
      if (!session.has("data")) session.put("data", SESSION_DATA);
      session.put("n", (session.get("n") ?? 0) + 1);
    }
    return new Response(String(session.get("n") ?? 0));
  });
  const first = await handler(new Request("http://localhost/write"));
  const cookie = first.headers.get("set-cookie")!.split(";")[0]!;
  const call = async (path: string) => {
    const response = await handler(
      new Request(`http://localhost${path}`, { headers: { cookie } }),
    );
    await response.arrayBuffer();
  };
  return { store, call };
}

const plain = await server(false);
const encrypted = await server(true);
const runs = {
  plain: { read: [], write: [] },
  encrypted: { read: [], write: [] },
} as Record<
  "plain" | "encrypted",
  Record<"read" | "write", number[]>
>;
const ROUND_CALLS = 2000;
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0
    ? [["plain", plain], ["encrypted", encrypted]] as const
    : [["encrypted", encrypted], ["plain", plain]] as const;
  for (const route of ["read", "write"] as const) {
    for (const [name, s] of order) {
      const start = performance.now();
      for (let i = 0; i < ROUND_CALLS; i++) await s.call(`/${route}`);
      runs[name][route].push((performance.now() - start) * 1000 / ROUND_CALLS);
    }
  }
}
console.log(
  "Session layer per request (wrapped handler, :memory: BuntStore), µs:",
);
for (const route of ["read", "write"] as const) {
  const ratio = runs.plain[route].map((p, i) => p / runs.encrypted[route][i]!);
  console.log(
    `  ${route.padEnd(5)} plain ${fmt(summarize(runs.plain[route]))}` +
      `  encrypted ${fmt(summarize(runs.encrypted[route]))}` +
      `  speed encrypted/plain ${fmt(summarize(ratio), 3)}x`,
  );
}
await plain.store.close();
await encrypted.store.close();
