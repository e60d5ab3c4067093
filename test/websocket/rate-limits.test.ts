// Message rates and frame limits in the relay, on in-memory connections where a whole burst arrives in one chunk:
// what the old per-read check let through at once must now pass at the rate, in order, and each frame limit must
// give its code to the offender and 1001 to the other side.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FrameLimits } from "../../src/websocket/frame-policy.js";
import { Opcode } from "../../src/websocket/protocol.js";
import { RateGate, type RateLimitAction } from "../../src/websocket/rate-gate.js";
import type { RelayOptions } from "../../src/websocket/relay.js";
import { withTimeout } from "../helpers/net.js";
import { memorySession, sleep, type MemorySession, type TestPeer } from "./memory-peers.js";

const NO_FRAME_LIMITS: FrameLimits = {
  maxFrameSize: -1,
  maxFragmentsPerMessage: 0,
  controlFrameRate: 0,
  controlFrameBurst: 0,
  allowText: true,
  allowBinary: true,
};

function gate(rate: number, burst: number, action: RateLimitAction = "pause"): RateGate {
  return new RateGate({ messageRate: rate, messageBurst: burst, maxByteRate: 0, action });
}

/** The text payloads `peer` received, in order. */
function texts(peer: TestPeer): string[] {
  return peer
    .frames()
    .filter((f) => f.opcode === Opcode.Text)
    .map((f) => f.payload.toString());
}

function numbered(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `m${i}`);
}

/** All of `messages` as frames of `from`, in one write. */
function burst(from: TestPeer, messages: string[]): void {
  from.send(Buffer.concat(messages.map((m) => from.frame(Opcode.Text, m))));
}

/** Closes the session from the client and waits for its end. */
async function finish(s: MemorySession): Promise<void> {
  s.client.close(1000);
  await s.backend.closeFrame();
  s.backend.close(1000);
  s.backend.finish();
  await withTimeout(s.ended, 3000, "the end");
}

describe("message rate: per message, whatever the segmentation", () => {
  for (const direction of ["client to backend", "backend to client"] as const) {
    it(`${direction}: 50 messages in one chunk at 50/s, burst 5, pass at the rate, in order`, async () => {
      const toBackend = direction === "client to backend";
      const s = memorySession(toBackend ? { clientRate: gate(50, 5) } : { backendRate: gate(50, 5) });
      const from = toBackend ? s.client : s.backend;
      const to = toBackend ? s.backend : s.client;
      const messages = numbered(50);
      const sentAt = Date.now();
      burst(from, messages);
      await sleep(400);
      const early = texts(to).length;
      const elapsed = Date.now() - sentAt;
      // 5 at once, then 50/s: about 5 + 50 * elapsed. Generously: at most 1.5 times the rate's share.
      assert.ok(early >= 5, `the burst passed at once: ${early}`);
      assert.ok(early <= 5 + (50 * elapsed * 1.5) / 1000, `${early} messages after ${elapsed} ms`);
      await to.waitFor(() => (texts(to).length === 50 ? true : undefined), "all 50", 5000);
      assert.deepEqual(texts(to), messages, "none lost, none reordered");
      const total = Date.now() - sentAt;
      assert.ok(total >= 450, `45 over the burst at 50/s take about 900 ms, took ${total}`);
      await finish(s);
    });
  }

  it("a message of several fragments takes one token; pings between held frames wait their turn", async () => {
    const s = memorySession({ clientRate: gate(20, 1) });
    const c = s.client;
    c.send(
      Buffer.concat([
        c.frame(Opcode.Text, "a"),
        c.frame(Opcode.Text, "b1", false),
        c.frame(Opcode.Ping, "p"),
        c.frame(Opcode.Continuation, "b2", false),
        c.frame(Opcode.Continuation, "b3"),
        c.frame(Opcode.Text, "c"),
      ]),
    );
    await s.backend.waitFor(() => (s.backend.frames().length === 6 ? true : undefined), "6 frames", 3000);
    assert.deepEqual(
      s.backend.frames().map((f) => `${f.opcode}:${f.payload.toString()}`),
      ["1:a", "1:b1", "9:p", "0:b2", "0:b3", "1:c"],
    );
    await finish(s);
  });

  it("closing releases what the gate holds: the held messages and then the close reach the backend", async () => {
    const s = memorySession({ clientRate: gate(1, 1) });
    burst(s.client, ["a", "b", "c"]);
    s.client.close(1000);
    await s.backend.waitFor(() => (texts(s.backend).length === 1 ? true : undefined), "the first");
    // At 1/s the rest would take 2 s; the backend's close ends the wait.
    s.backend.close(1001);
    const close = await s.backend.closeFrame();
    assert.equal(close.code, 1000);
    assert.deepEqual(texts(s.backend), ["a", "b", "c"]);
    s.backend.finish();
    const outcome = await withTimeout(s.ended, 3000, "the end");
    assert.equal(outcome.fromClient.messages, 3);
  });

  it("close action: the message over the rate is not relayed, the offender gets 1008, the other side 1001", async () => {
    const s = memorySession({ clientRate: gate(100, 3, "close") });
    burst(s.client, numbered(10));
    const close = await s.client.closeFrame();
    assert.deepEqual(close, { code: 1008, reason: "message rate exceeded" });
    const backendClose = await s.backend.closeFrame();
    assert.equal(backendClose.code, 1001);
    assert.deepEqual(texts(s.backend), ["m0", "m1", "m2"]);
    s.backend.close(1001);
    s.backend.finish();
    const outcome = await withTimeout(s.ended, 3000, "the end");
    assert.equal(outcome.closeCode, 1008);
  });

  it("an unset rate: 200 messages in one chunk pass at once", async () => {
    const s = memorySession();
    burst(s.client, numbered(200));
    await s.backend.waitFor(() => (texts(s.backend).length === 200 ? true : undefined), "200 at once", 1000);
    await finish(s);
  });
});

