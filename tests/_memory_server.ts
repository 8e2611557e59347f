/**
 * The example handler on a `MemoryStore`, as a `deno serve` module, for
 * tests/parallel_test.ts.
 *
 * @module
 */

import { MemoryStore } from "../memory_store.ts";
import { exampleHandler } from "../examples/server.ts";

export default {
  fetch: exampleHandler(new MemoryStore()),
} satisfies Deno.ServeDefaultExport;
