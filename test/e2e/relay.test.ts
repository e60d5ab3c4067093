import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { Opcode } from "../../src/websocket/protocol.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { closePayload, frame } from "../helpers/frames.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, waitUntil, withTimeout } from "../helpers/net.js";
import { RawWebSocket } from "../helpers/raw-client.js";

const CLIENT_LIMIT = 1024;
const BACKEND_LIMIT = 2048;

/** What a backend saw of one session's end. */
interface BackendClose {
  code: number;
  reason: string;
}

let backend: TestBackend;
let gateway: GatewayProcess;
let port: number;
const backendCloses: BackendClose[] = [];

/** The backend's behaviour is chosen by the request path. */
function onBackendConnection(socket: WebSocket, path: string): void {
  socket.on("close", (code, reason) => backendCloses.push({ code, reason: reason.toString() }));
  socket.on("message", (data, isBinary) => {
    const text = data.toString();
    if (path.endsWith("/big")) socket.send(Buffer.alloc(BACKEND_LIMIT + 1));
    else if (path.endsWith("/limit")) socket.send(Buffer.alloc(BACKEND_LIMIT));
    else if (path.endsWith("/close-4002")) socket.close(4002, "server says");
    else if (path.endsWith("/vanish")) socket.terminate();
    else socket.send(data, { binary: isBinary });
    void text;
  });
}

function yaml(): string {
  return `
kind: HTTPServer
name: relay-server
port: ${port}
address: 127.0.0.1
clientHeaderTimeout: 300ms
keepAliveTimeout: 300ms
rules:
  - paths:
      - pathPrefix: /hb
        backend: heartbeat
      - pathPrefix: /idle
        backend: idle
      - pathPrefix: /
        backend: relay
---
kind: Pipeline
name: relay
filters:
  - kind: WebSocketProxy
    name: proxy
    closeTimeout: 1s
    pools:
      - servers: [{ url: ${backend.url} }]
        clientMaxMsgSize: ${CLIENT_LIMIT}
        serverMaxMsgSize: ${BACKEND_LIMIT}
---
kind: Pipeline
name: heartbeat
filters:
  - kind: WebSocketProxy
    name: proxy
    pingInterval: 150ms
    pongTimeout: 300ms
    closeTimeout: 1s
    pools:
      - servers: [{ url: ${backend.url} }]
---
kind: Pipeline
name: idle
filters:
  - kind: WebSocketProxy
    name: proxy
    maxInactivity: 400ms
    closeTimeout: 1s
    pools:
      - servers: [{ url: ${backend.url} }]
`;
}

function open(path: string, options?: WebSocket.ClientOptions): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, options);
  return withTimeout(
    new Promise((resolve, reject) => {
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
    }),
    5000,
    `open ${path}`,
  );
}

function nextMessage(ws: WebSocket): Promise<Buffer> {
  return withTimeout(new Promise((resolve) => ws.once("message", (data: Buffer) => resolve(data))), 5000, "a message");
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return withTimeout(
    new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() }))),
    5000,
    "close",
  );
}

function backendCloseMatching(test: (close: BackendClose) => boolean): Promise<BackendClose> {
  return waitUntil(() => backendCloses.find(test), 5000, "the backend's close");
}

before(async () => {
  backend = await startBackend({ onConnection: (socket, req) => onBackendConnection(socket, req.url ?? "") });
  port = await freePort();
  gateway = await GatewayProcess.start(yaml());
});

after(async () => {
  await gateway.stop();
  await backend.close();
});

describe("relay: messages", () => {
  it("echoes text and binary messages in order, and counts them in the session log", async () => {
    const ws = await open("/echo/counted");
    const received: string[] = [];
    ws.on("message", (data: Buffer) => received.push(data.toString()));
    for (let i = 0; i < 200; i++) ws.send(`message ${i}`);
    ws.send(Buffer.from([0, 1, 2, 255]));
    await waitUntil(() => (received.length >= 201 ? true : undefined), 5000, "201 echoes");
    assert.deepEqual(
      received.slice(0, 200),
      Array.from({ length: 200 }, (_, i) => `message ${i}`),
    );
    assert.deepEqual(Buffer.from(received[200] ?? "", "latin1").length > 0, true);
    ws.close(1000, "done");
    await closeOf(ws);
    const line = await gateway.nextLog((l) => l.event === "websocket_session" && l.path === "/echo/counted");
    assert.equal(line.clientMessages, 201);
    assert.equal(line.backendMessages, 201);
    assert.equal(line.closeCode, 1000);
    assert.equal(line.closedBy, "client");
    assert.equal(typeof line.durationMs, "number");
    assert.ok((line.clientBytes as number) > 201 * 6);
  });

  it("carries a fragmented message whole to the backend", async () => {
    const ws = await open("/echo/fragments");
    ws.send("frag", { fin: false });
    ws.send("men", { fin: false });
    ws.send("ted", { fin: true });
    assert.equal((await nextMessage(ws)).toString(), "fragmented");
    ws.close();
  });

  it("lets the client's frames sent with the handshake through", async () => {
    const raw = await RawWebSocket.connect(port, "/echo/early");
    raw.send(frame({ opcode: Opcode.Text, payload: "right away", mask: true }));
    const echoed = await raw.waitForFrame((f) => f.opcode === Opcode.Text);
    assert.equal(echoed.payload.toString(), "right away");
    assert.equal(echoed.masked, false);
    raw.socket.destroy();
  });
});

