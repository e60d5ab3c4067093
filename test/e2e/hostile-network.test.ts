// Broken networks, end to end (wsgate run, raw TCP peers): backends killed mid-message and mid-frame, clients reset
// mid-frame, backends that never answer the handshake or answer it and then say nothing. Each side gets the
// documented close (or status), and every socket is released: over 1,000 such sessions the gateway's open
// descriptors come back to where they were, and shutdown finds no session left.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { Opcode } from "../../src/websocket/protocol.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort, rawExchange, statusOf, waitUntil } from "../helpers/net.js";
import { fdsSettleAtMost, inBatches, openFds, rssBytes, sleep } from "../fuzz/process-probe.js";
import { answer101, openRawClient, RawBackend, upgradeRequest, type RawPeer } from "../fuzz/raw-peers.js";
import { closeFrame, encodeFrame, type WireFrame } from "../fuzz/wire.js";

const MASK = Buffer.from([0x11, 0x22, 0x33, 0x44]);

function data(parts: Partial<WireFrame> & { payload: Buffer }, masked: boolean): Buffer {
  return encodeFrame({
    fin: true,
    rsv: 0,
    opcode: Opcode.Binary,
    lengthForm: "shortest",
    mask: masked ? MASK : undefined,
    ...parts,
  });
}

let backend: RawBackend;
let silent: RawBackend;
let silent2: RawBackend;
let mute: RawBackend;
let gateway: GatewayProcess;
let port: number;
let run = 0;

before(async () => {
  backend = await RawBackend.start();
  silent = await RawBackend.start(() => {});
  silent2 = await RawBackend.start(() => {});
  // Answers the upgrade, then neither reads nor writes: a backend frozen after its 101.
  mute = await RawBackend.start((socket, head) => {
    answer101(socket, head);
    socket.pause();
  });
  port = await freePort();
  const pipeline = (name: string, url: string, extra = "", closeTimeout = "1s", handshakeTimeout = "5s"): string => `
---
kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    handshakeTimeout: ${handshakeTimeout}
    closeTimeout: ${closeTimeout}${extra}
    pools: [{ servers: [${url}], clientMaxMsgSize: -1, serverMaxMsgSize: -1 }]
`;
  gateway = await GatewayProcess.start(
    `
kind: HTTPServer
name: network-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /two-silent
        backend: two-silent
      - pathPrefix: /silent
        backend: silent
      - pathPrefix: /mute
        backend: mute
      - pathPrefix: /patient
        backend: patient
      - pathPrefix: /
        backend: raw
` +
      pipeline("raw", `{ url: ${backend.url} }`) +
      pipeline("patient", `{ url: ${backend.url} }`, "", "5s") +
      pipeline("silent", `{ url: ${silent.url} }`, "", "1s", "300ms") +
      pipeline("two-silent", `{ url: ${silent.url} }, { url: ${silent2.url} }`) +
      pipeline("mute", `{ url: ${mute.url} }`, "\n    pingInterval: 100ms\n    pongTimeout: 300ms"),
  );
});

after(async () => {
  await gateway?.stop();
  await backend?.close();
  await silent?.close();
  await silent2?.close();
  await mute?.close();
});

async function session(prefix = "/raw"): Promise<{ path: string; client: RawPeer; server: RawPeer }> {
  const path = `${prefix}?run=${++run}`;
  const client = await openRawClient(port, path);
  const server = await backend.nextPeer(path);
  return { path, client, server };
}

function sessionLine(path: string): Promise<LogLine> {
  return gateway.nextLog((line) => line.event === "websocket_session" && line.path === path);
}

function closeCode(peer: RawPeer): Promise<number> {
  return peer
    .waitForFrame((frame) => frame.opcode === Opcode.Close, 3000, "a close frame")
    .then((frame) => frame.payload.readUInt16BE(0));
}