interface LimitRow {
  name: string;
  limits: Partial<FrameLimits>;
  /** Frames the offender sends (the client, unless `fromBackend`), all in one chunk. */
  frames: (peer: TestPeer) => Buffer[];
  fromBackend?: boolean;
  code: number;
  reason: string;
  /** What the other side received before its 1001. */
  relayed: string[];
}

const limitRows: LimitRow[] = [
  {
    name: "maxFrameSize: 1009",
    limits: { maxFrameSize: 4 },
    frames: (p) => [p.frame(Opcode.Text, "ok"), p.frame(Opcode.Text, "12345")],
    code: 1009,
    reason: "frame too big",
    relayed: ["ok"],
  },
  {
    name: "maxFrameSize counts one frame, not the message",
    limits: { maxFrameSize: 4 },
    frames: (p) => [
      p.frame(Opcode.Text, "1234", false),
      p.frame(Opcode.Continuation, "5678"),
      p.frame(Opcode.Binary, "xxxxx"),
    ],
    fromBackend: true,
    code: 1009,
    reason: "frame too big",
    relayed: ["1234", "5678"],
  },
  {
    name: "maxFragmentsPerMessage: 1008",
    limits: { maxFragmentsPerMessage: 2 },
    frames: (p) => [
      p.frame(Opcode.Text, "a", false),
      p.frame(Opcode.Continuation, "b"),
      p.frame(Opcode.Text, "c", false),
      p.frame(Opcode.Continuation, "d", false),
      p.frame(Opcode.Continuation, "e"),
    ],
    code: 1008,
    reason: "too many fragments",
    relayed: ["a", "b", "c", "d"],
  },
  {
    name: "control frame rate: 1008",
    limits: { controlFrameRate: 1, controlFrameBurst: 2 },
    frames: (p) => [
      p.frame(Opcode.Ping, "1"),
      p.frame(Opcode.Text, "x"),
      p.frame(Opcode.Pong, "2"),
      p.frame(Opcode.Ping, "3"),
    ],
    code: 1008,
    reason: "control frame rate exceeded",
    relayed: ["1", "x", "2"],
  },
  {
    name: "allowBinary false: 1003 on a binary message",
    limits: { allowBinary: false },
    frames: (p) => [p.frame(Opcode.Text, "t"), p.frame(Opcode.Binary, "b")],
    code: 1003,
    reason: "binary messages not accepted",
    relayed: ["t"],
  },
  {
    name: "allowText false (backend): 1003 on a text message",
    limits: { allowText: false },
    frames: (p) => [p.frame(Opcode.Binary, "b"), p.frame(Opcode.Text, "t")],
    fromBackend: true,
    code: 1003,
    reason: "text messages not accepted",
    relayed: ["b"],
  },
];

