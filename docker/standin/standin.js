#!/usr/bin/env node
// Stand-in for the AMS app's private images on the end-to-end cluster (.github/workflows/e2e.yml, docs/e2e.md).
// It keeps the application contract the manifests assume (README "Application contract"), and nothing more:
//   api     `node dist/main.js` (the image's CMD)  /health, /health/ready, /metrics, /api/health on $PORT (4000)
//   worker  `node dist/worker.js`                  /health, /metrics on 4001
//   migrate `npx prisma migrate deploy`            logs in to $DATABASE_URL with the app's credentials, SELECT 1
//   web     `node dist/web.js` (the web image)     /healthz and / on 8080, nginx's stub_status on 127.0.0.1:8081
//   check   `node dist/main.js db-check`           the same login through $DATABASE_URL (the api's: the pooler)
// Every request is logged as one JSON line on stdout, so that a probe's line can be found in Loki.
"use strict";

const crypto = require("node:crypto");
const http = require("node:http");
const net = require("node:net");

const ROUTES = {
  api: ["/health", "/health/ready", "/metrics", "/api/health"],
  worker: ["/health", "/metrics"],
  web: ["/healthz", "/"],
};
const PORTS = { api: 4000, worker: 4001, web: 8080 };
const WEB_STATUS = { host: "127.0.0.1", port: 8081, path: "/stub_status" };

let served = 0;

function log(fields) {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);
}

function metrics(role) {
  const name = role === "worker" ? "ams_worker" : "http";
  return [
    `# HELP ${name}_requests_total Requests served by the e2e stand-in.`,
    `# TYPE ${name}_requests_total counter`,
    `${name}_requests_total{standin="${role}"} ${served}`,
    "",
  ].join("\n");
}

function body(role, path) {
  if (path === "/metrics") return ["text/plain; version=0.0.4", metrics(role)];
  if (path === "/") return ["text/html", "<!doctype html><title>AMS e2e stand-in</title>\n"];
  return ["application/json", `${JSON.stringify({ status: "ok", standin: role })}\n`];
}

function serve(role, port, host) {
  const server = http.createServer((request, response) => {
    const path = new URL(request.url, "http://standin").pathname;
    served += 1;
    const known = ROUTES[role].includes(path);
    log({ role, method: request.method, url: request.url, status: known ? 200 : 404 });
    if (!known) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    const [type, text] = body(role, path);
    response.writeHead(200, { "content-type": type }).end(text);
  });
  server.listen(port, host);
  return server;
}

// nginx's stub_status text, which the nginx-prometheus-exporter sidecar of the web pod parses.
function serveStubStatus() {
  const server = http.createServer((request, response) => {
    const text = `Active connections: 1 \nserver accepts handled requests\n ${served} ${served} ${served} \nReading: 0 Writing: 1 Waiting: 0 \n`;
    const known = request.url === WEB_STATUS.path;
    response.writeHead(known ? 200 : 404, { "content-type": "text/plain" }).end(known ? text : "not found\n");
  });
  server.listen(WEB_STATUS.port, WEB_STATUS.host);
  return server;
}

// ---- a PostgreSQL login (protocol 3.0): cleartext, MD5 or SCRAM-SHA-256, then SELECT 1 -------------------------
// Without TLS: both ends take plain connections. The primary's default rule is `host all all all <method>` (`host`
// matches TLS and plain; cloudnative-pg v1.30.0 pkg/postgres/configuration.go), and the Pooler's PgBouncer runs with
// `client_tls_sslmode = prefer` and an hba of `md5` (pkg/management/pgbouncer/config/config.go), which PgBouncer
// answers with SCRAM when the stored secret is SCRAM. Reached only through the Secret's URL, as the app would.

function message(type, payload) {
  const length = Buffer.alloc(4);
  length.writeInt32BE(payload.length + 4);
  return Buffer.concat([Buffer.from(type), length, payload]);
}

function cstring(text) {
  return Buffer.from(`${text}\0`);
}

function startup(user, database) {
  const payload = Buffer.concat([cstring("user"), cstring(user), cstring("database"), cstring(database), Buffer.from([0])]);
  const header = Buffer.alloc(8);
  header.writeInt32BE(payload.length + 8);
  header.writeInt32BE(196608, 4); // protocol 3.0
  return Buffer.concat([header, payload]);
}