describe("broken networks (wsgate run)", () => {
  it("gives the client 1011 when the backend is killed between the fragments of a message", async () => {
    const { path, client, server } = await session();
    server.send(data({ fin: false, payload: Buffer.from("first half") }, false));
    await client.waitForFrame((frame) => frame.opcode === Opcode.Binary, 3000);
    server.socket.resetAndDestroy();
    assert.equal(await closeCode(client), 1011);
    client.send(encodeFrame(closeFrame(Buffer.from([0x03, 0xf3]), MASK)));
    await client.waitClosed(3000);
    const line = await sessionLine(path);
    assert.equal(line.closedBy, "backend");
    assert.equal(line.closeCode, 1006);
  });

  it("ends the client's connection without a close frame when the backend is killed in the middle of a frame", async () => {
    const { path, client, server } = await session();
    const frame = data({ payload: Buffer.alloc(10_000, 7) }, false);
    server.send(frame.subarray(0, 4_000));
    await client.waitFor(() => (client.receivedLength >= 4_000 ? true : undefined), 3000, "the first part");
    server.socket.resetAndDestroy();
    await client.waitClosed(3000);
    assert.equal(client.frames().length, 0, "no frame could follow the cut one");
    assert.ok(client.bytes.equals(frame.subarray(0, 4_000)), "the client got what came, and nothing else");
    assert.equal((await sessionLine(path)).closedBy, "backend");
  });

  it("ends the backend's connection without a close frame when the client resets in the middle of a frame", async () => {
    const { path, client, server } = await session();
    const frame = data({ payload: Buffer.alloc(10_000, 9) }, true);
    client.send(frame.subarray(0, 5_000));
    await server.waitFor(() => (server.receivedLength >= 5_000 ? true : undefined), 3000, "the first part");
    client.socket.resetAndDestroy();
    await server.waitClosed(3000);
    assert.equal(server.frames().length, 0);
    const line = await sessionLine(path);
    assert.equal(line.closedBy, "client");
    assert.equal(line.closeCode, 1006);
  });

  it("gives the backend 1001 'client went away' when the client resets between frames", async () => {
    const { client, server } = await session();
    client.send(data({ payload: Buffer.from("complete") }, true));
    await server.waitForFrame((frame) => frame.opcode === Opcode.Binary, 3000);
    client.socket.resetAndDestroy();
    const close = await server.waitForFrame((frame) => frame.opcode === Opcode.Close, 3000);
    assert.equal(close.payload.readUInt16BE(0), 1001);
    assert.equal(close.payload.toString("utf8", 2), "client went away");
    server.send(encodeFrame(closeFrame(close.payload, undefined)));
    await server.waitClosed(3000);
  });

  it("answers 504 when the backend accepts TCP and never answers, and drops that backend connection", async () => {
    const answer = await rawExchange(port, upgradeRequest(port, "/silent"), 3000);
    assert.equal(statusOf(answer.received), 504);
    assert.ok(answer.closed, "the client's connection is closed");
    const backendSide = silent.sockets.at(-1);
    assert.ok(backendSide !== undefined, "the gateway reached the silent backend");
    await new Promise<void>((resolve) => {
      if (backendSide.destroyed) resolve();
      else backendSide.once("close", () => resolve());
    });
  });

  it("regression: notices a client that leaves during the backend handshake, drops that backend connection and dials no other", async () => {
    // Found by this suite: nothing read the client's socket while its backend handshake was pending, so a client
    // that reset went unseen until the backend answered (or handshakeTimeout, 10 s by default): the backend kept
    // a connection for nobody, and after its 101 got a whole session for a client long gone.
    const dialled = (): number => silent.sockets.length + silent2.sockets.length;
    const before = dialled();
    for (let i = 1; i <= 4; i++) {
      const socket = net.connect(port, "127.0.0.1");
      socket.on("error", () => {});
      socket.write(upgradeRequest(port, `/two-silent?run=${++run}`));
      await waitUntil(() => (dialled() >= before + i ? true : undefined), 3000, "the gateway to dial a backend");
      socket.destroy();
    }
    await sleep(500);
    assert.equal(dialled() - before, 4, "one backend connection per client, none after it left");
    const blamed = gateway.logs.filter(
      (line) => line.msg === "backend connect failed" && /^\/two-silent/.test(String(line.path)),
    );
    assert.deepEqual(blamed, [], "a client leaving is no backend's failure, and no reason to try the next server");
    const open = [...silent.sockets, ...silent2.sockets].filter((socket) => !socket.destroyed && !socket.readableEnded);
    await waitUntil(
      () => (open.every((socket) => socket.destroyed || socket.readableEnded) ? true : undefined),
      3000,
      "the gateway to drop the abandoned backend connections",
    );
  });

  it("detects a backend that sends its 101 and then nothing with pings: 1001 both ways, both connections ended", async () => {
    const path = `/mute?run=${++run}`;
    const client = await openRawClient(port, path);
    // The client answers the gateway's pings, so only the backend is found silent.
    let answered = 0;
    client.socket.on("data", () => {
      const pings = client.frames().filter((frame) => frame.opcode === Opcode.Ping);
      for (const ping of pings.slice(answered)) {
        client.send(encodeFrame({ ...closeFrame(ping.payload, MASK), opcode: Opcode.Pong }));
      }
      answered = pings.length;
    });
    const close = await client.waitForFrame((frame) => frame.opcode === Opcode.Close, 3000);
    assert.equal(close.payload.readUInt16BE(0), 1001);
    assert.equal(close.payload.toString("utf8", 2), "backend did not answer ping");
    client.send(encodeFrame(closeFrame(close.payload, MASK)));
    await client.waitClosed(3000);
    const line = await sessionLine(path);
    assert.equal(line.closedBy, "gateway");
    assert.equal(line.closeReason, "backend did not answer ping");
    const backendSide = mute.sockets.at(-1);
    assert.ok(backendSide !== undefined);
    await new Promise<void>((resolve) => {
      if (backendSide.destroyed || backendSide.readableEnded) resolve();
      else {
        backendSide.once("end", () => resolve());
        backendSide.once("close", () => resolve());
        backendSide.resume();
      }
    });
  });

  it("regression: a client held back by backpressure is read again when the backend vanishes, so its close reply ends the session at once", async () => {
    // Found by this suite: the relay paused the client while the backend's buffers were full and waited for a
    // 'drain' that a dead socket never emits, so the client's close reply went unread until closeTimeout (5 s
    // here) and its connection was then reset instead of ended.
    const { path, client, server } = await session("/patient");
    server.socket.pause();
    const chunk = data({ payload: Buffer.alloc(256 * 1024, 1) }, true);
    // Enough to fill the backend's socket buffers and hold the client back; bounded to 64 MiB.
    for (let sent = 0; sent < 64 && client.socket.writableLength < 8 * 1024 * 1024; sent++) client.send(chunk);
    await sleep(300);
    server.socket.resetAndDestroy();
    const started = Date.now();
    assert.equal(await closeCode(client), 1011);
    client.send(encodeFrame(closeFrame(Buffer.from([0x03, 0xf3]), MASK)));
    await client.waitClosed(4000, "the client's connection to end");
    const took = Date.now() - started;
    assert.ok(took < 2000, `the session ended ${took} ms after the backend vanished (closeTimeout is 5 s)`);
    assert.equal(client.sawError, false, "the client's connection was ended, not reset");
    assert.equal((await sessionLine(path)).closedBy, "backend");
  });

  it("closes TCP in RFC 6455's order after a close handshake: the client's at once, the backend's after its FIN", async () => {
    const { path, client, server } = await session("/patient");
    let backendSawFin = false;
    server.socket.on("end", () => (backendSawFin = true));
    client.send(encodeFrame(closeFrame(Buffer.from([0x03, 0xe8]), MASK)));
    await server.waitForFrame((frame) => frame.opcode === Opcode.Close, 3000, "the relayed close");
    server.send(encodeFrame(closeFrame(Buffer.from([0x03, 0xe8]), undefined)));
    // The gateway is the server of the client's connection: it closes that one first.
    await client.waitClosed(3000, "the client's connection, closed by the gateway");
    await sleep(300);
    assert.equal(backendSawFin, false, "the gateway leaves the backend's connection for the backend to close");
    assert.equal(server.isClosed, false);
    const ended = Date.now();
    server.socket.end();
    await server.waitClosed(3000, "the backend's connection, after the backend's FIN");
    assert.ok(Date.now() - ended < 2500, "the gateway follows the backend's FIN at once");
    const line = await sessionLine(path);
    assert.equal(line.closedBy, "client");
    assert.equal(line.closeCode, 1000);
  });

  it("ends the backend's connection at closeTimeout when the backend never closes it after the close handshake", async () => {
    const { path, client, server } = await session("/raw");
    server.send(encodeFrame(closeFrame(Buffer.from([0x03, 0xe8]), undefined)));
    await client.waitForFrame((frame) => frame.opcode === Opcode.Close, 3000, "the relayed close");
    const answered = Date.now();
    client.send(encodeFrame(closeFrame(Buffer.from([0x03, 0xe8]), MASK)));
    await client.waitClosed(3000);
    await server.waitClosed(3000, "the backend's connection, at closeTimeout (1s)");
    const waited = Date.now() - answered;
    assert.ok(
      waited >= 800,
      `the backend's connection ended ${waited} ms after the close handshake, before closeTimeout`,
    );
    assert.equal((await sessionLine(path)).closedBy, "backend");
  });

  it("releases every socket over 1,000 broken sessions: open descriptors come back, memory stays flat", async () => {
    const pid = gateway.child.pid ?? 0;
    await sleep(200);
    const fdsBefore = openFds(pid);
    const rssBefore = rssBytes(pid);
    const ends = [
      // Backend killed mid-message, mid-frame, between frames; client reset mid-frame and between frames.
      async ({ client, server }: { client: RawPeer; server: RawPeer }): Promise<void> => {
        server.send(data({ fin: false, payload: Buffer.from("half") }, false));
        await client.waitForFrame(() => true, 3000);
        server.socket.resetAndDestroy();
      },
      async ({ client, server }: { client: RawPeer; server: RawPeer }): Promise<void> => {
        server.send(data({ payload: Buffer.alloc(3000) }, false).subarray(0, 1000));
        await client.waitFor(() => (client.receivedLength > 0 ? true : undefined), 3000, "bytes");
        server.socket.resetAndDestroy();
      },
      async ({ server }: { client: RawPeer; server: RawPeer }): Promise<void> => {
        server.socket.destroy();
      },
      async ({ client, server }: { client: RawPeer; server: RawPeer }): Promise<void> => {
        client.send(data({ payload: Buffer.alloc(3000) }, true).subarray(0, 1000));
        await server.waitFor(() => (server.receivedLength > 0 ? true : undefined), 3000, "bytes");
        client.socket.resetAndDestroy();
      },
      async ({ client }: { client: RawPeer; server: RawPeer }): Promise<void> => {
        client.socket.resetAndDestroy();
      },
    ];
    const paths: string[] = [];
    await inBatches(1000, 16, async (index) => {
      const opened = await session(`/raw/broken${index % ends.length}`);
      paths.push(opened.path);
      await (ends[index % ends.length] as (typeof ends)[number])(opened);
      // The side still standing is told (or cut); it then goes as well.
      await Promise.race([opened.client.closed, opened.server.closed, sleep(3000)]);
      opened.client.socket.destroy();
      opened.server.socket.destroy();
    });
    const wanted = new Set(paths);
    const lines = await gateway.logsMatching(
      (line) => line.event === "websocket_session" && wanted.has(String(line.path)),
      1000,
      10_000,
    );
    assert.equal(lines.length, 1000, "every session ended and was logged once");
    const fdsAfter = await fdsSettleAtMost(pid, fdsBefore + 5, 5000);
    assert.ok(fdsAfter <= fdsBefore + 5, `open descriptors: ${fdsBefore} before, ${fdsAfter} after`);
    const growth = rssBytes(pid) - rssBefore;
    assert.ok(growth < 48 * 1024 * 1024, `memory grew by ${(growth / 1048576).toFixed(1)} MiB`);
  });
});

describe("broken networks: shutdown after them", () => {
  it("finds no session left when the gateway stops", async () => {
    const code = await gateway.stop();
    assert.equal(code, 0);
    const stopping = gateway.logs.find((line) => line.msg?.startsWith("stopping") === true);
    assert.equal(stopping?.sessions, 0, "no session outlived its peers");
  });
});
