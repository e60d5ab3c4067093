// Slow and greedy peers, end to end (wsgate run, raw TCP peers): a client that never reads while its backend
// streams at full speed, and a backend that never reads while its client sends. Backpressure must reach the fast
// side and keep the gateway's memory bounded while other sessions keep their latency; past `maxBufferedBytes`
// the slow peer gets 1008 and the other side a clean 1001.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Opcode } from "../../src/websocket/protocol.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort } from "../helpers/net.js";
import { rssBytes, sleep } from "../fuzz/process-probe.js";
import { openRawClient, RawBackend, type RawPeer } from "../fuzz/raw-peers.js";
import { closeFrame, encodeFrame } from "../fuzz/wire.js";

const MASK = Buffer.from([9, 8, 7, 6]);
const CAP = 32 * 1024;
const CHUNK = 64 * 1024;

function binary(size: number, masked: boolean): Buffer {
  return encodeFrame({
    fin: true,
    rsv: 0,
    opcode: Opcode.Binary,
    payload: Buffer.alloc(size, 5),
    mask: masked ? MASK : undefined,
    lengthForm: "shortest",
  });
}

/**
 * Writes frames as fast as the socket takes them, for at most `ms` and `maxBytes`; resolves with what the kernel
 * would not take (the sender's own buffer), which grows once backpressure reaches it.
 */
async function flood(peer: RawPeer, masked: boolean, ms: number, maxBytes: number): Promise<number> {
  const frame = binary(CHUNK, masked);
  const deadline = Date.now() + ms;
  let sent = 0;
  let peakBuffered = 0;
  while (Date.now() < deadline && sent < maxBytes && !peer.socket.destroyed) {
    // Keep at most 8 MiB queued in this process: enough to show the gateway is not reading.
    while (peer.socket.writableLength < 8 * 1024 * 1024 && sent < maxBytes && !peer.socket.destroyed) {
      peer.socket.write(frame);
      sent += frame.length;
    }
    peakBuffered = Math.max(peakBuffered, peer.socket.writableLength);
    await sleep(10);
  }
  return peakBuffered;
}

/** Makes the backend's end of a session echo every frame it gets, once. */
function echoing(server: RawPeer): void {
  let echoed = 0;
  server.socket.on("data", () => {
    const frames = server.frames();
    for (const frame of frames.slice(echoed))
      server.send(encodeFrame({ ...frame, mask: undefined, lengthForm: "shortest" }));
    echoed = frames.length;
  });
}

/** Round-trip times (ms) of `count` small messages on an echoing session, one at a time. */
async function echoTimes(client: RawPeer, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const before = client.frames().length;
    const started = performance.now();
    client.send(binary(32, true));
    await client.waitFor(() => (client.frames().length > before ? true : undefined), 3000, "an echo");
    times.push(performance.now() - started);
    await sleep(10);
  }
  return times;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

let backend: RawBackend;
let gateway: GatewayProcess;
let port: number;
let run = 0;

before(async () => {
  backend = await RawBackend.start();
  port = await freePort();
  const pipeline = (name: string, extra: string): string => `
---
kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    closeTimeout: 1s${extra}
    pools: [{ servers: [{ url: ${backend.url} }], clientMaxMsgSize: -1, serverMaxMsgSize: -1 }]
`;
  gateway = await GatewayProcess.start(
    `
kind: HTTPServer
name: slow-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /capped
        backend: capped
      - pathPrefix: /heartbeat
        backend: heartbeat
      - pathPrefix: /
        backend: default
` +
      pipeline("default", "") +
      pipeline("capped", `\n    maxBufferedBytes: ${CAP}`) +
      pipeline("heartbeat", "\n    pingInterval: 100ms\n    pongTimeout: 300ms"),
  );
});

after(async () => {
  await gateway?.stop();
  await backend?.close();
});

async function session(prefix: string): Promise<{ path: string; client: RawPeer; server: RawPeer }> {
  const path = `${prefix}?run=${++run}`;
  const client = await openRawClient(port, path);
  const server = await backend.nextPeer(path);
  return { path, client, server };
}

function sessionLine(path: string): Promise<LogLine> {
  return gateway.nextLog((line) => line.event === "websocket_session" && line.path === path);
}

