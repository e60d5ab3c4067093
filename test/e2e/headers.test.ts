// End to end: what a backend receives in the upgrade request the gateway sends it, and what the client gets back
// in the 101 and the session (subprotocol, extensions, the backend's own headers).
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { WebSocket, type ClientOptions } from "ws";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

const CLIENT_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
/** RFC 6455 §1.3's accept value for CLIENT_KEY. */
const CLIENT_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/** Opens a ws client and resolves once it is open, with the 101 it got. */
function connect(url: string, protocols: string[] = [], options: ClientOptions = {}) {
  return withTimeout(
    new Promise<{ ws: WebSocket; response: IncomingMessage }>((resolve, reject) => {
      const ws = new WebSocket(url, protocols, options);
      let response: IncomingMessage | undefined;
      ws.on("upgrade", (res) => (response = res));
      ws.on("unexpected-response", (_req, res) => reject(new Error(`unexpected ${res.statusCode}`)));
      ws.on("error", reject);
      ws.on("open", () => resolve({ ws, response: response as IncomingMessage }));
    }),
    3000,
    `a WebSocket to open on ${url}`,
  );
}

function closeClient(ws: WebSocket): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve();
      ws.once("close", () => resolve());
      ws.close();
    }),
    3000,
    "the client to close",
  ).catch(() => ws.terminate());
}

/** The backend's record of the upgrade whose request target is `target` (the last one, if several). */
function upgradeFor(backend: TestBackend, target: string): IncomingMessage {
  const found = backend.upgrades.filter((req) => req.url === target).at(-1);
  assert.ok(found, `the backend saw an upgrade for ${target}; it saw ${backend.upgrades.map((r) => r.url).join(", ")}`);
  return found;
}

/** Sends a raw request and resolves with the answer's head once it is complete (the connection stays open). */
function rawHead(port: number, request: string): Promise<{ head: string; socket: net.Socket }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1");
      let text = "";
      socket.on("error", reject);
      socket.on("data", (chunk: Buffer) => {
        text += chunk.toString("latin1");
        const end = text.indexOf("\r\n\r\n");
        if (end !== -1) resolve({ head: text.slice(0, end), socket });
      });
      socket.on("close", () => reject(new Error(`closed before a complete answer: ${JSON.stringify(text)}`)));
      socket.write(request);
    }),
    3000,
    "the answer's head",
  );
}