describe("relay: long sessions", () => {
  it("outlives the server's header and keep-alive timeouts: they end at the upgrade", async () => {
    const ws = await open("/echo/long");
    await new Promise((resolve) => setTimeout(resolve, 1200));
    ws.send("still there?");
    assert.equal((await nextMessage(ws)).toString(), "still there?");
    ws.close();
  });
});

describe("relay: size limits", () => {
  it("passes a message exactly at the client limit", async () => {
    const ws = await open("/echo/at-limit");
    ws.send(Buffer.alloc(CLIENT_LIMIT, 1));
    assert.equal((await nextMessage(ws)).length, CLIENT_LIMIT);
    ws.close();
  });

  it("closes a client whose message is one byte over with 1009, and tells the backend", async () => {
    const ws = await open("/echo/too-big");
    const closed = closeOf(ws);
    ws.send(Buffer.alloc(CLIENT_LIMIT + 1));
    assert.equal((await closed).code, 1009);
    const seen = await backendCloseMatching((c) => c.reason.includes("client: message too big"));
    assert.equal(seen.code, 1001);
  });

  it("counts all fragments of a message against the limit", async () => {
    const ws = await open("/echo/too-big-fragments");
    const closed = closeOf(ws);
    ws.send(Buffer.alloc(600), { fin: false });
    ws.send(Buffer.alloc(600), { fin: true });
    assert.equal((await closed).code, 1009);
  });

  it("closes a backend whose message is over its limit with 1009, and the client with 1001", async () => {
    const ws = await open("/echo/big");
    const closed = closeOf(ws);
    ws.send("send me something big");
    const close = await closed;
    assert.equal(close.code, 1001);
    assert.match(close.reason, /backend: message too big/);
    await backendCloseMatching((c) => c.code === 1009);
  });
});

describe("relay: protocol errors", () => {
  it("answers an unmasked client frame with 1002 and closes the backend cleanly", async () => {
    const raw = await RawWebSocket.connect(port, "/echo/unmasked");
    raw.send(frame({ opcode: Opcode.Text, payload: "not masked" }));
    const close = await raw.waitForFrame((f) => f.opcode === Opcode.Close);
    assert.equal(close.payload.readUInt16BE(0), 1002);
    await withTimeout(raw.closed, 3000, "TCP close");
    const seen = await backendCloseMatching((c) => c.reason.includes("frame not masked"));
    assert.equal(seen.code, 1001);
  });

  it("answers a reserved opcode with 1002 while another session keeps echoing", async () => {
    const healthy = await open("/echo/neighbour");
    const raw = await RawWebSocket.connect(port, "/echo/reserved");
    raw.send(frame({ opcode: 5, payload: "?", mask: true }));
    healthy.send("still here");
    assert.equal((await nextMessage(healthy)).toString(), "still here");
    const close = await raw.waitForFrame((f) => f.opcode === Opcode.Close);
    assert.equal(close.payload.readUInt16BE(0), 1002);
    healthy.close();
  });

  it("never puts an invalid close code on the wire: a client's 1005 is a protocol error", async () => {
    const raw = await RawWebSocket.connect(port, "/echo/bad-close");
    raw.send(frame({ opcode: Opcode.Close, payload: closePayload(1005), mask: true }));
    const close = await raw.waitForFrame((f) => f.opcode === Opcode.Close);
    assert.equal(close.payload.readUInt16BE(0), 1002);
    const seen = await backendCloseMatching((c) => c.reason.includes("invalid close code"));
    assert.equal(seen.code, 1001);
  });
});

describe("relay: closing", () => {
  it("relays the client's close code and reason unchanged, both ways", async () => {
    const ws = await open("/echo/close-4001");
    const closed = closeOf(ws);
    ws.close(4001, "custom reason");
    const seen = await backendCloseMatching((c) => c.code === 4001);
    assert.equal(seen.reason, "custom reason");
    assert.deepEqual(await closed, { code: 4001, reason: "custom reason" });
  });

  it("relays the backend's close code", async () => {
    const ws = await open("/echo/close-4002");
    const closed = closeOf(ws);
    ws.send("close please");
    assert.deepEqual(await closed, { code: 4002, reason: "server says" });
  });

  it("relays a close without a code as one without a code (1005 at the backend)", async () => {
    const ws = await open("/echo/no-code");
    const closed = closeOf(ws);
    ws.close();
    await backendCloseMatching((c) => c.code === 1005);
    assert.equal((await closed).code, 1005);
  });

  it("gives the client 1011 when the backend vanishes without a close", async () => {
    const ws = await open("/echo/vanish");
    const closed = closeOf(ws);
    ws.send("bye");
    assert.deepEqual(await closed, { code: 1011, reason: "backend connection lost" });
  });

  it("gives the backend 1001 when the client vanishes without a close", async () => {
    const raw = await RawWebSocket.connect(port, "/echo/client-vanish");
    raw.socket.destroy();
    const seen = await backendCloseMatching((c) => c.reason === "client went away");
    assert.equal(seen.code, 1001);
  });
});

