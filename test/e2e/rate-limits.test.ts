// Message rates and frame limits end to end (wsgate run, raw TCP peers on both sides). The regression this guards:
// `clientMaxMsgRate` was checked per socket read, so 100 messages in one TCP write all passed at once (a client
// limited to 20/s got 100 echoes in 0.66 s). Now each message takes a token, whatever the segmentation.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Opcode } from "../../src/websocket/protocol.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort } from "../helpers/net.js";
import { openRawClient, RawBackend, type RawPeer } from "../fuzz/raw-peers.js";
import { closePayload, encodeFrame, type ParsedFrame } from "../fuzz/wire.js";

const MASK = Buffer.from([9, 8, 7, 6]);

let backend: RawBackend;
let gateway: GatewayProcess;
let port: number;
let run = 0;

/** One route per case: `/NAME` goes to pipeline NAME, whose WebSocketProxy has `extra` fields. */
const routes: Record<string, string> = {
  clientRate: "clientLimits: { messageRate: { rate: 20, burst: 5 } }",
  serverRate: "serverLimits: { messageRate: { rate: 20, burst: 5 } }",
  legacyRate: "clientMaxMsgRate: 20",
  closeRate: "clientLimits: { messageRate: { rate: 20, burst: 5 } }\n    rateLimitAction: close",
  variants: "clientLimits: { messageRate: { rate: 50, burst: 2 } }",
  frameSize: "clientLimits: { maxFrameSize: 8 }",
  fragments: "clientLimits: { maxFragmentsPerMessage: 3 }",
  controls: "clientLimits: { controlFrameRate: { rate: 1, burst: 3 } }",
  noBinary: "clientLimits: { allowBinary: false }",
  noText: "serverLimits: { allowText: false }",
};

before(async () => {
  backend = await RawBackend.start();
  port = await freePort();
  const rules = Object.keys(routes)
    .map((name) => `      - pathPrefix: /${name}\n        backend: ${name}\n`)
    .join("");
  const pipelines = Object.entries(routes)
    .map(
      ([name, extra]) => `
---
kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    closeTimeout: 1s
    pools: [{ servers: [{ url: ${backend.url} }] }]
    ${extra}
`,
    )
    .join("");
  gateway = await GatewayProcess.start(
    `
kind: HTTPServer
name: rates-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
${rules}` + pipelines,
  );
});

after(async () => {
  await gateway?.stop();
  await backend?.close();
});

interface Session {
  client: RawPeer;
  server: RawPeer;
}

async function open(route: string): Promise<Session> {
  const path = `/${route}?run=${++run}`;
  const client = await openRawClient(port, path);
  const server = await backend.nextPeer(path);
  return { client, server };
}

/** A frame as the client sends it (masked) or as the backend does. */
function frame(fromClient: boolean, opcode: number, payload: string | Buffer, fin = true): Buffer {
  return encodeFrame({
    fin,
    rsv: 0,
    opcode,
    payload: typeof payload === "string" ? Buffer.from(payload) : payload,
    mask: fromClient ? MASK : undefined,
    lengthForm: "shortest",
  });
}

function texts(peer: RawPeer): string[] {
  return peer
    .frames()
    .filter((f) => f.opcode === Opcode.Text)
    .map((f) => f.payload.toString());
}

function closeOf(f: ParsedFrame): { code: number; reason: string } {
  return { code: f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005, reason: f.payload.toString("utf8", 2) };
}

function closeFrom(peer: RawPeer, ms = 5000): Promise<{ code: number; reason: string }> {
  return peer.waitForFrame((f) => f.opcode === Opcode.Close, ms, "a close frame").then(closeOf);
}

