// Issue 22: once both close frames have crossed, the gateway closes each TCP connection the way nginx does, with one
// close() and no shutdown() first: the client's as soon as the backend's close frame is out to it (RFC 6455 7.1.1,
// the server closes first), the backend's when its FIN comes. On the wire the client must still see our close frame
// and then a FIN, never a reset (which close() would send if bytes were left unread, or if our frame were not out).
// Here the relay runs on real loopback sockets; the far ends are a raw client and a raw backend.
import assert from "node:assert/strict";
import net from "node:net";
import { describe, it } from "node:test";
import { Opcode } from "../../src/websocket/protocol.js";
import { WebSocketRelay, type RelayOutcome } from "../../src/websocket/relay.js";
import { closeWhenFlushed } from "../../src/websocket/relay-close.js";
import { closePayload, decodeFrames, frame, type DecodedFrame } from "../helpers/frames.js";
import { withTimeout } from "../helpers/net.js";
import { QUIET } from "./memory-peers.js";

/** One loopback connection: `near` is the relay's side, `far` the peer's. */
async function socketPair(): Promise<{ near: net.Socket; far: net.Socket }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once("connection", resolve));
  const far = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
  await new Promise((resolve) => far.once("connect", resolve));
  const near = await accepted;
  server.close();
  return { near, far };
}

/** What a far end sees: every byte, then how its connection ended (`fin`, or the error's code). */
class FarEnd {
  private readonly chunks: Buffer[] = [];
  ending: "open" | "fin" | string = "open";
  readonly closed: Promise<void>;
  constructor(readonly socket: net.Socket) {
    // Half-open allowed: the far end decides itself when to end, as the Go generator and `ws` do.
    socket.allowHalfOpen = true;
    socket.on("data", (chunk: Buffer) => this.chunks.push(chunk));
    socket.on("end", () => {
      if (this.ending === "open") this.ending = "fin";
    });
    socket.on("error", (error: NodeJS.ErrnoException) => (this.ending = error.code ?? error.message));
    this.closed = new Promise((resolve) => socket.on("close", () => resolve()));
  }
  frames(): DecodedFrame[] {
    return decodeFrames(Buffer.concat(this.chunks));
  }
  async waitFor(what: string, test: () => boolean): Promise<void> {
    await withTimeout(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (!test()) return;
          this.socket.off("data", check);
          this.socket.off("end", check);
          resolve();
        };
        this.socket.on("data", check);
        this.socket.on("end", check);
        check();
      }),
      5000,
      what,
    );
  }
  closeFrame(): Promise<void> {
    return this.waitFor("a close frame", () => this.frames().some((f) => f.opcode === Opcode.Close));
  }
}

/** Counts a socket's end() calls: each is a shutdown() of the descriptor before its close(). */
function countEnds(socket: net.Socket): { count: number } {
  const ends = { count: 0 };
  const end = socket.end.bind(socket);
  socket.end = ((...args: Parameters<net.Socket["end"]>) => {
    ends.count++;
    return end(...args);
  }) as net.Socket["end"];
  return ends;
}

async function tcpSession(): Promise<{
  client: FarEnd;
  backend: FarEnd;
  clientEnds: { count: number };
  backendEnds: { count: number };
  ended: Promise<RelayOutcome>;
}> {
  const clientPair = await socketPair();
  const backendPair = await socketPair();
  const clientEnds = countEnds(clientPair.near);
  const backendEnds = countEnds(backendPair.near);
  let resolveEnd: (outcome: RelayOutcome) => void = () => {};
  const ended = new Promise<RelayOutcome>((resolve) => (resolveEnd = resolve));
  const relay = new WebSocketRelay(clientPair.near, backendPair.near, { ...QUIET, closeTimeout: 5000 }, resolveEnd);
  relay.start(Buffer.alloc(0), Buffer.alloc(0));
  return {
    client: new FarEnd(clientPair.far),
    backend: new FarEnd(backendPair.far),
    clientEnds,
    backendEnds,
    ended,
  };
}

