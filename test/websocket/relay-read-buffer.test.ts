// A busy peer's socket is read into a reused buffer (socket-reader.ts). Views of that buffer are written on to the
// other peer; when that peer reads slowly, writes back up and the kernel takes some only in part, so the relay must
// copy or stop reusing the buffer. Here both directions carry thousands of frames of every size while each
// receiver stops reading for a while: every byte must arrive, in order, unchanged. (On loopback the kernel's buffers
// often absorb the backlog; the copy and the fresh buffer are checked directly on FrameOutbox below.)
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import net from "node:net";
import type { Writable } from "node:stream";
import { describe, it } from "node:test";
import tls from "node:tls";
import { FrameOutbox } from "../../src/websocket/frame-outbox.js";
import { Opcode } from "../../src/websocket/protocol.js";
import { WebSocketRelay, type RelayOutcome } from "../../src/websocket/relay.js";
import { encodeFrame, parseFrames } from "../fuzz/wire.js";
import { TestPki } from "../helpers/certs.js";
import { QUIET } from "./memory-peers.js";

/** Every timer and limit off, as memory-peers' QUIET, with a second for a close handshake over real sockets. */
const RELAY_OPTIONS = { ...QUIET, closeTimeout: 1000 };

function readsIntoBuffer(socket: net.Socket): boolean {
  const slot = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === "kBufferCb");
  return slot !== undefined && typeof (socket as unknown as Record<symbol, unknown>)[slot] === "function";
}

async function socketPair(): Promise<{ near: net.Socket; far: net.Socket; close: () => void }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
  const near = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise((resolve) => near.once("connect", resolve));
  const far = await accepted;
  for (const socket of [near, far]) socket.on("error", () => {});
  return { near, far, close: () => server.close() };
}

/** As `socketPair`, over TLS 1.3: `far` is the server's TLSSocket (a wss:// client as the gateway holds it). */
async function tlsSocketPair(): Promise<{ near: net.Socket; far: net.Socket; close: () => Promise<void> }> {
  const pki = await TestPki.create();
  const pair = await pki.issue({ cn: "localhost", dns: ["localhost"] });
  const server = tls.createServer({ cert: pair.cert, key: pair.key, minVersion: "TLSv1.3" });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once("secureConnection", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const near = tls.connect({ port, host: "127.0.0.1", servername: "localhost", rejectUnauthorized: false });
  await new Promise((resolve) => near.once("secureConnect", resolve));
  const far = await accepted;
  for (const socket of [near, far]) socket.on("error", () => {});
  return {
    near,
    far,
    close: async () => {
      server.close();
      await pki.cleanup();
    },
  };
}

/** Deterministic frames of sizes from 0 to 70,000 bytes; masked ones for the client's side. */
function frames(count: number, masked: boolean, seed: number): Buffer[] {
  let state = seed;
  const next = (): number => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state;
  };
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const pick = next() % 10;
    const size = pick < 6 ? next() % 126 : pick < 9 ? next() % 20_000 : 60_000 + (next() % 10_000);
    const payload = Buffer.alloc(size);
    for (let j = 0; j < size; j += 997) payload[j] = next() & 0xff;
    const mask = masked ? Buffer.from([next() & 0xff, next() & 0xff, next() & 0xff, next() & 0xff]) : undefined;
    out.push(encodeFrame({ fin: true, rsv: 0, opcode: Opcode.Binary, payload, mask, lengthForm: "shortest" }));
  }
  return out;
}

