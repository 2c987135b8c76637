// A small replicated key-value node for distlab's JavaScript example.
//
//   node server.js --id n1 --port P --peer-port Q --peers n2=127.0.0.1:X,n3=127.0.0.1:Y
//                  --data-dir D [--naive]
//
// Correct mode (default): one fixed leader, the smallest node id. Every
// client request is forwarded to it and it handles one op at a time. A write
// is made durable on the leader's disk and acknowledged by a majority of the
// nodes before the client hears "ok"; a read is answered only after a
// majority confirms the leader can still reach it. Without a majority the
// leader answers 503, so the system loses availability under a partition or
// while the leader is down, never consistency. There is no failover: that
// keeps the example short, and a fixed leader is still a correct design.
//
// Naive mode (--naive): every node accepts reads and writes locally, answers
// at once and replicates writes to its peers in the background,
// last-writer-wins by (timestamp, node id). Fast and available, and not
// linearizable: a partition lets both sides serve different values.
//
// Client port (JSON over HTTP):
//   GET  /health                         -> 200 ok
//   GET  /kv/KEY                         -> 200 {"value": v}        (null when never written)
//   PUT  /kv/KEY   {"value": v}          -> 200 {}
//   POST /cas/KEY  {"expected": e, "new": n} -> 200 {} | 409 {"error": "mismatch"}
//   503 {"error": ..., "definite": true|false}: definite means the op did not happen.
// Peer port: POST /op (a forwarded client op), /replicate, /confirm, /lww.

"use strict";

const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const PEER_TIMEOUT_MS = 500;
// After a failed forward, a follower refuses (without forwarding) for this long.
const BACKOFF_MS = 300;

function parseArgs(argv) {
  const args = { peers: "", dataDir: "", naive: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) fail(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === "--id") args.id = next();
    else if (flag === "--port") args.port = Number(next());
    else if (flag === "--peer-port") args.peerPort = Number(next());
    else if (flag === "--peers") args.peers = next();
    else if (flag === "--data-dir") args.dataDir = next();
    else if (flag === "--naive") args.naive = true;
    else fail(`unknown flag ${flag}`);
  }
  if (!args.id || !args.port || !args.peerPort) fail("--id, --port and --peer-port are required");
  return args;
}

function fail(message) {
  process.stderr.write(`js-kv: ${message}\n`);
  process.exit(2);
}

// "n2=127.0.0.1:4001,n3=127.0.0.1:4002" -> {n2: "http://127.0.0.1:4001", ...}, without ourselves.
function parsePeers(text, self) {
  const peers = {};
  for (const entry of text.split(",").filter(Boolean)) {
    const [id, address] = entry.split("=");
    if (!id || !address) fail(`bad peer entry ${JSON.stringify(entry)}, want id=host:port`);
    if (id !== self) peers[id] = `http://${address}`;
  }
  return peers;
}

async function post(url, body, timeoutMs = PEER_TIMEOUT_MS) {
  const reply = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: reply.status, body: await reply.json() };
}

// Resolves true once `needed` of the promises resolved truthy, false once that cannot happen.
function quorum(promises, needed) {
  return new Promise((resolve) => {
    let yes = 0;
    let settled = 0;
    if (needed <= 0) return resolve(true);
    for (const p of promises) {
      p.then(
        (ok) => ok,
        () => false,
      ).then((ok) => {
        settled++;
        if (ok) yes++;
        if (yes >= needed) resolve(true);
        else if (settled - yes > promises.length - needed) resolve(false);
      });
    }
  });
}

class Store {
  // The leader's durable state: a JSON-lines log replayed at start, fsynced per write.
  constructor(dataDir) {
    this.values = new Map();
    this.file = null;
    if (!dataDir) return;
    fs.mkdirSync(dataDir, { recursive: true });
    this.file = path.join(dataDir, "kv.log");
    if (fs.existsSync(this.file)) {
      for (const line of fs.readFileSync(this.file, "utf8").split("\n")) {
        // A torn last line (killed mid-write) was never acknowledged: skip it.
        try {
          const { key, value } = JSON.parse(line);
          this.values.set(key, value);
        } catch {}
      }
    }
    this.fd = fs.openSync(this.file, "a");
  }

  get(key) {
    return this.values.has(key) ? this.values.get(key) : null;
  }

  put(key, value) {
    if (this.file) {
      fs.writeSync(this.fd, JSON.stringify({ key, value }) + "\n");
      fs.fsyncSync(this.fd);
    }
    this.values.set(key, value);
  }
}

class Node {
  constructor(args) {
    this.id = args.id;
    this.naive = args.naive;
    this.peers = parsePeers(args.peers, args.id);
    this.leader = [this.id, ...Object.keys(this.peers)].sort()[0];
    this.majority = Math.floor((Object.keys(this.peers).length + 1) / 2) + 1;
    this.store = new Store(args.dataDir);
    this.stamps = new Map(); // naive mode: key -> [timestamp, node id] of the value held
    this.queue = Promise.resolve(); // the leader's ops, one at a time
    this.clock = 0;
    this.leaderDownUntil = 0; // followers: when to try forwarding to the leader again
  }

  // --- client requests -------------------------------------------------