describe("relay on TCP: closing after the close handshake (issue 22)", () => {
  it("client closes first and waits (the Go generator, ws): our close frame, then a FIN; one close() per socket", async () => {
    const s = await tcpSession();
    s.client.socket.write(frame({ opcode: Opcode.Text, payload: "hi", mask: true }));
    s.client.socket.write(frame({ opcode: Opcode.Close, payload: closePayload(1000, "bye"), mask: true }));
    await s.backend.closeFrame();
    // The backend answers as a server does: its close frame, then it ends TCP first.
    s.backend.socket.end(frame({ opcode: Opcode.Close, payload: closePayload(1000, "bye") }));
    await s.client.waitFor("the client's FIN", () => s.client.ending !== "open");
    assert.equal(s.client.ending, "fin", "a FIN, not a reset");
    const seen = s.client.frames().map((f) => f.opcode);
    assert.deepEqual(seen, [Opcode.Close], "the close frame, whole, before the FIN");
    assert.equal(s.client.frames()[0]?.payload.readUInt16BE(0), 1000);
    // The client ends its side only now, as the Go generator does once it saw our TCP close.
    s.client.socket.end();
    const outcome = await withTimeout(s.ended, 5000, "the relay's end");
    assert.equal(outcome.closeCode, 1000);
    await withTimeout(s.backend.closed, 5000, "the backend's connection to close");
    assert.equal(s.backend.ending, "fin", "the backend saw our FIN after its own, not a reset");
    assert.equal(s.clientEnds.count, 0, "the client's connection closed without a shutdown() first");
    assert.equal(s.backendEnds.count, 0, "the backend's connection closed on its FIN without a shutdown() first");
  });

  it("backend closes first: the client's answer is read, then our FIN follows the frames", async () => {
    const s = await tcpSession();
    s.backend.socket.write(frame({ opcode: Opcode.Text, payload: "last words" }));
    s.backend.socket.write(frame({ opcode: Opcode.Close, payload: closePayload(1001, "restart") }));
    await s.client.closeFrame();
    s.client.socket.write(frame({ opcode: Opcode.Close, payload: closePayload(1001, "restart"), mask: true }));
    await s.client.waitFor("the client's FIN", () => s.client.ending !== "open");
    assert.equal(s.client.ending, "fin", "a FIN, not a reset");
    assert.deepEqual(
      s.client.frames().map((f) => f.opcode),
      [Opcode.Text, Opcode.Close],
    );
    await s.backend.closeFrame();
    s.backend.socket.end();
    s.client.socket.end();
    const outcome = await withTimeout(s.ended, 5000, "the relay's end");
    assert.deepEqual([outcome.closedBy, outcome.closeCode], ["backend", 1001]);
    assert.equal(s.clientEnds.count, 0, "no shutdown() of the client's connection");
    assert.equal(s.backendEnds.count, 0, "no shutdown() of the backend's connection");
  });

  it("what Node still holds for a connection is not cut: it is sent, then a FIN (closeWhenFlushed)", async () => {
    const { near, far } = await socketPair();
    const peer = new FarEnd(far);
    far.pause();
    // Enough that the kernel's buffers fill and Node keeps the rest: a close frame queued behind it.
    const big = frame({ opcode: Opcode.Binary, payload: Buffer.alloc(16 * 1024 * 1024, 7) });
    near.write(big);
    near.write(frame({ opcode: Opcode.Close, payload: closePayload(1000) }));
    assert.ok(near.writableLength > 0, "Node holds bytes not yet taken by the kernel");
    const ends = countEnds(near);
    closeWhenFlushed(near);
    assert.equal(ends.count, 1, "ended (FIN once the queue is out), not destroyed");
    far.resume();
    await peer.waitFor("the FIN", () => peer.ending !== "open");
    assert.equal(peer.ending, "fin");
    assert.deepEqual(
      peer.frames().map((f) => [f.opcode, f.payload.length]),
      [
        [Opcode.Binary, 16 * 1024 * 1024],
        [Opcode.Close, 2],
      ],
    );
    far.destroy();
    near.destroy();
  });
});