/** Reads `expected` bytes from `socket`, pausing now and then for a while; resolves with their hash. */
function slowRead(socket: net.Socket, expected: number): Promise<string> {
  const hash = createHash("sha256");
  let got = 0;
  let reads = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${got} of ${expected} bytes`)), 30_000);
    socket.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      got += chunk.length;
      if (got >= expected) {
        clearTimeout(timer);
        resolve(hash.digest("hex"));
        return;
      }
      if (++reads % 20 === 0) {
        socket.pause();
        setTimeout(() => socket.resume(), 50);
      }
    });
    // Nothing is read at first, so that the kernel's buffers fill up and the relay's writes back up.
    socket.pause();
    setTimeout(() => socket.resume(), 1000);
  });
}

/** Writes the frames in chunks cut at odd places, so that headers and payloads split across reads. */
async function send(socket: net.Socket, bytes: Buffer): Promise<void> {
  let at = 0;
  let cut = 1;
  while (at < bytes.length) {
    cut = (cut * 7 + 13) % 9000;
    const end = Math.min(bytes.length, at + 1 + cut);
    if (!socket.write(bytes.subarray(at, end))) await new Promise((resolve) => socket.once("drain", resolve));
    at = end;
  }
}

describe("relay reading into a reused buffer", () => {
  for (const overTls of [false, true]) {
    it(`passes every byte of both directions unchanged while each receiver reads slowly${overTls ? ", the client over TLS" : ""}`, async () => {
      const clientSide = overTls ? await tlsSocketPair() : await socketPair();
      const backendSide = await socketPair();
      let ended: RelayOutcome | undefined;
      const relay = new WebSocketRelay(clientSide.far, backendSide.near, RELAY_OPTIONS, (outcome) => (ended = outcome));
      relay.start(Buffer.alloc(0), Buffer.alloc(0));

      const up = Buffer.concat(frames(3000, true, 1));
      const down = Buffer.concat(frames(3000, false, 2));
      const digest = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");
      const atBackend = slowRead(backendSide.far, up.length);
      const atClient = slowRead(clientSide.near, down.length);
      await Promise.all([send(clientSide.near, up), send(backendSide.far, down)]);
      assert.equal(await atBackend, digest(up));
      assert.equal(await atClient, digest(down));
      // The switch is the point of the test: both sides were busy enough to be read into buffers of the relay's.
      // A TLS client keeps its 'data' events (reading it into the buffer measured slower); its side is where the
      // backend's buffer views are written, and a TLS write holds none (FrameOutbox's copiesOnWrite).
      assert.equal(readsIntoBuffer(clientSide.far), !overTls, "client socket read into the relay's buffer");
      assert.ok(readsIntoBuffer(backendSide.near), "backend socket read into the relay's buffer");
      assert.equal(relay.totals().fromClient.messages, 3000);
      assert.equal(relay.totals().fromBackend.messages, 3000);

      relay.terminate();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(ended !== undefined);
      clientSide.near.destroy();
      backendSide.far.destroy();
      await clientSide.close();
      backendSide.close();
    });
  }
});

describe("relay reading into a reused buffer: only a busy peer", () => {
  it("a peer reading a frame now and then (an idle session's pongs) keeps Node's reads; a burst switches it", async () => {
    const clientSide = await socketPair();
    const backendSide = await socketPair();
    const relay = new WebSocketRelay(clientSide.far, backendSide.near, RELAY_OPTIONS, () => {});
    relay.start(Buffer.alloc(0), Buffer.alloc(0));
    const pong = (): Buffer =>
      encodeFrame({
        fin: true,
        rsv: 0,
        opcode: Opcode.Pong,
        payload: Buffer.from("p"),
        mask: Buffer.from([1, 2, 3, 4]),
        lengthForm: "shortest",
      });
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
    try {
      // 12 reads spread over about 2.4 s: never 8 within the busy window (1 s). Each must be its own read.
      for (let i = 0; i < 12; i++) {
        clientSide.near.write(pong());
        await sleep(200);
      }
      assert.equal(readsIntoBuffer(clientSide.far), false, "an idle peer got a 64 KiB read buffer of its own");
      // Then a burst of reads (one per turn of the event loop): busy within two counts of BUSY_READS.
      for (let i = 0; i < 30 && !readsIntoBuffer(clientSide.far); i++) {
        clientSide.near.write(pong());
        await sleep(5);
      }
      assert.equal(readsIntoBuffer(clientSide.far), true, "a busy peer is read into the relay's buffer");
    } finally {
      relay.terminate();
      clientSide.near.destroy();
      backendSide.far.destroy();
      clientSide.close();
      backendSide.close();
    }
  });
});

/** The length of the buffer the socket's next read goes into (socket-reader's kBuffer slot); 0 when none. */
function readBufferLength(socket: net.Socket): number {
  const slot = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === "kBuffer");
  const buffer = slot === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[slot];
  return buffer instanceof Uint8Array ? buffer.length : 0;
}

describe("relay reading into a reused buffer: a peer that goes quiet", () => {
  it("gives its 64 KiB buffer back after a quiet ping interval, gets one again when busy, and loses no byte", async () => {
    const clientSide = await socketPair();
    const backendSide = await socketPair();
    const relay = new WebSocketRelay(
      clientSide.far,
      backendSide.near,
      { ...RELAY_OPTIONS, pingInterval: 300 },
      () => {},
    );
    relay.start(Buffer.alloc(0), Buffer.alloc(0));
    const message = (i: number): Buffer =>
      encodeFrame({
        fin: true,
        rsv: 0,
        opcode: Opcode.Binary,
        payload: Buffer.alloc(3000, i & 0xff),
        mask: Buffer.from([1, 2, 3, 4]),
        lengthForm: "shortest",
      });
    const sent: Buffer[] = [];
    const sendOne = (): void => {
      const frame = message(sent.length);
      sent.push(frame);
      clientSide.near.write(frame);
    };
    const chunks: Buffer[] = [];
    backendSide.far.on("data", (chunk: Buffer) => chunks.push(chunk));
    // The data frames the backend got (the gateway's pings to it left out), with their payloads unmasked.
    const received = (): Buffer[] =>
      parseFrames(Buffer.concat(chunks))
        .frames.filter((frame) => frame.opcode === Opcode.Binary)
        .map((frame) => frame.payload);
    const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
    const burst = async (): Promise<void> => {
      for (let i = 0; i < 60 && readBufferLength(clientSide.far) !== 64 * 1024; i++) {
        sendOne();
        await sleep(5);
      }
    };
    try {
      await burst();
      assert.equal(readBufferLength(clientSide.far), 64 * 1024, "a busy peer reads into 64 KiB");
      // Two ping intervals without a read, then one read: the socket takes the small buffer after it.
      await sleep(800);
      sendOne();
      await sleep(100);
      const quiet = readBufferLength(clientSide.far);
      assert.ok(quiet > 0 && quiet < 64 * 1024, `a quiet peer keeps a small buffer, not 64 KiB (${quiet})`);
      await burst();
      assert.equal(readBufferLength(clientSide.far), 64 * 1024, "busy again: 64 KiB again");
      for (let i = 0; i < 50 && received().length < sent.length; i++) await sleep(20);
      assert.deepEqual(
        received(),
        sent.map((_, i) => Buffer.alloc(3000, i & 0xff)),
        "every frame reached the backend, in order, unchanged",
      );
      assert.equal(relay.totals().fromClient.messages, sent.length);
    } finally {
      relay.terminate();
      clientSide.near.destroy();
      backendSide.far.destroy();
      clientSide.close();
      backendSide.close();
    }
  });
});

/** Stands in for a socket; `writableLength` is what a real socket would still hold. */
class FakeSocket {
  readonly writable = true;
  readonly writableEnded = false;
  held: Buffer[] = [];
  writableLength = 0;
  /** The next writes are taken only in part by the "kernel": they stay pending, holding the buffers given. */
  partial = false;

  write(chunk: Buffer): boolean {
    this.held.push(chunk);
    if (this.partial) this.writableLength += chunk.length;
    return true;
  }

  end(): void {}

  asWritable(): Writable {
    return this as unknown as Writable;
  }
}

describe("FrameOutbox with borrowed views", () => {
  it("lends nothing to a TLS socket whose write is still pending: TLSWrap copied the view before write() returned", () => {
    const socket = Object.assign(new FakeSocket(), { encrypted: true });
    socket.partial = true;
    const outbox = new FrameOutbox(socket.asWritable());
    outbox.borrowed = true;
    outbox.write(Buffer.from("abc"));
    assert.ok(socket.writableLength > 0, "the write is still counted");
    assert.equal(outbox.lent, false, "the read buffer may be read into again");
    // Backed up (a write waiting in the Writable's own queue holds its buffer): copied, as for plain TCP.
    const readBuffer = Buffer.from("def");
    outbox.write(readBuffer);
    readBuffer.fill(0);
    assert.equal(socket.held[1]?.toString(), "def");
  });

  it("copies a borrowed view when the socket's writes are backed up", () => {
    const socket = new FakeSocket();
    const outbox = new FrameOutbox(socket.asWritable());
    const readBuffer = Buffer.from("abcdef");
    socket.writableLength = 10;
    outbox.borrowed = true;
    outbox.write(readBuffer.subarray(0, 3));
    readBuffer.fill(0);
    assert.equal(socket.held[0]?.toString(), "abc");
    assert.equal(outbox.lent, false);
  });

  it("reports a borrowed view that a write kept, and passes one that went out as it is", () => {
    const socket = new FakeSocket();
    const outbox = new FrameOutbox(socket.asWritable());
    const readBuffer = Buffer.from("abcdef");
    outbox.borrowed = true;
    outbox.write(readBuffer.subarray(0, 3));
    assert.equal(outbox.lent, false);
    assert.equal(socket.held[0]?.buffer, readBuffer.buffer, "written without a copy");
    socket.partial = true;
    outbox.write(readBuffer.subarray(3));
    assert.equal(outbox.lent, true);
  });

  it("never copies what is not borrowed", () => {
    const socket = new FakeSocket();
    const outbox = new FrameOutbox(socket.asWritable());
    const frame = Buffer.from("xyz");
    socket.writableLength = 10;
    outbox.write(frame);
    assert.equal(socket.held[0], frame);
    assert.equal(outbox.lent, false);
  });
});