function md5Password(user, password, salt) {
  const inner = crypto.createHash("md5").update(password + user).digest("hex");
  return `md5${crypto.createHash("md5").update(Buffer.concat([Buffer.from(inner), salt])).digest("hex")}`;
}

function xor(a, b) {
  return Buffer.from(a.map((byte, i) => byte ^ b[i]));
}

function scramFinal(password, clientFirstBare, serverFirst) {
  const fields = Object.fromEntries(serverFirst.split(",").map((part) => [part[0], part.slice(2)]));
  const salted = crypto.pbkdf2Sync(password, Buffer.from(fields.s, "base64"), Number(fields.i), 32, "sha256");
  const clientKey = crypto.createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = crypto.createHash("sha256").update(clientKey).digest();
  const withoutProof = `c=biws,r=${fields.r}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const signature = crypto.createHmac("sha256", storedKey).update(authMessage).digest();
  return `${withoutProof},p=${xor(clientKey, signature).toString("base64")}`;
}

function sasl(mechanism, data) {
  const length = Buffer.alloc(4);
  length.writeInt32BE(Buffer.byteLength(data));
  return message("p", Buffer.concat([cstring(mechanism), length, Buffer.from(data)]));
}

function dbLogin(url) {
  const target = new URL(url);
  const user = decodeURIComponent(target.username);
  const password = decodeURIComponent(target.password);
  const database = target.pathname.slice(1);
  const nonce = crypto.randomBytes(18).toString("base64");
  const clientFirstBare = `n=,r=${nonce}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(target.port || 5432), target.hostname);
    let pending = Buffer.alloc(0);
    socket.setTimeout(15000, () => socket.destroy(new Error("timed out")));
    socket.on("error", reject);
    socket.on("connect", () => socket.write(startup(user, database)));
    socket.on("data", (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 5 && pending.length >= 1 + pending.readInt32BE(1)) {
        const type = String.fromCharCode(pending[0]);
        const payload = pending.subarray(5, 1 + pending.readInt32BE(1));
        pending = pending.subarray(1 + pending.readInt32BE(1));
        if (type === "E") return reject(new Error(payload.toString().replace(/\0/g, " ").trim()));
        if (type === "R") {
          const code = payload.readInt32BE(0);
          if (code === 3) socket.write(message("p", cstring(password)));
          if (code === 5) socket.write(message("p", cstring(md5Password(user, password, payload.subarray(4, 8)))));
          if (code === 10) socket.write(sasl("SCRAM-SHA-256", `n,,${clientFirstBare}`));
          if (code === 11) socket.write(message("p", Buffer.from(scramFinal(password, clientFirstBare, payload.subarray(4).toString()))));
        }
        if (type === "Z" && !socket.queried) {
          socket.queried = true;
          socket.write(message("Q", cstring("SELECT 1")));
        } else if (type === "Z") {
          socket.end(message("X", Buffer.alloc(0)));
          return resolve(`${user}@${target.hostname}:${target.port || 5432}/${database}`);
        }
      }
    });
  });
}

function dbCommand(what) {
  dbLogin(process.env.DATABASE_URL)
    .then((where) => log({ role: what, status: "ok", database: where }))
    .catch((error) => {
      log({ role: what, status: "failed", error: error.message });
      process.exitCode = 1;
    });
}

// ---- which program this process plays, from how the image was started --------------------------------------------

function role(argv) {
  const script = argv[1] || "";
  if (script.endsWith("prisma")) return "migrate";
  if (script.endsWith("worker.js")) return "worker";
  if (script.endsWith("web.js")) return "web";
  return argv[2] === "db-check" ? "check" : "api";
}

function main() {
  const which = role(process.argv);
  if (which === "migrate" || which === "check") return dbCommand(which);
  const port = which === "api" ? Number(process.env.PORT || PORTS.api) : PORTS[which];
  serve(which, port, "0.0.0.0");
  if (which === "web") serveStubStatus();
  log({ role: which, status: "listening", port });
  process.on("SIGTERM", () => process.exit(0));
}

if (require.main === module) main();

module.exports = { ROUTES, PORTS, WEB_STATUS, role };
