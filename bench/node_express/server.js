// The JS peers of the HTTP bench: express + express-session, with
// session-file-store (STORE=file) or memorystore (STORE=memory), serving
// the same two routes as bench/_http_server.ts. Prints {"port": N} once
// listening. Usage: STORE=file DIR=/tmp/x node server.js
"use strict";
const express = require("express");
const session = require("express-session");

const TTL_MS = 3_600_000;
const DATA = "x".repeat(200);
const kind = process.env.STORE ?? "memory";

let store;
if (kind === "file") {
  const FileStore = require("session-file-store")(session);
  // Defaults otherwise (retries, JSON files, hourly reaping); quiet logs.
  store = new FileStore({
    path: process.env.DIR ?? "./sessions",
    ttl: TTL_MS / 1000,
    logFn: () => {},
  });
} else if (kind === "memory") {
  const MemoryStore = require("memorystore")(session);
  store = new MemoryStore({ checkPeriod: TTL_MS });
} else {
  throw new RangeError(`Unknown STORE: ${kind}`);
}

const app = express();
app.disable("x-powered-by");
app.disable("etag");
app.use(session({
  store,
  secret: "bench-secret",
  resave: false,
  saveUninitialized: false,
  cookie: { maxAge: TTL_MS, httpOnly: true, sameSite: "lax", secure: false },
}));
app.get("/read", (req, res) => {
  res.type("text/plain").send(String(req.session.n ?? 0));
});
app.get("/write", (req, res) => {
  if (req.session.data === undefined) req.session.data = DATA;
  req.session.n = (req.session.n ?? 0) + 1;
  res.type("text/plain").send(String(req.session.n));
});

const server = app.listen(0, "127.0.0.1", () => {
  console.log(JSON.stringify({ port: server.address().port }));
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