describe("slow and greedy peers (wsgate run)", () => {
  it("holds back a backend streaming to a client that never reads: bounded memory, and a neighbour keeps its latency", async () => {
    const pid = gateway.child.pid ?? 0;
    const neighbour = await session("/default/neighbour");
    echoing(neighbour.server);
    const calm = await echoTimes(neighbour.client, 20);
    const greedy = await session("/default/never-reads");
    greedy.client.socket.pause();
    const rssBefore = rssBytes(pid);
    const [peakBuffered, busy] = await Promise.all([
      flood(greedy.server, false, 2500, 512 * 1024 * 1024),
      sleep(300).then(() => echoTimes(neighbour.client, 40)),
    ]);
    const growth = rssBytes(pid) - rssBefore;
    assert.ok(peakBuffered > 4 * 1024 * 1024, `the backend is held back (it could not send ${peakBuffered} bytes)`);
    assert.ok(growth < 24 * 1024 * 1024, `gateway memory grew by ${(growth / 1048576).toFixed(1)} MiB`);
    const p90 = percentile(busy, 90);
    assert.ok(
      p90 < Math.max(100, 4 * percentile(calm, 90)),
      `neighbour p90 round trip ${p90.toFixed(1)} ms during the flood, ${percentile(calm, 90).toFixed(1)} ms before`,
    );
    assert.equal(greedy.client.isClosed, false, "under the default limit the slow session stays open");
    for (const peer of [greedy.client, greedy.server, neighbour.client, neighbour.server]) peer.socket.destroy();
  });

  it("holds back a client sending to a backend that never reads, with bounded memory", async () => {
    const pid = gateway.child.pid ?? 0;
    const { client, server } = await session("/default/backend-never-reads");
    server.socket.pause();
    const rssBefore = rssBytes(pid);
    const peakBuffered = await flood(client, true, 2000, 512 * 1024 * 1024);
    const growth = rssBytes(pid) - rssBefore;
    assert.ok(peakBuffered > 4 * 1024 * 1024, `the client is held back (it could not send ${peakBuffered} bytes)`);
    assert.ok(growth < 24 * 1024 * 1024, `gateway memory grew by ${(growth / 1048576).toFixed(1)} MiB`);
    assert.equal(server.isClosed, false);
    client.socket.destroy();
    server.socket.destroy();
  });

  it("closes a session whose client does not read once the gateway holds maxBufferedBytes: 1008 to it, 1001 to the backend", async () => {
    const { path, client, server } = await session("/capped/client-never-reads");
    client.socket.pause();
    void flood(server, false, 2000, 64 * 1024 * 1024);
    const close = await server.waitForFrame((frame) => frame.opcode === Opcode.Close, 3000, "the backend's close");
    assert.equal(close.payload.readUInt16BE(0), 1001);
    assert.equal(close.payload.toString("utf8", 2), "client: buffer limit exceeded");
    server.socket.destroy();
    const line = await sessionLine(path);
    assert.equal(line.closeCode, 1008);
    assert.equal(line.closedBy, "gateway");
    assert.equal(line.closeReason, "client: buffer limit exceeded");
    // What the client finally reads ends with the gateway's 1008 (or is cut if it stopped inside a frame).
    client.socket.resume();
    await client.waitClosed(3000);
    const last = client.frames().at(-1);
    if (last?.opcode === Opcode.Close) assert.equal(last.payload.readUInt16BE(0), 1008);
  });

  it("closes a session whose backend does not read once the gateway holds maxBufferedBytes: 1008 to it, 1001 to the client", async () => {
    const { path, client, server } = await session("/capped/backend-never-reads");
    server.socket.pause();
    void flood(client, true, 2000, 64 * 1024 * 1024);
    const close = await client.waitForFrame((frame) => frame.opcode === Opcode.Close, 3000, "the client's close");
    assert.equal(close.payload.readUInt16BE(0), 1001);
    assert.equal(close.payload.toString("utf8", 2), "backend: buffer limit exceeded");
    client.socket.destroy();
    const line = await sessionLine(path);
    assert.equal(line.closeCode, 1008);
    assert.equal(line.closeReason, "backend: buffer limit exceeded");
    server.socket.resume();
    await server.waitClosed(3000);
  });

  it("regression: keeps both peers of a long, slow frame under pings: the one receiving it and the one sending it", async () => {
    // Found by this suite: the backend's pong deadline ran from when a ping was queued behind the client's frame in
    // flight, not from when it went out; and the client, which cannot send a pong inside its own frame, was
    // dropped as "did not answer ping" while it was still sending. A 1 MiB frame sent over 1.6 s, with 300 ms to
    // answer a ping, lost its session either way.
    const { path, client, server } = await session("/heartbeat/upload");
    server.answerPings(undefined);
    const upload = binary(1024 * 1024, true);
    // 64 KiB every 100 ms: the frame takes about 1.6 s, over five pong timeouts.
    for (let at = 0; at < upload.length && !client.socket.destroyed; at += CHUNK) {
      client.send(upload.subarray(at, at + CHUNK));
      await sleep(100);
    }
    const got = await server.waitForFrame((frame) => frame.opcode === Opcode.Binary, 3000, "the upload");
    assert.ok(got.raw.equals(upload), "the frame arrived whole");
    assert.equal(
      server.frames().some((frame) => frame.opcode === Opcode.Close),
      false,
      "the backend was not closed",
    );
    assert.equal(client.isClosed, false);
    client.send(encodeFrame(closeFrame(Buffer.from([0x03, 0xe8]), MASK)));
    await server.waitForFrame((frame) => frame.opcode === Opcode.Close, 3000);
    server.send(encodeFrame(closeFrame(Buffer.from([0x03, 0xe8]), undefined)));
    const line = await sessionLine(path);
    assert.equal(line.closedBy, "client");
    assert.equal(line.closeCode, 1000);
  });

  it("lets a client that reads take a long stream at full speed under the default limit", async () => {
    const { client, server } = await session("/default/reads");
    const frames = 800;
    const total = frames * binary(CHUNK, false).length;
    void (async () => {
      for (let i = 0; i < frames && !server.socket.destroyed; i++) {
        if (!server.socket.write(binary(CHUNK, false)))
          await new Promise((resolve) => server.socket.once("drain", resolve));
      }
    })();
    await client.waitFor(() => (client.receivedLength >= total ? true : undefined), 10_000, "the whole stream");
    assert.equal(client.frames().length, frames);
    client.send(encodeFrame(closeFrame(Buffer.from([0x03, 0xe8]), MASK)));
    const echoed = await server.waitForFrame((frame) => frame.opcode === Opcode.Close, 3000);
    assert.equal(echoed.payload.readUInt16BE(0), 1000, "the session ends with the client's own close");
    client.socket.destroy();
    server.socket.destroy();
  });
});
