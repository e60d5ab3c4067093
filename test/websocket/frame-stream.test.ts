import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { FrameFailure, type FrameFailureKind } from "../../src/websocket/frame-error.js";
import { FrameOutbox } from "../../src/websocket/frame-outbox.js";
import { FrameStream, type FrameStreamOptions } from "../../src/websocket/frame-stream.js";
import { encodeControlFrame } from "../../src/websocket/frame-writer.js";
import { Opcode } from "../../src/websocket/protocol.js";
import { closePayload, decodeFrames, frame } from "../helpers/frames.js";

/** A stream wired to a real in-memory pipe, recording what the relay would see. */
function harness(options: Partial<FrameStreamOptions> = {}) {
  const sink = new PassThrough();
  const written: Buffer[] = [];
  sink.on("data", (chunk: Buffer) => written.push(chunk));
  const outbox = new FrameOutbox(sink);
  const controls: Array<{ opcode: number; payload: Buffer }> = [];
  const failures: FrameFailureKind[] = [];
  const stream = new FrameStream(
    {
      fromClient: true,
      maxMessageSize: -1,
      firstFrameRsv: 0,
      anyRsv: false,
      trackActivity: false,
      gateDataFrames: false,
      policy: null,
      ...options,
    },
    outbox,
    {
      onControlFrame: (_stream, opcode, payload) => controls.push({ opcode, payload: Buffer.from(payload) }),
      onFrameError: (_stream, failure) => failures.push(failure),
      onDataFrame: () => 0,
      onFrameHeld: () => {},
    },
  );
  const output = async (): Promise<Buffer> => {
    await new Promise((resolve) => setImmediate(resolve));
    return Buffer.concat(written);
  };
  return { stream, outbox, controls, failures, output };
}

/** Feeds `bytes` in two pieces split at `at`. */
function pushSplit(stream: FrameStream, bytes: Buffer, at: number): void {
  stream.push(bytes.subarray(0, at));
  stream.push(bytes.subarray(at));
}

describe("FrameStream: pass-through", () => {
  it("forwards a masked text frame byte for byte, whatever the split", async () => {
    const bytes = frame({ opcode: Opcode.Text, payload: "hello, relay", mask: true });
    for (let at = 0; at <= bytes.length; at++) {
      const h = harness();
      pushSplit(h.stream, bytes, at);
      assert.deepEqual(await h.output(), bytes, `split at ${at}`);
      assert.equal(h.stream.messages, 1);
      assert.equal(h.stream.bytes, bytes.length);
      assert.deepEqual(h.failures, []);
    }
  });

  it("forwards 16- and 64-bit lengths split at every header position and inside the payload", async () => {
    for (const size of [125, 126, 65535, 65536]) {
      const bytes = frame({ opcode: Opcode.Binary, payload: Buffer.alloc(size, 7), mask: true });
      const positions = [...Array.from({ length: 20 }, (_, i) => i), size >> 1, bytes.length - 1];
      for (const at of positions) {
        const h = harness();
        pushSplit(h.stream, bytes, at);
        assert.deepEqual(await h.output(), bytes, `size ${size} split at ${at}`);
        assert.equal(h.stream.messages, 1);
      }
    }
  });

  it("reads many frames in one chunk and one frame byte by byte", async () => {
    const bytes = Buffer.concat([
      frame({ opcode: Opcode.Text, payload: "one", mask: true }),
      frame({ opcode: Opcode.Binary, payload: Buffer.alloc(300, 1), mask: true }),
      frame({ opcode: Opcode.Text, payload: "", mask: true }),
    ]);
    const whole = harness();
    whole.stream.push(bytes);
    assert.deepEqual(await whole.output(), bytes);
    assert.equal(whole.stream.messages, 3);

    const byteWise = harness();
    for (let i = 0; i < bytes.length; i++) byteWise.stream.push(bytes.subarray(i, i + 1));
    assert.deepEqual(await byteWise.output(), bytes);
    assert.equal(byteWise.stream.messages, 3);
  });

  it("hands control frames between fragments to the relay, unmasked, and keeps data in order", async () => {
    const first = frame({ opcode: Opcode.Text, fin: false, payload: "frag-", mask: true });
    const ping = frame({ opcode: Opcode.Ping, payload: "are you there", mask: true });
    const last = frame({ opcode: Opcode.Continuation, payload: "ment", mask: true });
    const bytes = Buffer.concat([first, ping, last]);
    for (let at = 0; at <= bytes.length; at++) {
      const h = harness();
      pushSplit(h.stream, bytes, at);
      assert.deepEqual(await h.output(), Buffer.concat([first, last]), `split at ${at}`);
      assert.equal(h.controls.length, 1);
      assert.equal(h.controls[0]?.opcode, Opcode.Ping);
      assert.equal(h.controls[0]?.payload.toString(), "are you there");
      assert.equal(h.stream.messages, 1);
    }
  });

  it("passes unmasked frames from a server and accepts RSV1 on a first frame when deflate was negotiated", async () => {
    const bytes = Buffer.concat([
      frame({ opcode: Opcode.Text, fin: false, rsv: 4, payload: "compressed" }),
      frame({ opcode: Opcode.Continuation, payload: "more" }),
    ]);
    const h = harness({ fromClient: false, firstFrameRsv: 0x40 });
    h.stream.push(bytes);
    assert.deepEqual(await h.output(), bytes);
    assert.deepEqual(h.failures, []);
  });

  it("stops after a close frame: later bytes are dropped", async () => {
    const data = frame({ opcode: Opcode.Text, payload: "last words", mask: true });
    const close = frame({ opcode: Opcode.Close, payload: closePayload(4001, "bye"), mask: true });
    const after = frame({ opcode: Opcode.Text, payload: "ghost", mask: true });
    const h = harness();
    h.stream.push(Buffer.concat([data, close, after]));
    assert.deepEqual(await h.output(), data);
    assert.equal(h.controls[0]?.opcode, Opcode.Close);
    assert.equal(h.controls[0]?.payload.readUInt16BE(0), 4001);
    assert.equal(h.stream.stopped, true);
  });
});

