// End to end: the gateway checks a client's upgrade request before it dials any backend, and answers every
// malformed or unacceptable request with a short HTTP answer on a connection it then closes.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, rawExchange, statusOf, withTimeout, type RawExchange } from "../helpers/net.js";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** A raw request: the request line, the headers given (null leaves a default out), and an optional body. */
function request(
  port: number,
  options: { method?: string; path?: string; headers?: Record<string, string | null>; body?: string } = {},
): string {
  const defaults: Record<string, string | null> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": KEY,
    "Sec-WebSocket-Version": "13",
  };
  let text = `${options.method ?? "GET"} ${options.path ?? "/ws"} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries({ ...defaults, ...options.headers })) {
    if (value !== null) text += `${name}: ${value}\r\n`;
  }
  return `${text}\r\n${options.body ?? ""}`;
}

interface Answer {
  status: number;
  /** Header names in lower case. */
  headers: Map<string, string>;
  body: string;
  closed: boolean;
}

function parse(exchange: RawExchange): Answer {
  const text = exchange.received.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  const head = end === -1 ? text : text.slice(0, end);
  const headers = new Map<string, string>();
  for (const line of head.split("\r\n").slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return {
    status: statusOf(exchange.received),
    headers,
    body: end === -1 ? "" : text.slice(end + 4),
    closed: exchange.closed,
  };
}

/** Asserts a short plain-text answer with `status`, on a connection closed after it (unless told not to check). */
function assertShortAnswer(answer: Answer, status: number, checkClosed = true): void {
  assert.equal(answer.status, status, `status of: ${JSON.stringify(answer.body)}`);
  assert.ok(answer.body.trim().length > 0, "the answer has a text body");
  assert.ok(answer.body.length < 300, `the body is short: ${JSON.stringify(answer.body)}`);
  assert.match(answer.headers.get("content-type") ?? "", /^text\/plain/);
  assert.equal(Number(answer.headers.get("content-length")), Buffer.byteLength(answer.body, "latin1"));
  if (checkClosed) assert.ok(answer.closed, "the gateway closes the connection after the answer");
}

function echoOnce(url: string, text: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.on("error", reject);
      ws.on("open", () => ws.send(text));
      ws.on("message", (data) => {
        resolve(String(data));
        ws.close();
      });
    }),
    3000,
    "an echo through the gateway",
  );
}

describe("client handshake checks (wsgate run)", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let slowPort: number;

  before(async () => {
    backend = await startBackend();
    port = await freePort();
    slowPort = await freePort();
    gateway = await GatewayProcess.start(
      `
kind: HTTPServer
name: main-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - path: /ws
        backend: ws-pipeline
---
kind: HTTPServer
name: slow-server
port: ${slowPort}
address: 127.0.0.1
clientHeaderTimeout: 500ms
rules:
  - paths:
      - path: /ws
        backend: ws-pipeline
---
kind: Pipeline
name: ws-pipeline
flow:
  - filter: proxy
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backend.port}
        loadBalance:
          policy: roundRobin
