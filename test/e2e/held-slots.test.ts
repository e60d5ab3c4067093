// One client holding every slot (issue 15 item 8), end to end (wsgate run): one address gets a documented share of
// `maxConnections`, a frame that has begun must finish within `frameTimeout` (a trickle does not keep it alive), and
// every stage of a handshake has a deadline. Regressions: 30 idle sessions from one address kept all 30 slots; a frame
// trickled at one byte every 2 s was never cut.
import assert from "node:assert/strict";
import type http from "node:http";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { Opcode } from "../../src/websocket/protocol.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, rawExchange, statusOf, withTimeout } from "../helpers/net.js";
import { startRecordingBackend, type RecordingBackend } from "../helpers/recording-backend.js";
import { sleep } from "../fuzz/process-probe.js";
import { openRawClient, RawBackend, type RawPeer } from "../fuzz/raw-peers.js";
import { encodeFrame, type ParsedFrame } from "../fuzz/wire.js";

const MASK = Buffer.from([7, 1, 8, 2]);
const FRAME_TIMEOUT_MS = 1000;

let raw: RawBackend;
let silent: RawBackend;
let web: RecordingBackend;
let gateway: GatewayProcess;
let sharedPort: number;
let unlimitedPort: number;
let run = 0;

before(async () => {
  raw = await RawBackend.start();
  silent = await RawBackend.start(() => {});
  web = await startRecordingBackend();
  [sharedPort, unlimitedPort] = [await freePort(), await freePort()];
  const server = (name: string, port: number, extra: string): string => `
kind: HTTPServer
name: ${name}
port: ${port}
address: 127.0.0.1
maxConnections: 30
clientHeaderTimeout: 500ms
clientRequestTimeout: 1s${extra}
rules:
  - paths:
      - { pathPrefix: /ws, backend: ws }
      - { pathPrefix: /big, backend: big }
      - { pathPrefix: /silent, backend: silent }
      - { pathPrefix: /web, backend: web }
---`;
  gateway = await GatewayProcess.start(
    `${server("shared", sharedPort, "")}
${server("unlimited", unlimitedPort, "\nmaxConnectionsPerIP: 0")}
kind: Pipeline
name: ws
filters:
  - kind: WebSocketProxy
    name: proxy
    closeTimeout: 1s
    frameTimeout: ${FRAME_TIMEOUT_MS}ms
    pools: [{ servers: [{ url: ${raw.url} }] }]
---
kind: Pipeline
name: big
filters:
  - kind: WebSocketProxy
    name: proxy
    closeTimeout: 1s
    frameTimeout: ${FRAME_TIMEOUT_MS}ms
    clientMaxMsgSize: -1
    pools: [{ servers: [{ url: ${raw.url} }] }]
---
kind: Pipeline
name: silent
filters:
  - kind: WebSocketProxy
    name: proxy
    handshakeTimeout: 1s
    pools: [{ servers: [{ url: ${silent.url} }] }]
---
kind: Pipeline
name: web
filters:
  - kind: Proxy
    name: proxy
    pools: [{ servers: [{ url: ${web.url} }] }]
`,
    { servers: 2 },
  );
});

after(async () => {
  await gateway?.stop();
  await raw?.close();
  await silent?.close();
  await web?.close();
});

