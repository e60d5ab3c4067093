// End to end (wsgate run, real backends on 127.0.0.1): the HTTPServer `accessLog`. A file target gets one JSON line
// per HTTP request, per WebSocket session (at its end) and per refused handshake, with the configured fields only;
// a refusal's line says why; SIGUSR1 reopens the file after logrotate moved it. A stdout target writes the same
// lines next to the main log.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, renameSync } from "node:fs";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort, refusal, waitUntil, withTimeout } from "../helpers/net.js";

const FIELDS = [
  "event",
  "server",
  "route",
  "method",
  "path",
  "status",
  "backend",
  "messagesIn",
  "messagesOut",
  "closeCode",
  "closedBy",
  "reason",
  "code",
  "requestId",
];

function readLines(file: string): LogLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as LogLine);
}

/** Waits until the file holds `count` lines that pass `test`; returns them. */
function linesIn(file: string, test: (line: LogLine) => boolean, count = 1): Promise<LogLine[]> {
  return waitUntil(
    () => {
      const lines = readLines(file).filter(test);
      return lines.length >= count ? lines : undefined;
    },
    5000,
    `${count} access line(s) in ${file}`,
  );
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      })
      .on("error", reject);
  });
}

describe("access log (wsgate run)", () => {
  let backend: TestBackend;
  let web: http.Server;
  let gateway: GatewayProcess;
  let port: number;
  let stdoutPort: number;
  let file: string;
  let webPort: number;

  before(async () => {
    backend = await startBackend();
    web = http.createServer((req, res) => {
      req.resume();
      res.end("page");
    });
    // As a WebSocket backend, the same server refuses every upgrade with a 403 of its own.
    web.on("upgrade", (_req, socket: Socket) => {
      socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
    webPort = (web.address() as AddressInfo).port;
    port = await freePort();
    stdoutPort = await freePort();
    file = join(mkdtempSync(join(tmpdir(), "wsgate-access-")), "logs", "access.log");
    const rules = `
rules:
  - paths:
      - path: /ws
        backend: ws-pipeline
      - path: /auth
        backend: auth-pipeline
      - path: /refused
        backend: refused-pipeline
      - pathPrefix: /web
        backend: web-pipeline`;
    gateway = await GatewayProcess.start(
      `
kind: HTTPServer
name: file-server
port: ${port}
address: 127.0.0.1
accessLog:
  target: ${file}
  fields: [${FIELDS.join(", ")}]
${rules}
---
kind: HTTPServer
name: stdout-server
port: ${stdoutPort}
address: 127.0.0.1
accessLog:
  target: stdout
${rules}
---
kind: Pipeline
name: ws-pipeline
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}
---
kind: Pipeline
name: auth-pipeline
flow:
  - filter: validator
    jumpIf: {invalid: END}
  - filter: proxy
filters:
  - kind: Validator
    name: validator
    jwt:
      algorithm: HS256
      secret: ${Buffer.from("wsgate-access-log-test-secret-long-enough").toString("hex")}
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}
---
kind: Pipeline
name: refused-pipeline
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${webPort}
---
kind: Pipeline
name: web-pipeline
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: http://127.0.0.1:${webPort}
`,
      { servers: 2 },
    );
  });

  after(async () => {
    await gateway?.stop();
    await backend.close();
    await new Promise<void>((resolve) => web.close(() => resolve()));
  });

  it("writes one line per HTTP request, with the configured fields only", async () => {
    assert.equal(await get(port, "/web/one", { "X-Request-Id": "req-1" }), 200);
    assert.equal(await get(port, "/web/two"), 200);
    const lines = await linesIn(
      file,
      (line) => line.event === "http_request" && String(line.path).startsWith("/web"),
      2,
    );
    assert.equal(lines.length, 2);
    const [first] = lines;
    assert.deepEqual(first, {
      event: "http_request",
      server: "file-server",
      route: "*/web",
      method: "GET",
      path: "/web/one",
      status: 200,
      backend: (first?.backend as string | undefined) ?? "missing",
      requestId: "req-1",
    });
    assert.match(String(first?.backend), /^127\.0\.0\.1:\d+$/);
    for (const line of readLines(file)) {
      for (const key of Object.keys(line)) assert.ok(FIELDS.includes(key), `unexpected field ${key}`);
    }
  });

  it("writes one line per WebSocket session at its end, with its messages and close", async () => {
    const ws = await withTimeout(
      new Promise<WebSocket>((resolve, reject) => {
        const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`);
        socket.on("open", () => resolve(socket));
        socket.on("error", reject);
      }),
      5000,
      "the session to open",
    );
    let echoed = 0;
    const echoes = new Promise<void>((resolve) => ws.on("message", () => ++echoed === 3 && resolve()));
    for (let i = 0; i < 3; i++) ws.send(`message ${i}`);
    await withTimeout(echoes, 5000, "the echoes");
    ws.close(1000, "bye");
    const [line] = await linesIn(file, (entry) => entry.event === "websocket_session");
    assert.deepEqual(line, {
      event: "websocket_session",
      server: "file-server",
      route: "*/ws",
      method: "GET",
      path: "/ws",
      status: 101,
      backend: `127.0.0.1:${backend.port}`,
      messagesIn: 3,
      messagesOut: 3,
      closeCode: 1000,
      closedBy: "client",
    });
    assert.equal(readLines(file).filter((entry) => entry.event === "websocket_session").length, 1);
  });

  it("writes a refused handshake's line with its status and reason", async () => {
    assert.equal(await refusal(`ws://127.0.0.1:${port}/nowhere`), 404);
    assert.equal(await refusal(`ws://127.0.0.1:${port}/auth`), 401);
    const lines = await linesIn(file, (line) => line.event === "websocket_rejected", 2);
    const notFound = lines.find((line) => line.path === "/nowhere");
    assert.deepEqual(notFound, {
      event: "websocket_rejected",
      server: "file-server",
      route: "none",
      method: "GET",
      path: "/nowhere",
      status: 404,
      reason: "no route matches",
      code: "WSG_ROUTE_NOT_FOUND",
    });
    const unauthorized = lines.find((line) => line.path === "/auth");
    assert.equal(unauthorized?.status, 401);
    assert.equal(unauthorized?.code, "WSG_VALIDATION_JWT");
    assert.match(String(unauthorized?.reason), /^validator validator: jwt: /);
  });

  it("writes a backend's refusal of the upgrade with the backend's status", async () => {
    assert.equal(await refusal(`ws://127.0.0.1:${port}/refused`), 403);
    const [line] = await linesIn(file, (entry) => entry.event === "websocket_rejected" && entry.path === "/refused");
    assert.deepEqual(line, {
      event: "websocket_rejected",
      server: "file-server",
      route: "*/refused",
      method: "GET",
      path: "/refused",
      status: 403,
      backend: `127.0.0.1:${webPort}`,
      reason: "backend refused the upgrade",
      code: "WSG_BACKEND_REFUSED",
    });
  });

  it("reopens the file on SIGUSR1, after logrotate moved it away", async () => {
    assert.equal(await get(port, "/web/before-rotate"), 200);
    await linesIn(file, (line) => line.path === "/web/before-rotate");
    renameSync(file, `${file}.1`);
    gateway.child.kill("SIGUSR1");
    // The signal is handled asynchronously: keep asking until a request lands in the new file.
    await waitUntil(
      () => {
        void get(port, "/web/after-rotate");
        return readLines(file).some((line) => line.path === "/web/after-rotate") ? true : undefined;
      },
      5000,
      "a line in the reopened file",
    );
    assert.ok(readLines(`${file}.1`).some((line) => line.path === "/web/before-rotate"));
  });

  it("writes the same lines to stdout, all fields by default, next to the main log", async () => {
    assert.equal(await get(stdoutPort, "/web/stdout"), 200);
    const line = await gateway.nextLog((entry) => entry.event === "http_request" && entry.path === "/web/stdout");
    assert.equal(line.server, "stdout-server");
    assert.equal(line.status, 200);
    assert.equal(line.clientIp, "127.0.0.1");
    assert.equal(typeof line.time, "string");
    assert.equal(typeof line.durationMs, "number");
    assert.equal(line.msg, undefined);
    assert.equal(line.level, undefined);
  });

  // Last: it stops the gateway.
  it("writes the lines of sessions that shutdown closes, before the process exits", async () => {
    const ws = await withTimeout(
      new Promise<WebSocket>((resolve, reject) => {
        const socket = new WebSocket(`ws://127.0.0.1:${port}/ws?left-open`);
        socket.on("open", () => resolve(socket));
        socket.on("error", reject);
      }),
      5000,
      "the session to open",
    );
    ws.on("error", () => undefined);
    assert.equal(await gateway.stop(), 0);
    const line = readLines(file).find((entry) => entry.path === "/ws?left-open");
    assert.equal(line?.event, "websocket_session");
    assert.equal(line?.closeCode, 1001);
    assert.equal(line?.closedBy, "gateway");
  });
});