`,
      { servers: 2 },
    );
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  async function send(text: string, ms = 2000): Promise<Answer> {
    return parse(await rawExchange(port, text, ms));
  }

  function assertNoBackendUpgrade(): void {
    assert.equal(backend.upgrades.length, 0, "the backend saw no upgrade");
  }

  it("answers POST with upgrade headers with 405 and Allow: GET", async () => {
    const answer = await send(request(port, { method: "POST", headers: { "Content-Length": "0" } }));
    assertShortAnswer(answer, 405);
    assert.equal(answer.headers.get("allow"), "GET");
    assertNoBackendUpgrade();
  });

  it("answers a missing Sec-WebSocket-Key with 400", async () => {
    assertShortAnswer(await send(request(port, { headers: { "Sec-WebSocket-Key": null } })), 400);
    assertNoBackendUpgrade();
  });

  it("answers a Sec-WebSocket-Key that is not 16 bytes of base64 with 400", async () => {
    for (const key of ["abc", "AAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAA==", "!!!!!!!!!!!!!!!!!!!!!A=="]) {
      const answer = await send(request(port, { headers: { "Sec-WebSocket-Key": key } }));
      assertShortAnswer(answer, 400);
    }
    assertNoBackendUpgrade();
  });

  it("answers Sec-WebSocket-Version: 8 with 426 and Sec-WebSocket-Version: 13", async () => {
    const answer = await send(request(port, { headers: { "Sec-WebSocket-Version": "8" } }));
    assertShortAnswer(answer, 426);
    assert.equal(answer.headers.get("sec-websocket-version"), "13");
    assertNoBackendUpgrade();
  });

  it("answers a missing Sec-WebSocket-Version with 400", async () => {
    assertShortAnswer(await send(request(port, { headers: { "Sec-WebSocket-Version": null } })), 400);
    assertNoBackendUpgrade();
  });

  it("answers Upgrade: h2c with Connection: Upgrade with 400", async () => {
    const answer = await send(
      request(port, { headers: { Upgrade: "h2c", "HTTP2-Settings": "AAMAAABkAAQAoAAAAAIAAAAA" } }),
    );
    assertShortAnswer(answer, 400);
    assertNoBackendUpgrade();
  });

  // Node parses these two as plain requests (no "Connection: upgrade"), so they are answered through a
  // ServerResponse, not the raw socket; whether the connection closes is checked in the test after them.
  const PLAIN_GET = {
    headers: { Upgrade: null, Connection: null, "Sec-WebSocket-Key": null, "Sec-WebSocket-Version": null },
  };
  const UPGRADE_WITHOUT_CONNECTION = { headers: { Connection: null } };

  it("answers a plain GET without upgrade headers with 426 and Upgrade: websocket", async () => {
    const answer = await send(request(port, PLAIN_GET), 300);
    assertShortAnswer(answer, 426, false);
    assert.equal(answer.headers.get("upgrade"), "websocket");
    assertNoBackendUpgrade();
  });

  it("answers Upgrade: websocket without Connection: upgrade with 400", async () => {
    assertShortAnswer(await send(request(port, UPGRADE_WITHOUT_CONNECTION), 300), 400, false);
    assertShortAnswer(await send(request(port, { headers: { Connection: "keep-alive" } }), 300), 400, false);
    assertNoBackendUpgrade();
  });

  it("closes the connection after the 426 to a plain GET and the 400 to an upgrade without Connection: upgrade", async () => {
    const [plain, noConnection] = await Promise.all([
      send(request(port, PLAIN_GET)),
      send(request(port, UPGRADE_WITHOUT_CONNECTION)),
    ]);
    assert.equal(plain.status, 426);
    assert.equal(noConnection.status, 400);
    assert.ok(plain.closed, "connection closed within 2 s after the 426 to a plain GET");
    assert.ok(noConnection.closed, "connection closed within 2 s after the 400 to Upgrade without Connection: upgrade");
  });

  it("answers an upgrade request with a body (Content-Length: 5) with 400", async () => {
    const answer = await send(request(port, { headers: { "Content-Length": "5" }, body: "hello" }));
    assertShortAnswer(answer, 400);
    assertNoBackendUpgrade();
  });

  it("answers an upgrade to a path without a route with 404", async () => {
    assertShortAnswer(await send(request(port, { path: "/nowhere" })), 404);
    assertNoBackendUpgrade();
  });

  it("logs a rejected handshake once, with its status", async () => {
    const path = "/ws?marker=log-once";
    const answer = await send(request(port, { path, headers: { "Sec-WebSocket-Version": "8" } }));
    assert.equal(answer.status, 426);
    const isMine = (line: Record<string, unknown>): boolean => line.event === "request_rejected" && line.path === path;
    const [line] = await gateway.logsMatching(isMine);
    assert.equal(line?.status, 426);
    assert.equal(typeof line?.reason, "string");
    // A second line for the same rejection would arrive right after the first.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(gateway.logs.filter(isMine).length, 1, "logged exactly once");
  });

  it("answers garbage instead of HTTP with 400 and closes", async () => {
    const answer = await send("\x16\x03\x01 hello\r\n\r\n");
    assert.equal(answer.status, 400);
    assert.ok(answer.closed, "closed after the 400");
  });

  it("answers request headers over 16 KiB with 431 and closes", async () => {
    const answer = await send(request(port, { headers: { "X-Big": "a".repeat(20 * 1024) } }));
    assert.equal(answer.status, 431);
    assert.ok(answer.closed, "closed after the 431");
    assertNoBackendUpgrade();
  });

  it("closes a client that sends half a request and stalls with 408 after clientHeaderTimeout", async () => {
    const started = Date.now();
    const half = `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${slowPort}\r\nUpgrade: websocket\r\n`;
    const answer = parse(await rawExchange(slowPort, half, 3000));
    const elapsed = Date.now() - started;
    assert.ok(answer.closed, `closed within 3 s (took ${elapsed} ms)`);
    assert.equal(answer.status, 408);
    assert.ok(elapsed >= 400, `not before the 500 ms timeout (took ${elapsed} ms)`);
    assertNoBackendUpgrade();
  });

  it("still serves WebSocket clients afterwards", async () => {
    assert.equal(await echoOnce(`ws://127.0.0.1:${port}/ws`, "still here"), "still here");
    assert.equal(await echoOnce(`ws://127.0.0.1:${slowPort}/ws`, "slow server too"), "slow server too");
    assert.equal(backend.upgrades.length, 2);
    assert.equal(gateway.child.exitCode, null, "the gateway process is still running");
  });
});