describe("relay: heartbeats and idleness", () => {
  it("pings both peers, swallows the pongs to its own pings, and passes application pings through", async () => {
    const ws = await open("/hb/app");
    const gatewayPings: string[] = [];
    const pongs: string[] = [];
    ws.on("ping", (data: Buffer) => gatewayPings.push(data.toString()));
    ws.on("pong", (data: Buffer) => pongs.push(data.toString()));
    const backendSocket = backend.connections.at(-1);
    assert.ok(backendSocket !== undefined);
    const backendPings: string[] = [];
    backendSocket.on("ping", (data: Buffer) => backendPings.push(data.toString()));
    ws.ping("app-ping");
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.ok(gatewayPings.length >= 2, `client got ${gatewayPings.length} gateway pings`);
    assert.ok(gatewayPings.every((p) => p.startsWith("wsgate:")));
    assert.ok(backendPings.filter((p) => p.startsWith("wsgate:")).length >= 2);
    assert.ok(backendPings.includes("app-ping"), "the application's ping reached the backend");
    assert.deepEqual(pongs, ["app-ping"], "only the application's pong came back");
    assert.equal(ws.readyState, WebSocket.OPEN, "answered pings keep the session open");
    ws.close();
  });

  it("drops a client that does not answer pings, and tells the backend why", async () => {
    const raw = await RawWebSocket.connect(port, "/hb/silent");
    await raw.waitForFrame((f) => f.opcode === Opcode.Ping);
    const close = await raw.waitForFrame((f) => f.opcode === Opcode.Close, 3000);
    assert.equal(close.payload.readUInt16BE(0), 1001);
    await withTimeout(raw.closed, 3000, "TCP close");
    const seen = await backendCloseMatching((c) => c.reason === "client did not answer ping");
    assert.equal(seen.code, 1001);
  });

  it("closes an idle session with 1001 on both sides, and keeps a busy one", async () => {
    const idle = await open("/idle/quiet");
    const busy = await open("/idle/busy");
    const idleClosed = closeOf(idle);
    const started = Date.now();
    for (let i = 0; i < 8; i++) {
      busy.send("tick");
      await nextMessage(busy);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.deepEqual(await idleClosed, { code: 1001, reason: "idle timeout" });
    assert.ok(Date.now() - started >= 350);
    assert.equal(busy.readyState, WebSocket.OPEN);
    await backendCloseMatching((c) => c.reason === "idle timeout");
    busy.close();
  });
});

describe("relay: backpressure", () => {
  it("stops reading a fast backend while its client does not read, so memory stays bounded", async () => {
    const streamBackend = await startBackend({
      onConnection: (socket) => {
        const chunk = Buffer.alloc(64 * 1024, 3);
        const started = Date.now();
        let sent = 0;
        const pump = (): void => {
          // Bounded in bytes and time: up to 96 MiB offered, for at most 3 s.
          while (socket.bufferedAmount < 32 * 1024 * 1024 && sent < 96 * 1024 * 1024) {
            socket.send(chunk);
            sent += chunk.length;
          }
          if (Date.now() - started < 3000 && sent < 96 * 1024 * 1024) setTimeout(pump, 10);
        };
        pump();
      },
    });
    const streamPort = await freePort();
    const streamGateway = await GatewayProcess.start(
      `
kind: HTTPServer
name: stream-server
port: ${streamPort}
address: 127.0.0.1
rules: [{ paths: [{ pathPrefix: /, backend: stream }] }]
---
kind: Pipeline
name: stream
filters:
  - kind: WebSocketProxy
    name: proxy
    pools: [{ servers: [{ url: ${streamBackend.url} }], serverMaxMsgSize: -1 }]
`,
    );
    const rss = (): number => {
      const status = readFileSync(`/proc/${streamGateway.child.pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    };
    try {
      const before = rss();
      const raw = await RawWebSocket.connect(streamPort, "/stream");
      raw.socket.pause();
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const backendSocket = streamBackend.connections[0];
      assert.ok(backendSocket !== undefined);
      const growth = rss() - before;
      assert.ok(
        backendSocket.bufferedAmount > 8 * 1024 * 1024,
        `the backend should be held back (buffered ${backendSocket.bufferedAmount})`,
      );
      assert.ok(growth < 24 * 1024 * 1024, `gateway memory grew by ${growth} bytes`);
      raw.socket.destroy();
    } finally {
      await streamGateway.stop();
      await streamBackend.close();
    }
  });
});
