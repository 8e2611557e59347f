/**
 * The example server as a `deno serve` module whose responses name the
 * worker that served them (`x-worker`), for tests/parallel_shared_test.ts.
 * `SESSION_STORE` picks the store, as in the example.
 *
 * @module
 */

import { exampleHandler } from "../examples/server.ts";
import { storeFromUrl } from "../examples/_store_from_url.ts";

const worker = crypto.randomUUID();
const handler = exampleHandler(
  await storeFromUrl(Deno.env.get("SESSION_STORE")),
);

export default {
  async fetch(request: Request): Promise<Response> {
    const response = await handler(request);
    response.headers.set("x-worker", worker);
    return response;
  },
} satisfies Deno.ServeDefaultExport;