describe("FrameStream: scratch space shared by every stream", () => {
  it("a control frame split across reads keeps its bytes while other streams read whole control frames", () => {
    // Two sessions' streams: each split point of A's ping (header, mask, payload) has B's own pings and a split
    // header of B's read in between; every payload must come out as it was sent (the shared space is reused).
    const pingA = frame({ opcode: Opcode.Ping, payload: "payload of A, 30 bytes long...", mask: true });
    const pingB = frame({ opcode: Opcode.Ping, payload: "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", mask: true });
    const pongB = frame({ opcode: Opcode.Pong, payload: "b", mask: true });
    for (let at = 1; at < pingA.length; at++) {
      for (const bSplit of [0, 1, 3, 7]) {
        const a = harness();
        const b = harness();
        a.stream.push(pingA.subarray(0, at));
        b.stream.push(Buffer.concat([pingB, pongB, pingB.subarray(0, bSplit)]));
        a.stream.push(pingA.subarray(at));
        b.stream.push(pingB.subarray(bSplit));
        const where = `A split at ${at}, B's third frame split at ${bSplit}`;
        assert.deepEqual(
          a.controls.map((c) => c.payload.toString()),
          ["payload of A, 30 bytes long..."],
          where,
        );
        assert.deepEqual(
          b.controls.map((c) => c.payload.toString()),
          ["B".repeat(44), "b", "B".repeat(44)],
          where,
        );
        assert.deepEqual([a.failures, b.failures], [[], []], where);
      }
    }
  });
});

describe("FrameStream: frames of the gateway's own wait for the frame boundary", () => {
  it("queues an injected ping while a frame is half written and sends it right after", async () => {
    const bytes = frame({ opcode: Opcode.Binary, payload: Buffer.alloc(1000, 9), mask: true });
    const h = harness();
    h.stream.push(bytes.subarray(0, 500));
    assert.equal(h.outbox.midFrame, true);
    const ping = encodeControlFrame(Opcode.Ping, Buffer.from("gw"), true);
    h.outbox.inject(ping);
    h.stream.push(bytes.subarray(500));
    const out = await h.output();
    assert.deepEqual(out, Buffer.concat([bytes, ping]));
    const frames = decodeFrames(out);
    assert.deepEqual(
      frames.map((f) => f.opcode),
      [Opcode.Binary, Opcode.Ping],
    );
  });

  it("drops data after an injected close", async () => {
    const h = harness();
    h.outbox.injectClose(encodeControlFrame(Opcode.Close, closePayload(1001), true), false);
    h.stream.push(frame({ opcode: Opcode.Text, payload: "too late", mask: true }));
    const frames = decodeFrames(await h.output());
    assert.deepEqual(
      frames.map((f) => f.opcode),
      [Opcode.Close],
    );
  });
});