describe("headers between client, gateway and backend (wsgate run)", () => {
  let plain: TestBackend;
  let fancy: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  const defaultOrigin = "http://127.0.0.1/hello";

  before(async () => {
    plain = await startBackend();
    fancy = await startBackend({
      wsOptions: {
        perMessageDeflate: true,
        handleProtocols: (protocols) => (protocols.has("chat.v1") ? "chat.v1" : false),
      },
    });
    fancy.wss.on("headers", (headers) => headers.push("Set-Cookie: sid=1"));
    port = await freePort();
    gateway = await GatewayProcess.start(`
kind: HTTPServer
name: headers-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /ws
        backend: plain-pipeline
      - pathPrefix: /api
        rewriteTarget: /v2
        backend: plain-pipeline
      - pathPrefix: /keep
        backend: keephost-pipeline
      - pathPrefix: /fancy
        backend: fancy-pipeline
---
kind: Pipeline
name: plain-pipeline
flow:
  - filter: proxy
filters:
  - kind: WebSocketProxy
    name: proxy
    defaultOrigin: ${defaultOrigin}
    pools:
      - servers:
          - url: ws://127.0.0.1:${plain.port}
---
kind: Pipeline
name: keephost-pipeline
flow:
  - filter: proxy
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${plain.port}
            keepHost: true
---
kind: Pipeline
name: fancy-pipeline
flow:
  - filter: proxy
filters:
  - kind: WebSocketProxy
    name: proxy
    permessageDeflate: pass
    pools:
      - servers:
          - url: ws://127.0.0.1:${fancy.port}
        clientMaxMsgSize: 1048576
        serverMaxMsgSize: 1048576
`);
  });

  after(async () => {
    await gateway?.stop();
    await plain?.close();
    await fancy?.close();
  });

  it("passes the path and query to the backend unchanged", async () => {
    const target = "/ws/room?id=7&x=%20y";
    const { ws } = await connect(`ws://127.0.0.1:${port}${target}`);
    await closeClient(ws);
    assert.equal(upgradeFor(plain, target).url, target);
  });

  it("rewrites the path with pathPrefix + rewriteTarget, keeping the query", async () => {
    const { ws } = await connect(`ws://127.0.0.1:${port}/api/chat/room?id=7&x=%20y`);
    await closeClient(ws);
    assert.equal(upgradeFor(plain, "/v2/chat/room?id=7&x=%20y").url, "/v2/chat/room?id=7&x=%20y");
  });

  it("copies end-to-end headers (X-Trace, Cookie, Authorization)", async () => {
    const { ws } = await connect(`ws://127.0.0.1:${port}/ws/e2e`, [], {
      headers: { "X-Trace": "abc", Cookie: "a=1; b=2", Authorization: "Bearer t0ken" },
    });
    await closeClient(ws);
    const seen = upgradeFor(plain, "/ws/e2e").headers;
    assert.equal(seen["x-trace"], "abc");
    assert.equal(seen.cookie, "a=1; b=2");
    assert.equal(seen.authorization, "Bearer t0ken");
  });

  it("drops hop-by-hop headers and those named in Connection, and forwards the client's Sec-WebSocket-Key", async () => {
    const request =
      `GET /ws/hop HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Hop\r\n` +
      `Sec-WebSocket-Key: ${CLIENT_KEY}\r\nSec-WebSocket-Version: 13\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n` +
      `Proxy-Authorization: Basic dXNlcjpwYXNz\r\nX-Hop: 1\r\nX-Kept: yes\r\n\r\n`;
    const { head, socket } = await rawHead(port, request);
    socket.destroy();
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, new RegExp(`\r\nSec-WebSocket-Accept: ${CLIENT_ACCEPT.replace(/\+/g, "\\+")}(\r\n|$)`, "i"));
    const seen = upgradeFor(plain, "/ws/hop").headers;
    assert.equal(seen["x-kept"], "yes");
    for (const name of ["keep-alive", "te", "proxy-authorization", "x-hop"]) {
      assert.equal(seen[name], undefined, `${name} must not reach the backend`);
    }
    assert.equal(seen.connection?.toLowerCase(), "upgrade");
    assert.equal(seen.upgrade?.toLowerCase(), "websocket");
    // As nginx and HAProxy do: one key, one SHA-1 for both handshakes (the backend's accept is checked against it).
    assert.equal(seen["sec-websocket-key"], CLIENT_KEY, "the backend gets the client's key");
  });

  it("replaces an untrusted client's X-Forwarded-For with its address and sets X-Forwarded-Host and X-Forwarded-Proto", async () => {
    const { ws } = await connect(`ws://127.0.0.1:${port}/ws/xff`, [], { headers: { "X-Forwarded-For": "10.1.1.1" } });
    await closeClient(ws);
    const seen = upgradeFor(plain, "/ws/xff").headers;
    assert.equal(seen["x-forwarded-for"], "127.0.0.1");
    assert.equal(seen["x-forwarded-host"], `127.0.0.1:${port}`);
    assert.equal(seen["x-forwarded-proto"], "http");
  });

  it("sets X-Forwarded-For to the client IP when the client sent none", async () => {
    const { ws } = await connect(`ws://127.0.0.1:${port}/ws/xff-new`);
    await closeClient(ws);
    assert.equal(upgradeFor(plain, "/ws/xff-new").headers["x-forwarded-for"], "127.0.0.1");
  });

  it("sends the backend's own Host by default", async () => {
    const { ws } = await connect(`ws://127.0.0.1:${port}/ws/host`);
    await closeClient(ws);
    assert.equal(upgradeFor(plain, "/ws/host").headers.host, `127.0.0.1:${plain.port}`);
  });

  it("sends the client's Host with keepHost: true", async () => {
    const { ws } = await connect(`ws://127.0.0.1:${port}/keep/host`, [], { headers: { Host: "chat.example.test" } });
    await closeClient(ws);
    const seen = upgradeFor(plain, "/keep/host").headers;
    assert.equal(seen.host, "chat.example.test");
    assert.equal(seen["x-forwarded-host"], "chat.example.test");
  });

  it("forwards the client's Origin when sent", async () => {
    const { ws } = await connect(`ws://127.0.0.1:${port}/ws/origin`, [], { origin: "https://app.example.test" });
    await closeClient(ws);
    assert.equal(upgradeFor(plain, "/ws/origin").headers.origin, "https://app.example.test");
  });

  it("sends defaultOrigin when the client sent no Origin", async () => {
    const { ws } = await connect(`ws://127.0.0.1:${port}/ws/no-origin`);
    await closeClient(ws);
    assert.equal(upgradeFor(plain, "/ws/no-origin").headers.origin, defaultOrigin);
  });

  it("offers the client's subprotocols and gives the client the one the backend picked", async () => {
    const { ws } = await connect(`ws://127.0.0.1:${port}/fancy/proto`, ["chat.v2", "chat.v1"]);
    assert.equal(ws.protocol, "chat.v1");
    await closeClient(ws);
    const offered = String(upgradeFor(fancy, "/fancy/proto").headers["sec-websocket-protocol"]);
    assert.deepEqual(
      offered.split(",").map((protocol) => protocol.trim()),
      ["chat.v2", "chat.v1"],
      "the backend is offered both, in the client's order",
    );
  });

  it("negotiates permessage-deflate end to end and relays 100 compressed 10 KB messages intact", async () => {
    const { ws } = await connect(`ws://127.0.0.1:${port}/fancy/deflate`, [], { perMessageDeflate: true });
    try {
      assert.match(ws.extensions, /permessage-deflate/);
      assert.match(
        String(upgradeFor(fancy, "/fancy/deflate").headers["sec-websocket-extensions"]),
        /permessage-deflate/,
      );
      const sent = Array.from({ length: 100 }, (_, i) => `message ${i} `.padEnd(10_000, `abc${i % 7}`));
      const received: string[] = [];
      const done = new Promise<void>((resolve) =>
        ws.on("message", (data) => {
          received.push(String(data));
          if (received.length === sent.length) resolve();
        }),
      );
      for (const text of sent) ws.send(text);
      await withTimeout(done, 5000, "100 echoes");
      assert.equal(received.length, 100);
      for (let i = 0; i < sent.length; i++) assert.equal(received[i], sent[i], `message ${i} came back intact`);
    } finally {
      await closeClient(ws);
    }
  });

  it("gives the client the headers of the backend's 101 (Set-Cookie)", async () => {
    const { ws, response } = await connect(`ws://127.0.0.1:${port}/fancy/cookie`);
    await closeClient(ws);
    assert.deepEqual(response.headers["set-cookie"], ["sid=1"]);
  });
});
