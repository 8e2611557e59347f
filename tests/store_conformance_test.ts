import { join } from "node:path";
import { BuntStore } from "../store.ts";
import { MemoryStore } from "../memory_store.ts";
import { KvStore } from "../kv_store.ts";
import { RedisStore } from "../redis_store.ts";
import { startRedisServer } from "./_redis_server.ts";
import { testStoreConformance } from "./_store_conformance_suite.ts";
import { testOwnerIndexConformance } from "./_owner_index_suite.ts";

testStoreConformance("BuntStore(file)", async (clock) => {
  const dir = await Deno.makeTempDir({ prefix: "buntstore-conformance-" });
  try {
    const store = await BuntStore.open(join(dir, "sessions.db"), {
      now: clock.now,
    });
    return {
      store,
      cleanup: async () => {
        try {
          await store.close();
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
});

testStoreConformance("BuntStore(:memory:)", async (clock) => {
  const store = await BuntStore.open(":memory:", { now: clock.now });
  return { store, cleanup: () => store.close() };
});

testStoreConformance("MemoryStore", async (clock) => {
  const store = new MemoryStore({ now: clock.now });
  return { store, cleanup: () => store.close() };
});

testStoreConformance("KvStore(:memory:)", async (clock) => {
  const store = await KvStore.open(":memory:", { now: clock.now });
  return { store, cleanup: () => store.close() };
});

testStoreConformance("KvStore(file)", async (clock) => {
  const dir = await Deno.makeTempDir({ prefix: "buntstore-kv-" });
  try {
    const store = await KvStore.open(join(dir, "kv.sqlite3"), {
      now: clock.now,
    });
    return {
      store,
      cleanup: async () => {
        try {
          await store.close();
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
});

testStoreConformance("RedisStore", async () => {
  const server = await startRedisServer();
  try {
    const store = await RedisStore.connect(server.url);
    return {
      store,
      cleanup: async () => {
        try {
          await store.close();
        } finally {
          await server.stop();
        }
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}, { realClock: true });

testOwnerIndexConformance("KvStore(:memory:)", async (clock) => {
  const store = await KvStore.open(":memory:", { now: clock.now });
  return { store, cleanup: () => store.close() };
});

testOwnerIndexConformance("KvStore(file)", async (clock) => {
  const dir = await Deno.makeTempDir({ prefix: "buntstore-kv-" });
  const path = join(dir, "kv.sqlite3");
  try {
    let store = await KvStore.open(path, { now: clock.now });
    return {
      get store() {
        return store;
      },
      reopen: async () => {
        await store.close();
        store = await KvStore.open(path, { now: clock.now });
        return store;
      },
      cleanup: async () => {
        try {
          await store.close();
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}, { persistent: true });

testOwnerIndexConformance("RedisStore", async () => {
  const server = await startRedisServer();
  try {
    let store = await RedisStore.connect(server.url);
    return {
      get store() {
        return store;
      },
      reopen: async () => {
        await store.close();
        store = await RedisStore.connect(server.url);
        return store;
      },
      cleanup: async () => {
        try {
          await store.close();
        } finally {
          await server.stop();
        }
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}, { realClock: true, persistent: true });

testOwnerIndexConformance("MemoryStore", (clock) => {
  const store = new MemoryStore({ now: clock.now });
  return Promise.resolve({ store, cleanup: () => store.close() });
});

testOwnerIndexConformance("BuntStore(:memory:)", async (clock) => {
  const store = await BuntStore.open(":memory:", { now: clock.now });
  return { store, cleanup: () => store.close() };
});

testOwnerIndexConformance("BuntStore(file)", async (clock) => {
  const dir = await Deno.makeTempDir({ prefix: "buntstore-owners-" });
  const path = join(dir, "sessions.db");
  try {
    let store = await BuntStore.open(path, { now: clock.now });
    return {
      get store() {
        return store;
      },
      reopen: async () => {
        await store.close();
        store = await BuntStore.open(path, { now: clock.now });
        return store;
      },
      cleanup: async () => {
        try {
          await store.close();
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      },
    };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}, { persistent: true });
