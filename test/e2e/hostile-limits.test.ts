// Limits per gateway, end to end (wsgate run): `maxConnections` holds under a burst of connections, and a flood of
// handshakes that hang on one route's backend does not slow another route's handshakes.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { Opcode } from "../../src/websocket/protocol.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { fdsSettleAtMost, inBatches, openFds, sleep } from "../fuzz/process-probe.js";
import { openRawClient, RawBackend, upgradeRequest } from "../fuzz/raw-peers.js";
import { closeFrame, closePayload, encodeFrame } from "../fuzz/wire.js";

const MAX_CONNECTIONS = 60;
const MASK = Buffer.from([3, 1, 4, 1]);

let backend: RawBackend;
let silent: RawBackend;
let gateway: GatewayProcess;
let port: number;
let run = 0;

before(async () => {
  backend = await RawBackend.start();
  silent = await RawBackend.start(() => {});
  port = await freePort();
  const pipeline = (name: string, url: string): string => `
---
kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    handshakeTimeout: 3s
    closeTimeout: 1s
    pools: [{ servers: [{ url: ${url} }] }]
`;
  gateway = await GatewayProcess.start(
    `
kind: HTTPServer
name: limits-server
port: ${port}
address: 127.0.0.1
maxConnections: ${MAX_CONNECTIONS}
# Every test client is 127.0.0.1: the per-address share would be what is measured.
maxConnectionsPerIP: ${MAX_CONNECTIONS}
clientHeaderTimeout: 1s
rules:
  - paths:
      - pathPrefix: /flood
        backend: flood
      - pathPrefix: /fast
        backend: fast
` +
      pipeline("fast", backend.url) +
      pipeline("flood", silent.url),
  );
});

after(async () => {
  await gateway?.stop();
  await backend?.close();
  await silent?.close();
});

function pid(): number {
  return gateway.child.pid ?? 0;
}

/** Time (ms) for one full handshake on /fast, the backend's end closed right after. */
async function handshakeTime(): Promise<number> {
  const path = `/fast?run=${++run}`;
  const started = performance.now();
  const client = await openRawClient(port, path, "", 5000);
  const server = await backend.nextPeer(path);
  const took = performance.now() - started;
  client.send(encodeFrame(closeFrame(closePayload(1000, ""), MASK)));
  await server.waitForFrame((frame) => frame.opcode === Opcode.Close, 3000);
  client.socket.destroy();
  server.socket.destroy();
  return took;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Opens `count` raw connections that may send `request`; resolves once each is connected or already dropped. */
async function openMany(count: number, request: string): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  await inBatches(count, 100, async () => {
    const socket = net.connect(port, "127.0.0.1");
    sockets.push(socket);
    socket.on("error", () => {});
    await withTimeout(
      new Promise<void>((resolve) => {
        socket.once("connect", () => {
          if (request !== "") socket.write(request);
          resolve();
        });
        socket.once("close", () => resolve());
      }),
      5000,
      "a connection",
    );
  });
  return sockets;
}

describe("gateway limits (wsgate run)", () => {
  it("keeps at most maxConnections client connections open under a burst of 400", async () => {
    await sleep(100);
    const baseline = openFds(pid());
    const sockets = await openMany(400, "");
    try {
      await sleep(200);
      const during = openFds(pid());
      assert.ok(
        during <= baseline + MAX_CONNECTIONS + 2,
        `descriptors: ${baseline} before, ${during} during the burst`,
      );
      const dropped = sockets.filter((socket) => socket.destroyed).length;
      assert.ok(dropped >= 400 - MAX_CONNECTIONS - 2, `${dropped} of 400 connections over the limit were dropped`);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    const after = await fdsSettleAtMost(pid(), baseline + 2, 3000);
    assert.ok(after <= baseline + 2, `descriptors: ${baseline} before, ${after} after`);
    assert.ok((await handshakeTime()) < 2000, "the gateway serves again");
  });

  it("keeps another route's handshakes fast while one route's backend leaves a flood of handshakes hanging", async () => {
    const calm: number[] = [];
    for (let i = 0; i < 10; i++) calm.push(await handshakeTime());
    // 25 hanging handshakes: below the route's share (half of maxConnections), so no limit is what is measured.
    const flood = await openMany(25, "");
    for (const [index, socket] of flood.entries()) socket.write(upgradeRequest(port, `/flood?n=${index}`));
    try {
      await sleep(200);
      const busy: number[] = [];
      for (let i = 0; i < 10; i++) busy.push(await handshakeTime());
      assert.ok(
        median(busy) < Math.max(50, 4 * median(calm)),
        `median handshake ${median(busy).toFixed(1)} ms during the flood, ${median(calm).toFixed(1)} ms before`,
      );
      assert.ok(silent.sockets.length >= 25, "the flood reached its backend and hangs there");
    } finally {
      for (const socket of flood) socket.destroy();
    }
  });

  it("leaves other routes a share of maxConnections when one route's handshakes hang", async () => {
    const flood = await openMany(MAX_CONNECTIONS, "");
    for (const [index, socket] of flood.entries()) {
      if (!socket.destroyed) socket.write(upgradeRequest(port, `/flood?fill=${index}`));
    }
    try {
      await sleep(200);
      assert.ok((await handshakeTime()) < 2000, "a handshake on /fast gets through");
    } finally {
      for (const socket of flood) socket.destroy();
    }
  });
});
