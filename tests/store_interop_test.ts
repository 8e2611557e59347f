/**
 * Interop with Go buntdb: a file written by Go buntdb (tests/go/) must open
 * in BuntStore with the same keys, values and expiries.
 *
 * Only Go -> Deno is proven here. The buntdb on our machines is Debian's
 * 1.1.7 (`golang-github-tidwall-buntdb-dev`), which writes and reads only
 * the legacy `ex <seconds left>` form; BuntStore writes the absolute `ae`
 * form that later buntdb versions read, which 1.1.7 rejects, so Deno -> Go
 * is not tested.
 *
 * Needs `go` and buntdb's source in GOPATH: `apt-get install -y golang-go
 * golang-github-tidwall-buntdb-dev` (.ci/run does it).
 */

import { buildGoProgram } from "../bench/_go_buntdb.ts";
import assert from "node:assert/strict";
import { BuntStore } from "../mod.ts";
import { contents, sorted, tempDir } from "./_fixtures.ts";

const PROGRAM = new URL("./go/buntdb_interop.go", import.meta.url).pathname;

Deno.test("BuntStore.open() reads a file written by Go buntdb, legacy ex expiries included", async () => {
  await using tmp = await tempDir();
  const binary = await buildGoProgram(PROGRAM, `${tmp.dir}/buntdb_interop`);
  const output = await new Deno.Command(binary, {
    args: ["write", tmp.path],
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  // `ex` counts from the file's mtime: pin it to read expiries exactly.
  const mtime = 1_700_000_000;
  await Deno.utime(tmp.path, mtime, mtime);
  const at = async (seconds: number) => {
    const clock = seconds * 1000;
    const store = await BuntStore.open(tmp.path, { now: () => clock });
    try {
      return sorted(await contents(store));
    } finally {
      await store.close();
    }
  };
  const persistent: [string, string][] = [
    ["bin", "a\r\nb\0c*2\r\n"],
    ["clé", "ü"],
    ["overwritten", "new"],
    ["plain", "v1"],
  ];
  // buntdb 1.1.7 writes the whole seconds left: 59 and 3599.
  assert.deepEqual(
    await at(mtime + 1),
    sorted(
      new Map([...persistent, ["ttl-hour", "h"], ["ttl-minute", "m"]]),
    ),
  );
  assert.deepEqual(
    await at(mtime + 59 - 0.001),
    sorted(
      new Map([...persistent, ["ttl-hour", "h"], ["ttl-minute", "m"]]),
    ),
  );
  assert.deepEqual(
    await at(mtime + 59),
    sorted(new Map([...persistent, ["ttl-hour", "h"]])),
  );
  assert.deepEqual(await at(mtime + 3599), persistent);

  // A compaction turns the relative expiries into absolute ones.
  const store = await BuntStore.open(tmp.path, { now: () => mtime * 1000 });
  try {
    await store.shrink();
  } finally {
    await store.close();
  }
  await Deno.utime(tmp.path, mtime + 100_000, mtime + 100_000);
  assert.deepEqual(
    await at(mtime + 3599 - 0.001),
    sorted(new Map([...persistent, ["ttl-hour", "h"]])),
  );
  assert.deepEqual(await at(mtime + 3599), persistent);
});