describe("FrameStream: protocol errors, each with its close code", () => {
  const masked = { mask: true } as const;
  const cases: Array<{
    name: string;
    bytes: Buffer;
    failure: FrameFailureKind;
    options?: Partial<FrameStreamOptions>;
  }> = [
    { name: "reserved data opcode", bytes: frame({ opcode: 3, ...masked }), failure: FrameFailure.ReservedOpcode },
    { name: "reserved control opcode", bytes: frame({ opcode: 0xb, ...masked }), failure: FrameFailure.ReservedOpcode },
    {
      name: "unmasked client frame",
      bytes: frame({ opcode: Opcode.Text, payload: "x" }),
      failure: FrameFailure.MaskMissing,
    },
    {
      name: "masked server frame",
      bytes: frame({ opcode: Opcode.Text, payload: "x", ...masked }),
      failure: FrameFailure.MaskUnexpected,
      options: { fromClient: false },
    },
    {
      name: "control frame over 125 bytes",
      bytes: frame({ opcode: Opcode.Ping, payload: Buffer.alloc(126), ...masked }),
      failure: FrameFailure.ControlTooLong,
    },
    {
      name: "fragmented control frame",
      bytes: frame({ opcode: Opcode.Ping, fin: false, ...masked }),
      failure: FrameFailure.ControlFragmented,
    },
    {
      name: "continuation without a message",
      bytes: frame({ opcode: Opcode.Continuation, payload: "x", ...masked }),
      failure: FrameFailure.UnexpectedContinuation,
    },
    {
      name: "new message inside a fragmented one",
      bytes: Buffer.concat([
        frame({ opcode: Opcode.Text, fin: false, payload: "a", ...masked }),
        frame({ opcode: Opcode.Text, payload: "b", ...masked }),
      ]),
      failure: FrameFailure.ExpectedContinuation,
    },
    {
      name: "RSV1 without an extension",
      bytes: frame({ opcode: Opcode.Text, rsv: 4, payload: "x", ...masked }),
      failure: FrameFailure.ReservedBits,
    },
    {
      name: "RSV1 on a continuation frame under deflate",
      bytes: Buffer.concat([
        frame({ opcode: Opcode.Text, fin: false, rsv: 4, payload: "a", ...masked }),
        frame({ opcode: Opcode.Continuation, rsv: 4, payload: "b", ...masked }),
      ]),
      failure: FrameFailure.ReservedBits,
      options: { firstFrameRsv: 0x40 },
    },
    {
      name: "RSV2 under deflate",
      bytes: frame({ opcode: Opcode.Text, rsv: 2, payload: "x", ...masked }),
      failure: FrameFailure.ReservedBits,
      options: { firstFrameRsv: 0x40 },
    },
    {
      name: "64-bit length with the top bit set",
      bytes: frame({ opcode: Opcode.Binary, high32: 0x80000000, ...masked }),
      failure: FrameFailure.LengthMsbSet,
    },
    {
      name: "message over the limit across fragments",
      bytes: Buffer.concat([
        frame({ opcode: Opcode.Binary, fin: false, payload: Buffer.alloc(60), ...masked }),
        frame({ opcode: Opcode.Continuation, payload: Buffer.alloc(41), ...masked }),
      ]),
      failure: FrameFailure.MessageTooBig,
      options: { maxMessageSize: 100 },
    },
    {
      name: "close payload of one byte",
      bytes: frame({ opcode: Opcode.Close, payload: Buffer.from([3]), ...masked }),
      failure: FrameFailure.CloseLength,
    },
    ...[999, 1004, 1005, 1006, 1015, 1016, 2999, 5000].map((code) => ({
      name: `close code ${code}`,
      bytes: frame({ opcode: Opcode.Close, payload: closePayload(code), ...masked }),
      failure: FrameFailure.CloseCodeInvalid,
    })),
    {
      name: "close reason that is not UTF-8",
      bytes: frame({
        opcode: Opcode.Close,
        payload: Buffer.concat([closePayload(1000), Buffer.from([0xff, 0xfe])]),
        ...masked,
      }),
      failure: FrameFailure.CloseReasonUtf8,
    },
  ];

  for (const testCase of cases) {
    it(`${testCase.name} → ${testCase.failure.closeCode}`, async () => {
      for (let at = 0; at <= testCase.bytes.length; at++) {
        const h = harness(testCase.options);
        pushSplit(h.stream, testCase.bytes, at);
        assert.deepEqual(h.failures, [testCase.failure], `split at ${at}`);
        assert.equal(h.stream.stopped, true);
      }
    });
  }

  it("forwards what came before the bad frame, and nothing after", async () => {
    const good = frame({ opcode: Opcode.Text, payload: "fine", mask: true });
    const bad = frame({ opcode: 3, payload: "bad", mask: true });
    const h = harness();
    h.stream.push(Buffer.concat([good, bad, good]));
    assert.deepEqual(await h.output(), good);
    assert.equal(h.failures.length, 1);
  });

  it("accepts every valid close code", () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]) {
      const h = harness();
      h.stream.push(frame({ opcode: Opcode.Close, payload: closePayload(code, "ok ✓"), mask: true }));
      assert.deepEqual(h.failures, [], `code ${code}`);
      assert.equal(h.controls[0]?.payload.readUInt16BE(0), code);
    }
  });
});
