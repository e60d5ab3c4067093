// End to end: backends that refuse, stay silent, say no or answer the upgrade wrongly. The client always gets an
// HTTP answer that says what went wrong, other servers of the pool take over where they can, and a broken route
// never disturbs another.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, rawExchange, statusOf, withTimeout } from "../helpers/net.js";

function upgradeRequest(port: number, path: string): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
  );
}

function split(answer: Buffer): { head: string; body: string } {
  const text = answer.toString("latin1");
  const end = text.indexOf("\r\n\r\n");
  return end === -1 ? { head: text, body: "" } : { head: text.slice(0, end), body: text.slice(end + 4) };
}

/** A raw TCP backend: `onRequest` runs once the upgrade request's head has arrived. */
interface RawBackend {
  port: number;
  /** Connections the backend accepted, open or closed. */
  sockets: net.Socket[];
  close(): Promise<void>;
}

function startRawBackend(onRequest: (socket: net.Socket) => void): Promise<RawBackend> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => socket.destroy());
    let text = "";
    let answered = false;
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      if (!answered && text.includes("\r\n\r\n")) {
        answered = true;
        onRequest(socket);
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        sockets,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

function echoOnce(url: string, text: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.on("error", reject);
      ws.on("unexpected-response", (_req, res) => reject(new Error(`unexpected ${res.statusCode} on ${url}`)));
      ws.on("open", () => ws.send(text));
      ws.on("message", (data) => {
        resolve(String(data));
        ws.close();
      });
    }),
    3000,
    `an echo through ${url}`,
  );
}

function pipeline(name: string, servers: number[], extra = ""): string {
  return `
---
kind: Pipeline
name: ${name}
flow:
  - filter: proxy
filters:
  - kind: WebSocketProxy
    name: proxy
    dialTimeout: 1s
    handshakeTimeout: 300ms${extra}
    pools:
      - servers:
${servers.map((port) => `          - url: ws://127.0.0.1:${port}`).join("\n")}
        loadBalance:
          policy: roundRobin
`;
}

describe("backend failures (wsgate run)", () => {
  let live: TestBackend;
  let silent: RawBackend;
  let forbidding: RawBackend;
  let badAccept: RawBackend;
  let deadPort: number;
  let gateway: GatewayProcess;
  let port: number;

  before(async () => {
    live = await startBackend();
    silent = await startRawBackend(() => {});
    forbidding = await startRawBackend((socket) =>
      socket.end(
        "HTTP/1.1 403 Forbidden\r\nX-Reason: nope\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\ngo away",
      ),
    );
    badAccept = await startRawBackend((socket) =>
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
      ),
    );
    deadPort = await freePort();
    port = await freePort();
    gateway = await GatewayProcess.start(
      `
kind: HTTPServer
name: failures-server
port: ${port}
address: 127.0.0.1
# These answers name the backend (test/e2e/error-exposure.test.ts pins the generic default).
exposeErrors: true
rules:
  - paths:
      - path: /dead
        backend: dead-pipeline
      - path: /silent
        backend: silent-pipeline
      - path: /forbidden
        backend: forbidding-pipeline
      - path: /bad-accept
        backend: bad-accept-pipeline
      - path: /retry
        backend: retry-pipeline
      - path: /live
        backend: live-pipeline
` +
        pipeline("dead-pipeline", [deadPort]) +
        pipeline("silent-pipeline", [silent.port]) +
        pipeline("forbidding-pipeline", [forbidding.port]) +
        pipeline("bad-accept-pipeline", [badAccept.port]) +
        pipeline("retry-pipeline", [deadPort, live.port]) +
        pipeline("live-pipeline", [live.port]),
    );
  });

  after(async () => {
    await gateway?.stop();
    await live?.close();
    await silent?.close();
    await forbidding?.close();
    await badAccept?.close();
  });

  it("answers 502 naming the backend when the pool's only server refuses connections, and logs it", async () => {
    const answer = await rawExchange(port, upgradeRequest(port, "/dead"));
    assert.equal(statusOf(answer.received), 502);
    assert.ok(answer.closed, "closed after the 502");
    const { body } = split(answer.received);
    assert.match(body, new RegExp(`backend 127\\.0\\.0\\.1:${deadPort}`));
    const line = await gateway.nextLog((entry) => entry.event === "request_rejected" && entry.path === "/dead");
    assert.equal(line.status, 502);
    assert.match(String(line.reason), new RegExp(`127\\.0\\.0\\.1:${deadPort}`));
  });

  it("answers 504 within ~2 s when the backend accepts TCP but never answers the upgrade", async () => {
    const started = Date.now();
    const answer = await rawExchange(port, upgradeRequest(port, "/silent"), 3000);
    const elapsed = Date.now() - started;
    assert.equal(statusOf(answer.received), 504, split(answer.received).head);
    assert.ok(answer.closed, "closed after the 504");
    assert.ok(elapsed >= 250 && elapsed < 2000, `answered after the 300 ms handshakeTimeout, took ${elapsed} ms`);
    assert.ok(silent.sockets.length >= 1, "the gateway did reach the silent backend");
  });

  it("relays a backend's 403 with its headers and body, then closes", async () => {
    const answer = await rawExchange(port, upgradeRequest(port, "/forbidden"));
    assert.equal(statusOf(answer.received), 403);
    const { head, body } = split(answer.received);
    assert.match(head, /\r\nX-Reason: nope(\r\n|$)/);
    assert.equal(body, "go away");
    assert.ok(answer.closed, "closed after the relayed answer");
  });

  it("answers 502 when the backend's 101 has a wrong Sec-WebSocket-Accept, and drops that backend connection", async () => {
    const answer = await rawExchange(port, upgradeRequest(port, "/bad-accept"));
    assert.equal(statusOf(answer.received), 502);
    assert.ok(answer.closed, "closed after the 502");
    assert.match(split(answer.received).body, /Sec-WebSocket-Accept/);
    const backendSide = badAccept.sockets.at(-1);
    assert.ok(backendSide, "the gateway reached the backend");
    await withTimeout(
      new Promise<void>((resolve) => {
        if (backendSide.readableEnded || backendSide.destroyed) return resolve();
        backendSide.once("close", () => resolve());
        backendSide.once("end", () => resolve());
      }),
      2000,
      "the gateway to drop the backend connection",
    );
  });

  it("retries the next server: with [dead, live] and roundRobin, 10 clients in a row all connect and echo", async () => {
    const before = live.upgrades.length;
    for (let i = 0; i < 10; i++) {
      assert.equal(await echoOnce(`ws://127.0.0.1:${port}/retry`, `client ${i}`), `client ${i}`);
    }
    assert.equal(live.upgrades.length - before, 10, "every client ended on the live server");
    // The gateway's log line may reach the test a moment after the echo does (a busy machine): wait for it, bounded.
    const retried = await gateway
      .logsMatching((line) => line.msg === "backend connect failed" && line.path === "/retry", 1, 3000)
      .catch(() => []);
    assert.ok(retried.length >= 1, "the dead server was tried (and skipped) for some of the clients");
  });

  it("keeps a working route working while another route's pool is dead", async () => {
    for (let i = 0; i < 5; i++) {
      const dead = await rawExchange(port, upgradeRequest(port, "/dead"));
      assert.equal(statusOf(dead.received), 502, `round ${i}: the dead route answers 502`);
      assert.equal(await echoOnce(`ws://127.0.0.1:${port}/live`, `round ${i}`), `round ${i}`);
    }
    assert.equal(gateway.child.exitCode, null, "the gateway process is still running");
  });
});
