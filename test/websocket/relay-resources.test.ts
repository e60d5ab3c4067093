// The relay releases everything it holds, however a session ends: 1,000 sessions over real TCP sockets in this
// process, with every timer of the relay armed (pings, pong deadline, idle check, close timeout), ended by peers
// that reset, vanish mid-frame, break the protocol, close cleanly or stop answering. Afterwards every session has
// reported its end exactly once, and the process holds no more sockets and timers than before
// (process.getActiveResourcesInfo(): what keeps the event loop alive).
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { Opcode } from "../../src/websocket/protocol.js";
import { WebSocketRelay, type RelayOutcome } from "../../src/websocket/relay.js";
import { withTimeout } from "../helpers/net.js";
import { inBatches, sleep } from "../fuzz/process-probe.js";
import { RawPeer } from "../fuzz/raw-peers.js";
import { closeFrame, closePayload, encodeFrame } from "../fuzz/wire.js";

const MASK = Buffer.from([7, 7, 7, 7]);

function frame(opcode: number, payload: Buffer, masked: boolean, fin = true): Buffer {
  return encodeFrame({ fin, rsv: 0, opcode, payload, mask: masked ? MASK : undefined, lengthForm: "shortest" });
}

/** Counts of what keeps the event loop alive, by kind. */
function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** Accepts connections on 127.0.0.1 and hands each accepted socket to the next waiter. */
class Acceptor {
  private readonly waiting: Array<(socket: net.Socket) => void> = [];
  readonly server: net.Server;
  port = 0;

  constructor(allowHalfOpen: boolean) {
    this.server = net.createServer({ allowHalfOpen }, (socket) => {
      socket.on("error", () => {});
      this.waiting.shift()?.(socket);
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) =>
      this.server.listen(0, "127.0.0.1", () => {
        this.port = (this.server.address() as net.AddressInfo).port;
        resolve();
      }),
    );
  }

  /** Connects to this acceptor; resolves with both ends. */
  async pair(): Promise<{ near: net.Socket; far: net.Socket }> {
    const accepted = new Promise<net.Socket>((resolve) => this.waiting.push(resolve));
    const near = net.connect(this.port, "127.0.0.1");
    near.on("error", () => {});
    const far = await withTimeout(accepted, 3000, "a connection");
    await withTimeout(
      new Promise((resolve) => (near.connecting ? near.once("connect", resolve) : resolve(null))),
      3000,
      "connect",
    );
    return { near, far };
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

interface Session {
  client: RawPeer;
  backend: RawPeer;
  ended: Promise<RelayOutcome>;
}

/** How each kind of session ends, from the peers' side. */
const endings: Array<{ name: string; act: (session: Session) => Promise<void> }> = [
  {
    name: "clean close from the client",
    act: async ({ client, backend }) => {
      client.send(frame(Opcode.Text, Buffer.from("hi"), true));
      client.send(encodeFrame(closeFrame(closePayload(1000, "bye"), MASK)));
      await backend.waitForFrame((f) => f.opcode === Opcode.Close, 3000);
      backend.send(encodeFrame(closeFrame(closePayload(1000, "bye"), undefined)));
    },
  },
  {
    name: "backend reset mid-frame",
    act: async ({ client, backend }) => {
      backend.send(frame(Opcode.Binary, Buffer.alloc(2000), false).subarray(0, 500));
      await client.waitFor(() => (client.receivedLength > 0 ? true : undefined), 3000, "bytes");
      backend.socket.resetAndDestroy();
    },
  },
  {
    name: "client reset mid-frame",
    act: async ({ client, backend }) => {
      client.send(frame(Opcode.Binary, Buffer.alloc(2000), true).subarray(0, 500));
      await backend.waitFor(() => (backend.receivedLength > 0 ? true : undefined), 3000, "bytes");
      client.socket.resetAndDestroy();
    },
  },
  {
    name: "client protocol error, backend answers the 1001",
    act: async ({ client, backend }) => {
      client.send(frame(Opcode.Text, Buffer.from("unmasked"), false));
      const close = await backend.waitForFrame((f) => f.opcode === Opcode.Close, 3000);
      backend.send(encodeFrame(closeFrame(close.payload, undefined)));
    },
  },
  {
    name: "backend vanishes between frames, client never answers the 1011",
    act: async ({ backend }) => {
      backend.socket.destroy();
    },
  },
  {
    name: "nobody answers pings",
    act: async () => {},
  },
  {
    name: "both reset at once",
    act: async ({ client, backend }) => {
      client.socket.resetAndDestroy();
      backend.socket.resetAndDestroy();
    },
  },
];

describe("relay resources (in process, real sockets)", () => {
  const front = new Acceptor(true);
  const back = new Acceptor(false);

  before(async () => {
    await front.listen();
    await back.listen();
  });

  after(async () => {
    await front.close();
    await back.close();
  });

  async function openSession(): Promise<Session> {
    const clientSide = await front.pair();
    const backendSide = await back.pair();
    let ends = 0;
    const ended = new Promise<RelayOutcome>((resolve) => {
      const relay = new WebSocketRelay(
        clientSide.far,
        backendSide.near,
        {
          clientMaxMessageSize: -1,
          backendMaxMessageSize: -1,
          pingInterval: 20,
          pongTimeout: 60,
          maxInactivity: 5000,
          frameTimeout: 0,
          closeTimeout: 150,
          firstFrameRsv: 0,
          anyRsv: false,
          maxBufferedBytes: 1024 * 1024,
        },
        (outcome) => {
          ends++;
          assert.equal(ends, 1, "a session ends once");
          resolve(outcome);
        },
      );
      relay.start(Buffer.alloc(0), Buffer.alloc(0));
    });
    return {
      client: new RawPeer(clientSide.near, Buffer.alloc(0)),
      backend: new RawPeer(backendSide.far, Buffer.alloc(0)),
      ended,
    };
  }

  it("ends 1,000 broken and clean sessions once each, and leaves no socket or timer behind", async () => {
    // Warm up once, so that lazily created handles (DNS cache, etc.) are in the baseline.
    const warm = await openSession();
    warm.client.socket.destroy();
    warm.backend.socket.destroy();
    await withTimeout(warm.ended, 3000, "the warm-up session to end");
    await sleep(50);
    const baseline = activeResources();

    const outcomes = new Map<string, number>();
    await inBatches(1000, 25, async (index) => {
      const ending = endings[index % endings.length] as (typeof endings)[number];
      const session = await openSession();
      await ending.act(session);
      const outcome = await withTimeout(session.ended, 3000, `the end of a session (${ending.name})`);
      outcomes.set(outcome.closedBy, (outcomes.get(outcome.closedBy) ?? 0) + 1);
      session.client.socket.destroy();
      session.backend.socket.destroy();
    });
    assert.equal(
      [...outcomes.values()].reduce((a, b) => a + b, 0),
      1000,
    );

    let now = activeResources();
    for (
      let i = 0;
      i < 40 &&
      ((now.get("Timeout") ?? 0) > (baseline.get("Timeout") ?? 0) ||
        (now.get("TCPSocketWrap") ?? 0) > (baseline.get("TCPSocketWrap") ?? 0));
      i++
    ) {
      await sleep(50);
      now = activeResources();
    }
    for (const kind of ["Timeout", "TCPSocketWrap"]) {
      assert.ok(
        (now.get(kind) ?? 0) <= (baseline.get(kind) ?? 0),
        `${kind}: ${baseline.get(kind) ?? 0} before, ${now.get(kind) ?? 0} after 1,000 sessions`,
      );
    }
  });
});