describe("frame limits: the offender gets its code, the other side 1001", () => {
  for (const row of limitRows) {
    it(row.name, async () => {
      const limits = { ...NO_FRAME_LIMITS, ...row.limits };
      const options: Partial<RelayOptions> = row.fromBackend
        ? { backendFrameLimits: limits }
        : { clientFrameLimits: limits };
      const s = memorySession(options);
      const offender = row.fromBackend ? s.backend : s.client;
      const other = row.fromBackend ? s.client : s.backend;
      offender.send(Buffer.concat(row.frames(offender)));
      const otherClose = await other.closeFrame();
      assert.equal(otherClose.code, 1001);
      // The other side is closed first (as for a protocol error): its answer lets the offender's close go.
      other.send(other.frame(Opcode.Close, Buffer.from([0x03, 0xe9])));
      if (row.fromBackend) s.client.finish();
      else s.backend.finish();
      const close = await offender.closeFrame();
      assert.deepEqual(close, { code: row.code, reason: row.reason });
      const relayed = other
        .frames()
        .filter((f) => f.opcode !== Opcode.Close)
        .map((f) => f.payload.toString());
      assert.deepEqual(relayed, row.relayed);
      const outcome = await withTimeout(s.ended, 3000, "the end");
      assert.equal(outcome.closeCode, row.code);
    });
  }
});

/** One limit case fed in different segmentations: the result must not depend on how the bytes were cut. */
describe("segmentation does not matter", () => {
  const variants: Array<{ name: string; feed: (peer: TestPeer, bytes: Buffer) => Promise<void> }> = [
    { name: "all in one write", feed: async (peer, bytes) => peer.send(bytes) },
    {
      name: "one byte per write",
      feed: async (peer, bytes) => {
        for (let i = 0; i < bytes.length; i++) {
          peer.send(bytes.subarray(i, i + 1));
          if (i % 16 === 0) await sleep(0);
        }
      },
    },
    {
      name: "split inside each frame header",
      feed: async (peer, bytes) => {
        for (let at = 0; at < bytes.length; at += 7) {
          peer.send(bytes.subarray(at, at + 7));
          await sleep(1);
        }
      },
    },
  ];
  for (const variant of variants) {
    it(`message rate 40/s burst 2, fragments and pings interleaved: ${variant.name}`, async () => {
      const s = memorySession({ clientRate: gate(40, 2) });
      const c = s.client;
      const frames: Buffer[] = [];
      const expected: string[] = [];
      for (let i = 0; i < 10; i++) {
        frames.push(c.frame(Opcode.Text, `m${i}a`, false), c.frame(Opcode.Ping, `p${i}`));
        frames.push(c.frame(Opcode.Continuation, `m${i}b`));
        expected.push(`1:m${i}a`, `9:p${i}`, `0:m${i}b`);
      }
      const sentAt = Date.now();
      await variant.feed(c, Buffer.concat(frames));
      await s.backend.waitFor(() => (s.backend.frames().length === 30 ? true : undefined), "30 frames", 5000);
      const took = Date.now() - sentAt;
      assert.deepEqual(
        s.backend.frames().map((f) => `${f.opcode}:${f.payload.toString()}`),
        expected,
      );
      // 8 messages over the burst at 40/s: 200 ms at least (less a little for timer rounding).
      assert.ok(took >= 150, `10 messages took ${took} ms`);
      await finish(s);
    });

    it(`maxFragmentsPerMessage 3 gives 1008 on the fourth fragment: ${variant.name}`, async () => {
      const s = memorySession({ clientFrameLimits: { ...NO_FRAME_LIMITS, maxFragmentsPerMessage: 3 } });
      const c = s.client;
      const bytes = Buffer.concat([
        c.frame(Opcode.Binary, "a", false),
        c.frame(Opcode.Ping, "p"),
        c.frame(Opcode.Continuation, "b", false),
        c.frame(Opcode.Continuation, "c", false),
        c.frame(Opcode.Continuation, "d"),
      ]);
      await variant.feed(c, bytes);
      await s.backend.closeFrame();
      s.backend.close(1001);
      s.backend.finish();
      const close = await c.closeFrame();
      assert.equal(close.code, 1008);
      assert.deepEqual(
        s.backend
          .frames()
          .map((f) => `${f.opcode}:${f.payload.toString("latin1", 0, f.opcode === Opcode.Close ? 0 : undefined)}`),
        ["2:a", "9:p", "0:b", "0:c", "8:"],
      );
      await withTimeout(s.ended, 3000, "the end");
    });
  }
});