function openWs(port: number): Promise<{ ws?: WebSocket; status?: number; retryAfter?: string }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws?n=${++run}`);
  ws.on("error", () => {});
  return withTimeout(
    new Promise((resolve) => {
      ws.once("open", () => resolve({ ws }));
      ws.once("unexpected-response", (_req, res: http.IncomingMessage) => {
        resolve({ status: res.statusCode, retryAfter: res.headers["retry-after"] });
        res.resume();
      });
    }),
    3000,
    "a session or a refusal",
  );
}

describe("one address's share of maxConnections", () => {
  it("30 idle sessions from one address: a quarter (8) get in, the rest 429, and a closed one frees its place", async () => {
    const results = [];
    for (let i = 0; i < 30; i++) results.push(await openWs(sharedPort));
    const open = results.flatMap((result) => (result.ws === undefined ? [] : [result.ws]));
    try {
      assert.equal(open.length, 8, "ceil(30 / 4) sessions");
      assert.deepEqual(
        [...new Set(results.filter((result) => result.ws === undefined).map((r) => `${r.status} ${r.retryAfter}`))],
        ["429 1"],
      );
      // A plain request from the same address is a place too.
      const plain = await rawExchange(sharedPort, "GET /web HTTP/1.1\r\nHost: x\r\n\r\n");
      assert.equal(statusOf(plain.received), 429);
      const closed = new Promise((resolve) => open[0]?.once("close", resolve));
      open[0]?.terminate();
      await closed;
      const again = await withTimeout(
        (async () => {
          for (;;) {
            const result = await openWs(sharedPort);
            if (result.ws !== undefined) return result.ws;
            await sleep(20);
          }
        })(),
        3000,
        "a place to come free",
      );
      open.push(again);
    } finally {
      for (const ws of open) ws.terminate();
    }
  });

  it("maxConnectionsPerIP: 0 turns the share off (a listener behind a balancer)", async () => {
    const open: WebSocket[] = [];
    try {
      for (let i = 0; i < 12; i++) {
        const result = await openWs(unlimitedPort);
        assert.ok(result.ws, `session ${i} opened (got ${String(result.status)})`);
        open.push(result.ws);
      }
    } finally {
      for (const ws of open) ws.terminate();
    }
  });
});

/** A session through the gateway by hand: the client's end and the backend's end. */
async function session(): Promise<{ client: RawPeer; server: RawPeer }> {
  const path = `/ws/frames?n=${++run}`;
  const client = await openRawClient(unlimitedPort, path);
  const server = await raw.nextPeer(path);
  return { client, server };
}

const isClose = (frame: ParsedFrame): boolean => frame.opcode === Opcode.Close;
const codeOf = (frame: ParsedFrame): number => frame.payload.readUInt16BE(0);

function masked(opcode: number, payload: Buffer, claimedLength?: number): Buffer {
  return encodeFrame({
    fin: true,
    rsv: 0,
    opcode,
    payload,
    mask: MASK,
    lengthForm: "shortest",
    ...(claimedLength === undefined ? {} : { claimedLength }),
  });
}

function plain(opcode: number, payload: Buffer, claimedLength?: number): Buffer {
  return encodeFrame({
    fin: true,
    rsv: 0,
    opcode,
    payload,
    mask: undefined,
    lengthForm: "shortest",
    ...(claimedLength === undefined ? {} : { claimedLength }),
  });
}

/** Sends `bytes` one at a time, `everyMs` apart, until the socket closes or `count` bytes went. */
async function trickle(peer: RawPeer, bytes: Buffer, everyMs: number): Promise<void> {
  for (const byte of bytes) {
    if (peer.isClosed || peer.socket.destroyed) return;
    peer.send(Buffer.from([byte]));
    await sleep(everyMs);
  }
}

describe("frameTimeout: a frame that has begun must finish", () => {
  // [what, who stalls, what it sends, whether the other side can still get a clean 1001]
  const stalls: Array<[string, "client" | "backend", (peer: RawPeer) => Promise<void>, boolean]> = [
    ["2 of a 6-byte header", "client", async (p) => p.send(masked(Opcode.Text, Buffer.alloc(10)).subarray(0, 2)), true],
    ["1 byte of a header", "client", async (p) => p.send(Buffer.from([0x81])), true],
    [
      "8 of a 14-byte header",
      "client",
      async (p) => p.send(masked(Opcode.Binary, Buffer.alloc(70000)).subarray(0, 8)),
      true,
    ],
    [
      "a header and 10 of 100 payload bytes",
      "client",
      async (p) => p.send(masked(Opcode.Text, Buffer.alloc(10), 100)),
      false,
    ],
    ["3 of a ping's 10 bytes", "client", async (p) => p.send(masked(Opcode.Ping, Buffer.alloc(3), 10)), true],
    [
      "a frame trickled at one byte every 200 ms",
      "client",
      (p) => trickle(p, masked(Opcode.Text, Buffer.alloc(100)), 200),
      false,
    ],
    ["1 byte of a header", "backend", async (p) => p.send(Buffer.from([0x82])), true],
    [
      "a header and 10 of 100 payload bytes",
      "backend",
      async (p) => p.send(plain(Opcode.Text, Buffer.alloc(10), 100)),
      false,
    ],
    [
      "a frame trickled at one byte every 200 ms",
      "backend",
      (p) => trickle(p, plain(Opcode.Text, Buffer.alloc(100)), 200),
      false,
    ],
  ];

  it(`${stalls.length} stalled frames: the sender gets 1008 within 1.5 timeouts, the other side 1001 or the end of TCP`, async () => {
    const wrong: string[] = [];
    await Promise.all(
      stalls.map(async ([what, who, send, clean]) => {
        const { client, server } = await session();
        const [offender, other] = who === "client" ? [client, server] : [server, client];
        const started = performance.now();
        void send(offender);
        try {
          const close = await offender.waitForFrame(isClose, FRAME_TIMEOUT_MS * 2.5, "the offender's close");
          const took = performance.now() - started;
          if (codeOf(close) !== 1008) wrong.push(`${who} ${what}: close ${codeOf(close)}`);
          if (took < FRAME_TIMEOUT_MS * 0.9) wrong.push(`${who} ${what}: cut after ${took.toFixed(0)} ms`);
          await other.waitFor(
            () => (other.frames().some(isClose) || other.isClosed || other.sawEnd ? true : undefined),
            2000,
            "the other side's close",
          );
          const otherClose = other.frames().find(isClose);
          if (clean && (otherClose === undefined || codeOf(otherClose) !== 1001)) {
            wrong.push(`${who} ${what}: other side got ${otherClose === undefined ? "no close" : codeOf(otherClose)}`);
          }
          await offender.waitClosed(3000);
        } catch (error) {
          wrong.push(`${who} ${what}: ${(error as Error).message}`);
        } finally {
          client.socket.destroy();
          server.socket.destroy();
        }
      }),
    );
    assert.deepEqual(wrong, []);
  });

  it("frames that finish in time, slowly or not, and an idle session, are not cut", async () => {
    const { client, server } = await session();
    try {
      // Well within the timeout, a byte every 50 ms.
      await trickle(client, masked(Opcode.Text, Buffer.from("slow but in time")), 50);
      await server.waitForFrame((frame) => frame.payload.toString() === "slow but in time", 2000);
      // Idle, between frames, for twice the timeout.
      await sleep(FRAME_TIMEOUT_MS * 2);
      client.send(masked(Opcode.Text, Buffer.from("still here")));
      await server.waitForFrame((frame) => frame.payload.toString() === "still here", 2000);
      server.send(plain(Opcode.Text, Buffer.from("and back")));
      await client.waitForFrame((frame) => frame.payload.toString() === "and back", 2000);
      assert.equal(client.frames().some(isClose), false);
    } finally {
      client.socket.destroy();
      server.socket.destroy();
    }
  });
});

describe("frameTimeout and backpressure", () => {
  it("a frame held up because its receiver does not read is not cut: the gateway stopped reading its sender", async () => {
    const path = `/big?n=${++run}`;
    const client = await openRawClient(unlimitedPort, path);
    const server = await raw.nextPeer(path);
    try {
      server.socket.pause();
      const payload = Buffer.alloc(32 * 1024 * 1024, 0x61);
      const sending = client.sendPieces([masked(Opcode.Binary, payload)]);
      await sleep(FRAME_TIMEOUT_MS * 2.5);
      server.socket.resume();
      await withTimeout(sending, 10_000, "the frame to be sent");
      await server.waitFor(() => (server.receivedLength >= payload.length ? true : undefined), 10_000, "the frame");
      assert.equal(client.frames().some(isClose), false, "no close for the client");
      assert.equal(server.isClosed, false);
    } finally {
      client.socket.destroy();
      server.socket.destroy();
    }
  });
});

describe("every stage of a handshake has a deadline", () => {
  it("headers trickled in: 408 after clientHeaderTimeout", async () => {
    const socket = net.connect(unlimitedPort, "127.0.0.1");
    socket.on("error", () => {});
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    const closed = new Promise((resolve) => socket.once("close", resolve));
    const request = "GET /ws HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    const trickling = (async () => {
      for (let i = 0; i < 40 && !socket.destroyed; i++) {
        socket.write(i < request.length ? (request[i] as string) : "a");
        await sleep(100);
      }
    })();
    await withTimeout(closed, 3000, "the gateway to cut the slow headers");
    await trickling;
    assert.equal(statusOf(Buffer.from(received, "latin1")), 408);
  });

  it("a body trickled in on a Proxy route: 408 after clientRequestTimeout, and the backend never gets it all", async () => {
    const socket = net.connect(unlimitedPort, "127.0.0.1");
    socket.on("error", () => {});
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.write("POST /web/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
    const started = performance.now();
    const trickling = (async () => {
      for (let i = 0; i < 60 && !socket.destroyed; i++) {
        socket.write("b");
        await sleep(100);
      }
    })();
    await withTimeout(closed, 4000, "the gateway to cut the slow body");
    await trickling;
    const took = performance.now() - started;
    assert.ok(took < 3000, `cut after ${took.toFixed(0)} ms`);
    assert.match(received, /^HTTP\/1\.1 408/);
    assert.equal(web.requests.filter((request) => request.url === "/web/upload").length, 0);
  });

  it("a backend that accepts TCP and never answers the upgrade: 504 after handshakeTimeout", async () => {
    const started = performance.now();
    const answer = await rawExchange(
      unlimitedPort,
      "GET /silent HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      4000,
    );
    assert.equal(statusOf(answer.received), 504);
    assert.ok(performance.now() - started < 2500);
  });
});