  async clientOp(op) {
    if (this.naive) return this.naiveOp(op);
    if (this.id === this.leader) return this.serialized(op);
    if (Date.now() < this.leaderDownUntil) {
      // Not sent at all, so it certainly did not happen: the client may call it a failure.
      return [503, { error: `leader ${this.leader} unreachable moments ago`, definite: true }];
    }
    try {
      const reply = await post(`${this.peers[this.leader]}/op`, op, 2 * PEER_TIMEOUT_MS);
      return [reply.status, reply.body];
    } catch (e) {
      // Stop forwarding for a moment: each request sent into a dead link is one
      // more op of unknown outcome, and those are what make histories slow to check.
      this.leaderDownUntil = Date.now() + BACKOFF_MS;
      // The leader may have applied it before the link broke: we cannot tell.
      return [503, { error: `leader ${this.leader} unreachable: ${e.cause?.code || e.name}`, definite: false }];
    }
  }

  serialized(op) {
    const result = this.queue.then(() => this.leaderOp(op));
    this.queue = result.catch(() => {});
    return result;
  }

  async leaderOp(op) {
    const { f, key } = op;
    if (f === "read") {
      const confirmed = await this.confirm();
      if (!confirmed) return [503, { error: "no majority to confirm the read", definite: true }];
      return [200, { value: this.store.get(key) }];
    }
    let value = op.value;
    if (f === "cas") {
      if (!sameValue(this.store.get(key), op.expected)) return [409, { error: "mismatch" }];
      value = op.new;
    } else if (f !== "write") {
      return [400, { error: `unknown op ${f}`, definite: true }];
    }
    // Durable and visible on the leader first: from here on the write has happened
    // even if the majority never answers, so such a reply says "not definite".
    this.store.put(key, value);
    const acked = await this.replicate({ key, value });
    if (!acked) return [503, { error: "no majority acknowledged the write", definite: false }];
    return [200, {}];
  }

  replicate(entry) {
    const asks = Object.values(this.peers).map((url) =>
      post(`${url}/replicate`, entry).then((r) => r.status === 200),
    );
    return quorum(asks, this.majority - 1);
  }

  confirm() {
    const asks = Object.values(this.peers).map((url) =>
      post(`${url}/confirm`, { leader: this.id }).then((r) => r.status === 200),
    );
    return quorum(asks, this.majority - 1);
  }

  // --- naive mode: local answers, background last-writer-wins ------------

  naiveOp(op) {
    const { f, key } = op;
    if (f === "read") return [200, { value: this.store.get(key) }];
    let value = op.value;
    if (f === "cas") {
      if (!sameValue(this.store.get(key), op.expected)) return [409, { error: "mismatch" }];
      value = op.new;
    } else if (f !== "write") {
      return [400, { error: `unknown op ${f}`, definite: true }];
    }
    this.clock = Math.max(this.clock + 1, Date.now() * 1000);
    const stamp = [this.clock, this.id];
    this.applyLww(key, value, stamp);
    for (const url of Object.values(this.peers)) {
      post(`${url}/lww`, { key, value, stamp }).catch(() => {}); // lost in a partition: never retried
    }
    return [200, {}];
  }

  applyLww(key, value, stamp) {
    const held = this.stamps.get(key);
    if (held && (held[0] > stamp[0] || (held[0] === stamp[0] && held[1] >= stamp[1]))) return;
    this.stamps.set(key, stamp);
    this.clock = Math.max(this.clock, stamp[0]);
    this.store.put(key, value);
  }

  // --- peer requests ---------------------------------------------------

  async peerOp(route, body) {
    if (route === "/op") return this.id === this.leader ? this.serialized(body) : [421, { error: "not the leader" }];
    if (route === "/replicate") {
      this.store.put(body.key, body.value);
      return [200, {}];
    }
    if (route === "/confirm") return body.leader === this.leader ? [200, {}] : [409, { error: "other leader" }];
    if (route === "/lww") {
      this.applyLww(body.key, body.value, body.stamp);
      return [200, {}];
    }
    return [404, { error: `no route ${route}` }];
  }
}

function sameValue(a, b) {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      try {
        resolve(text ? JSON.parse(text) : {});
      } catch {
        reject(new Error("body is not JSON"));
      }
    });
    req.on("error", reject);
  });
}

function serve(port, handle) {
  const server = http.createServer(async (req, res) => {
    let status = 500;
    let body = { error: "internal" };
    try {
      [status, body] = await handle(req, await readBody(req));
    } catch (e) {
      [status, body] = [400, { error: e.message, definite: true }];
    }
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, "127.0.0.1");
  return server;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const node = new Node(args);
  serve(args.port, (req, body) => {
    const url = new URL(req.url, "http://x");
    if (url.pathname === "/health") return [200, { id: node.id, leader: node.leader, naive: node.naive }];
    const [, route, key] = url.pathname.split("/").map(decodeURIComponent);
    if (route === "kv" && key && req.method === "GET") return node.clientOp({ f: "read", key });
    if (route === "kv" && key && req.method === "PUT") return node.clientOp({ f: "write", key, value: body.value ?? null });
    if (route === "cas" && key && req.method === "POST")
      return node.clientOp({ f: "cas", key, expected: body.expected ?? null, new: body.new ?? null });
    return [404, { error: `no route ${req.method} ${url.pathname}`, definite: true }];
  });
  serve(args.peerPort, (req, body) => node.peerOp(new URL(req.url, "http://x").pathname, body));
  for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => process.exit(0));
}

main();
