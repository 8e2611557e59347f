/**
 * The session routes every HTTP bench serves, in one place so that the
 * Deno.serve, `deno serve --parallel` and in-process benches measure the
 * same work: `/read` reads a counter, `/write` increments it in a session
 * that also holds `SESSION_DATA`.
 *
 * @module
 */

import type { SessionManager } from "../session.ts";

/** The session data of the writing route: 200 bytes. */
export const SESSION_DATA = "x".repeat(200);

/** What the bench's sessions hold. */
export type BenchSession = { n: number; data: string };

/**
 * Answers `/read` and `/write` with `sessions`; `undefined` for any other
 * path, which the caller answers.
 */
export async function sessionRoute(
  sessions: SessionManager<BenchSession>,
  req: Request,
  path: string,
): Promise<Response | undefined> {
  if (path === "/read") {
    const session = await sessions.of(req);
    return new Response(String(session.get("n") ?? 0));
  }
  if (path === "/write") {
    const session = await sessions.of(req);
    if (!session.has("data")) session.put("data", SESSION_DATA);
    const n = (session.get("n") ?? 0) + 1;
    session.put("n", n);
    return new Response(String(n));
  }
  return undefined;
}
