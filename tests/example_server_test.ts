// The example server over a real Deno.serve, driven like browsers with
// cookie jars: log in on two devices, list them, log out everywhere, and
// restart on the same file.

import assert from "node:assert/strict";
import { BuntStore } from "@x/buntstore";
import { exampleHandler } from "../examples/server.ts";

/** A browser's cookie jar and a fetch that uses it. */
function browser(origin: () => string) {
  const jar = new Map<string, string>();
  return async (path: string) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const response = await fetch(origin() + path, {
      headers: cookie ? { cookie } : {},
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";");
      const [name, value] = pair!.split("=") as [string, string];
      if (value === "" || attrs.some((a) => /max-age=0/i.test(a))) {
        jar.delete(name);
      } else jar.set(name, value);
    }
    return { status: response.status, body: await response.text(), jar };
  };
}

Deno.test("examples/server.ts: devices, log out everywhere and a restart through Deno.serve", async () => {
  const dir = await Deno.makeTempDir();
  let origin = "";
  const serve = async (run: () => Promise<void>) => {
    await using store = await BuntStore.open(`${dir}/sessions.db`);
    const server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      exampleHandler(store),
    );
    origin = `http://127.0.0.1:${server.addr.port}`;
    try {
      await run();
    } finally {
      await server.shutdown();
    }
  };
  const phone = browser(() => origin);
  const laptop = browser(() => origin);
  const bob = browser(() => origin);
  try {
    await serve(async () => {
      assert.equal((await phone("/")).body, "hello stranger, visit 1\n");
      assert.equal((await phone("/login")).body, "logged in as ada\n");
      assert.equal((await phone("/")).body, "hello ada, visit 2\n");
      await laptop("/login");
      await bob("/login?user=bob");
      const listed = await laptop("/devices");
      const devices = JSON.parse(listed.body);
      assert.equal(devices.length, 2);
      assert.equal(
        devices.filter((d: { current: boolean }) => d.current).length,
        1,
      );
      for (const jar of [phone, laptop]) {
        const { jar: cookies } = await jar("/favicon.ico");
        assert.ok(!listed.body.includes(cookies.get("session")!));
      }
      // One device logs out another, by the id its list shows.
      const tablet = browser(() => origin);
      await tablet("/login");
      const tabletId = JSON.parse((await tablet("/devices")).body)
        .find((d: { current: boolean }) => d.current).id;
      assert.equal(
        (await bob(`/logout-device?id=${tabletId}`)).body,
        "logged out 0 sessions\n",
      );
      assert.equal(
        (await laptop(`/logout-device?id=${tabletId}`)).body,
        "logged out 1 sessions\n",
      );
      assert.equal((await tablet("/")).body, "hello stranger, visit 1\n");
      const out = await phone("/logout-everywhere");
      assert.equal(out.body, "logged out 2 sessions\n");
      assert.equal(out.jar.size, 0);
      assert.equal((await laptop("/")).body, "hello stranger, visit 1\n");
      assert.equal((await bob("/")).body, "hello bob, visit 1\n");
    });
    // A restart reads what survived from the file.
    await serve(async () => {
      assert.equal((await bob("/")).body, "hello bob, visit 2\n");
      assert.equal((await phone("/devices")).status, 401);
      assert.equal((await laptop("/")).body, "hello stranger, visit 2\n");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples/server.ts sends exactly the Set-Cookie headers the README's transcript shows", async () => {
  await using store = await BuntStore.open(":memory:");
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    exampleHandler(store),
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  let cookie = "";
  const curl = async (path: string) => {
    const response = await fetch(origin + path, {
      headers: cookie ? { cookie } : {},
    });
    const setCookie = response.headers.get("set-cookie");
    if (setCookie !== null) cookie = setCookie.split(";")[0]!;
    return { body: await response.text(), setCookie };
  };
  try {
    const put = await curl("/put");
    assert.deepEqual(put.body, "stored\n");
    assert.match(put.setCookie!, /^session=[\w-]{43}; Max-Age=86400; Path=\/;/);
    assert.deepEqual(await curl("/get"), {
      body: "Hello world!\n",
      setCookie: null,
    });
    // A write that keeps the token and the cookie's expiry sends no cookie.
    assert.deepEqual(await curl("/"), {
      body: "hello stranger, visit 1\n",
      setCookie: null,
    });
    const login = await curl("/login");
    assert.equal(login.body, "logged in as ada\n");
    assert.match(login.setCookie!, /^session=[\w-]{43}; Max-Age=86400;/);
    assert.deepEqual(await curl("/"), {
      body: "hello ada, visit 2\n",
      setCookie: null,
    });
    const logout = await curl("/logout");
    assert.equal(logout.body, "logged out\n");
    assert.match(
      logout.setCookie!,
      /^session=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:01 GMT; HttpOnly; SameSite=Lax$/,
    );
  } finally {
    await server.shutdown();
  }
});