async function closeSession(s: Session): Promise<void> {
  s.client.send(frame(true, Opcode.Close, closePayload(1000, "")));
  await closeFrom(s.server);
  s.server.send(frame(false, Opcode.Close, closePayload(1000, "")));
  s.server.socket.end();
  await s.client.waitClosed(5000);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * 100 messages in one TCP write from `from` at `burst` then `rate`/s: after 1 s at most burst + 1.5 * rate * elapsed
 * have reached `to`, and eventually all 100, in order.
 */
async function burstAtRate(
  from: RawPeer,
  to: RawPeer,
  fromClient: boolean,
  rate: number,
  burst: number,
): Promise<void> {
  const messages = Array.from({ length: 100 }, (_, i) => `message ${i}`);
  const sentAt = Date.now();
  from.send(Buffer.concat(messages.map((m) => frame(fromClient, Opcode.Text, m))));
  await sleep(1000);
  const early = texts(to).length;
  const elapsed = Date.now() - sentAt;
  assert.ok(early >= Math.min(burst, 5), `at least the burst passed: ${early}`);
  assert.ok(
    early <= burst + (rate * 1.5 * elapsed) / 1000,
    `${early} messages after ${elapsed} ms: more than the rate allows`,
  );
  await to.waitFor(() => (texts(to).length === 100 ? true : undefined), 20_000, "all 100 messages");
  assert.deepEqual(texts(to), messages, "all 100, in order");
  const took = Date.now() - sentAt;
  const expected = ((100 - burst) / rate) * 1000;
  assert.ok(took >= expected / 2, `100 messages took ${took} ms, about ${expected} expected`);
}

describe("message rate, end to end", () => {
  it("a burst of 100 messages in one TCP write with a 20/s, burst 5 limit reaches the backend at about 20/s", async () => {
    const s = await open("clientRate");
    await burstAtRate(s.client, s.server, true, 20, 5);
    await closeSession(s);
  });

  it("the same from the backend to the client", async () => {
    const s = await open("serverRate");
    await burstAtRate(s.server, s.client, false, 20, 5);
    await closeSession(s);
  });

  it("clientMaxMsgRate: 20 (the field of old) now counts per message: 100 in one write do not pass at once", async () => {
    const s = await open("legacyRate");
    await burstAtRate(s.client, s.server, true, 20, 20);
    await closeSession(s);
  });

  it("rateLimitAction: close gives the client 1008 and the backend 1001; what was over is not relayed", async () => {
    const s = await open("closeRate");
    s.client.send(Buffer.concat(Array.from({ length: 20 }, (_, i) => frame(true, Opcode.Text, `m${i}`))));
    assert.deepEqual(await closeFrom(s.client), { code: 1008, reason: "message rate exceeded" });
    assert.equal((await closeFrom(s.server)).code, 1001);
    assert.deepEqual(texts(s.server), ["m0", "m1", "m2", "m3", "m4"]);
    await s.client.waitClosed(5000);
  });
});

describe("message rate whatever the segmentation (raw socket variants)", () => {
  /** 12 messages (three of them in 3 fragments), pings between, as a list of frames and what the backend must see. */
  function script(): { frames: Buffer[]; expected: string[] } {
    const frames: Buffer[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 12; i++) {
      if (i % 4 === 0) {
        frames.push(frame(true, Opcode.Text, `m${i}a`, false), frame(true, Opcode.Ping, `p${i}`));
        frames.push(frame(true, Opcode.Continuation, `m${i}b`, false), frame(true, Opcode.Continuation, `m${i}c`));
        expected.push(`1:m${i}a`, `9:p${i}`, `0:m${i}b`, `0:m${i}c`);
      } else {
        frames.push(frame(true, Opcode.Text, `m${i}`));
        expected.push(`1:m${i}`);
      }
    }
    return { frames, expected };
  }
  const variants: Array<{ name: string; pieces: (frames: Buffer[]) => Buffer[] }> = [
    { name: "many frames in one write", pieces: (frames) => [Buffer.concat(frames)] },
    { name: "one frame per write", pieces: (frames) => frames },
    {
      name: "each frame split across writes (inside its header)",
      pieces: (frames) => frames.flatMap((f) => [f.subarray(0, 1), f.subarray(1, 4), f.subarray(4)]),
    },
    {
      name: "writes cut across frame boundaries",
      pieces: (frames) => {
        const all = Buffer.concat(frames);
        const out: Buffer[] = [];
        for (let at = 0; at < all.length; at += 11) out.push(all.subarray(at, at + 11));
        return out;
      },
    },
  ];
  for (const variant of variants) {
    it(`50/s, burst 2: ${variant.name}; order kept, pings and fragments pass, about 200 ms`, async () => {
      const s = await open("variants");
      const { frames, expected } = script();
      const sentAt = Date.now();
      await s.client.sendPieces(variant.pieces(frames));
      await s.server.waitFor(
        () => (s.server.frames().length >= expected.length ? true : undefined),
        10_000,
        "every frame",
      );
      const took = Date.now() - sentAt;
      assert.deepEqual(
        s.server.frames().map((f) => `${f.opcode}:${f.payload.toString()}`),
        expected,
      );
      // 10 messages over the burst at 50/s: 200 ms; at least half that whatever the cut.
      assert.ok(took >= 100, `12 messages at 50/s, burst 2, took ${took} ms`);
      await closeSession(s);
    });
  }
});

interface LimitRow {
  route: string;
  name: string;
  fromClient: boolean;
  frames: Buffer[];
  code: number;
  reason: string;
  relayed: string[];
}

const limitRows: LimitRow[] = [
  {
    route: "frameSize",
    name: "maxFrameSize: 8 gives 1009 to a 9-byte frame",
    fromClient: true,
    frames: [frame(true, Opcode.Text, "12345678"), frame(true, Opcode.Text, "123456789")],
    code: 1009,
    reason: "frame too big",
    relayed: ["12345678"],
  },
  {
    route: "fragments",
    name: "maxFragmentsPerMessage: 3 gives 1008 on the fourth fragment",
    fromClient: true,
    frames: [
      frame(true, Opcode.Text, "a", false),
      frame(true, Opcode.Continuation, "b", false),
      frame(true, Opcode.Continuation, "c", false),
      frame(true, Opcode.Continuation, "d"),
    ],
    code: 1008,
    reason: "too many fragments",
    relayed: ["a", "b", "c"],
  },
  {
    route: "controls",
    name: "controlFrameRate: 1/s, burst 3 gives 1008 to the fourth ping at once",
    fromClient: true,
    frames: [1, 2, 3, 4].map((i) => frame(true, Opcode.Ping, `${i}`)),
    code: 1008,
    reason: "control frame rate exceeded",
    relayed: ["1", "2", "3"],
  },
  {
    route: "noBinary",
    name: "allowBinary: false gives 1003 to a client's binary message",
    fromClient: true,
    frames: [frame(true, Opcode.Text, "t"), frame(true, Opcode.Binary, "b")],
    code: 1003,
    reason: "binary messages not accepted",
    relayed: ["t"],
  },
  {
    route: "noText",
    name: "serverLimits allowText: false gives 1003 to a backend's text message",
    fromClient: false,
    frames: [frame(false, Opcode.Binary, "b"), frame(false, Opcode.Text, "t")],
    code: 1003,
    reason: "text messages not accepted",
    relayed: ["b"],
  },
];

describe("frame limits, end to end: the offender gets its code, the other side 1001", () => {
  for (const row of limitRows) {
    it(row.name, async () => {
      const s = await open(row.route);
      const offender = row.fromClient ? s.client : s.server;
      const other = row.fromClient ? s.server : s.client;
      offender.send(Buffer.concat(row.frames));
      const otherClose = await closeFrom(other);
      assert.equal(otherClose.code, 1001);
      other.send(frame(!row.fromClient, Opcode.Close, closePayload(1001, "")));
      assert.deepEqual(await closeFrom(offender), { code: row.code, reason: row.reason });
      const relayed = other
        .frames()
        .filter((f) => f.opcode !== Opcode.Close)
        .map((f) => f.payload.toString());
      assert.deepEqual(relayed, row.relayed);
      if (!row.fromClient) s.server.socket.end();
      await s.client.waitClosed(5000);
    });
  }
});
