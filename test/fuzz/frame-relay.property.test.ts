// Property tests of one relay direction at unit level: FrameStream parsing a peer's bytes, cut at random places,
// into a FrameOutbox over a real stream, with the gateway's own pings injected at random moments. Whatever the
// cuts, the other peer must get exactly the frames that were sent; a protocol violation must end in its close
// code for the offender and a clean 1001 for the other peer, with nothing after it and no exception.
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { FrameFailureKind } from "../../src/websocket/frame-error.js";
import { FrameOutbox } from "../../src/websocket/frame-outbox.js";
import { FrameStream } from "../../src/websocket/frame-stream.js";
import { encodeCloseFrame, encodeControlFrame } from "../../src/websocket/frame-writer.js";
import { CloseCode, Opcode } from "../../src/websocket/protocol.js";
import { announceSeed, fuzzParameters } from "./fuzz-config.js";
import {
  cutPoints,
  encodeFrame,
  encodeFrames,
  endsInMessage,
  isControl,
  largestMessage,
  meaningOf,
  parseFrames,
  splitAt,
  trailingJunk,
  validClose,
  validFrames,
  violation,
  type DirectionOptions,
  type ParsedFrame,
  type WireFrame,
} from "./wire.js";

announceSeed("frame-relay properties");

const OWN_PING = Buffer.from("gateway-own-ping");

/** A stream that collects everything written to it. */
function sink(): { stream: PassThrough; bytes: () => Promise<Buffer>; ended: () => boolean } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  let ended = false;
  stream.on("data", (chunk: Buffer) => chunks.push(chunk));
  stream.on("end", () => (ended = true));
  return {
    stream,
    bytes: async () => {
      await new Promise((resolve) => setImmediate(resolve));
      return Buffer.concat(chunks);
    },
    ended: () => ended,
  };
}

/**
 * One direction of a relay as `WebSocketRelay` wires it: the sender's FrameStream writes into the receiver's
 * outbox; control frames are re-encoded for the receiver; a violation closes the sender with its code and the
 * receiver with 1001.
 */
function direction(options: DirectionOptions, maxMessageSize: number) {
  const toReceiver = sink();
  const toSender = sink();
  const receiverOutbox = new FrameOutbox(toReceiver.stream);
  const senderOutbox = new FrameOutbox(toSender.stream);
  const receiverMasked = options.fromClient;
  const failures: FrameFailureKind[] = [];
  const role = options.fromClient ? "client" : "backend";
  const stream = new FrameStream(
    {
      fromClient: options.fromClient,
      maxMessageSize,
      firstFrameRsv: options.deflate ? 0x40 : 0,
      anyRsv: false,
      trackActivity: true,
      gateDataFrames: false,
      policy: null,
    },
    receiverOutbox,
    {
      onDataFrame: () => 0,
      onFrameHeld: () => {},
      onControlFrame: (_stream, opcode, payload) => {
        const frame = encodeControlFrame(opcode, payload, receiverMasked);
        if (opcode === Opcode.Close) receiverOutbox.injectClose(frame, false);
        else receiverOutbox.inject(frame);
      },
      onFrameError: (_stream, failure) => {
        failures.push(failure);
        senderOutbox.injectClose(encodeCloseFrame(failure.closeCode, failure.reason, !options.fromClient), true);
        receiverOutbox.injectClose(
          encodeCloseFrame(CloseCode.GoingAway, `${role}: ${failure.reason}`, receiverMasked),
          false,
        );
      },
    },
  );
  let injected = 0;
  return {
    stream,
    failures,
    toReceiver,
    toSender,
    /** The gateway's own ping, as the relay's ping timer sends it (dropped once a close was sent). */
    injectPing(): void {
      if (!receiverOutbox.closing) injected++;
      receiverOutbox.inject(encodeControlFrame(Opcode.Ping, OWN_PING, receiverMasked));
    },
    get injected(): number {
      return injected;
    },
  };
}

/** Pushes the pieces, injecting a ping of the gateway's own after the pieces whose index is in `pingsAfter`. */
function pushPieces(harness: ReturnType<typeof direction>, pieces: Buffer[], pingsAfter: readonly number[]): void {
  const pingSet = new Set(pingsAfter.map((n) => n % (pieces.length + 1)));
  if (pingSet.has(pieces.length)) harness.injectPing();
  pieces.forEach((piece, index) => {
    harness.stream.push(piece);
    if (pingSet.has(index)) harness.injectPing();
  });
}

function isOwnPing(frame: ParsedFrame): boolean {
  return frame.opcode === Opcode.Ping && frame.payload.equals(OWN_PING);
}

/** Checks what the receiver got against the frames sent: data byte for byte, control frames by meaning. */
function assertRelayed(received: ParsedFrame[], sent: readonly WireFrame[], masked: boolean): void {
  assert.equal(received.length, sent.length, "frame count");
  sent.forEach((frame, index) => {
    const got = received[index] as ParsedFrame;
    if (isControl(frame.opcode)) {
      assert.deepEqual(meaningOf(got), meaningOf(frame), `control frame ${index}`);
      assert.equal(got.masked, masked, `control frame ${index} masking`);
    } else {
      assert.ok(got.raw.equals(encodeFrame(frame)), `data frame ${index} is relayed byte for byte`);
    }
  });
}

const directions = fc.record({ fromClient: fc.boolean(), deflate: fc.boolean() });

describe("frame relay properties (FrameStream + FrameOutbox)", () => {
  it("relays any valid frame sequence unchanged, whatever the cuts and the gateway's own pings", async () => {
    const scenario = directions.chain((options) =>
      fc.record({
        options: fc.constant(options),
        frames: validFrames(options),
        close: fc.option(validClose(options), { nil: undefined }),
        afterClose: fc.oneof(trailingJunk, validFrames(options, 2).map(encodeFrames)),
        cuts: cutPoints(),
        pingsAfter: fc.array(fc.nat(), { maxLength: 4 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(scenario, async ({ options, frames, close, afterClose, cuts, pingsAfter }) => {
        const harness = direction(options, -1);
        const sent = close === undefined ? frames : [...frames, close];
        const bytes = Buffer.concat([encodeFrames(sent), close === undefined ? Buffer.alloc(0) : afterClose]);
        pushPieces(harness, splitAt(bytes, cuts), pingsAfter);

        assert.deepEqual(harness.failures, []);
        const { frames: received, rest } = parseFrames(await harness.toReceiver.bytes());
        assert.equal(rest.length, 0, "the receiver's stream ends on a frame boundary");
        const own = received.filter(isOwnPing);
        assert.equal(own.length, harness.injected, "every ping of the gateway's own went out, whole");
        assertRelayed(
          received.filter((frame) => !isOwnPing(frame)),
          sent,
          options.fromClient,
        );
        const messages = sent.filter((frame) => !isControl(frame.opcode) && frame.fin).length;
        assert.equal(harness.stream.messages, messages);
        assert.equal(harness.stream.stopped, close !== undefined, "a close stops the stream");
        if (close === undefined) assert.equal(harness.stream.bytes, bytes.length);
      }),
      fuzzParameters(150),
    );
  });

  it("ends any violation in its close code for the sender and 1001 for the receiver, after the valid prefix", async () => {
    const scenario = directions.chain((options) =>
      validFrames(options, 4)
        .chain((frames) =>
          // No limit, or one the valid frames just keep (a message may be exactly at the limit).
          fc
            .option(fc.integer({ min: 0, max: 1000 }), { nil: undefined })
            .map((extra) => ({ frames, maxMessageSize: extra === undefined ? -1 : largestMessage(frames) + extra })),
        )
        .chain(({ frames, maxMessageSize }) =>
          fc.record({
            options: fc.constant(options),
            maxMessageSize: fc.constant(maxMessageSize),
            frames: fc.constant(frames),
            bad: violation({ ...options, inMessage: endsInMessage(frames), maxMessageSize }),
            junk: trailingJunk,
            cuts: cutPoints(),
            pingsAfter: fc.array(fc.nat(), { maxLength: 3 }),
          }),
        ),
    );
    await fc.assert(
      fc.asyncProperty(scenario, async ({ options, maxMessageSize, frames, bad, junk, cuts, pingsAfter }) => {
        const harness = direction(options, maxMessageSize);
        const bytes = Buffer.concat([encodeFrames(frames), encodeFrames(bad.frames), junk]);
        pushPieces(harness, splitAt(bytes, cuts), pingsAfter);

        assert.deepEqual(harness.failures, [bad.failure], "exactly one failure, the expected one");
        assert.equal(harness.stream.stopped, true);

        const toReceiver = parseFrames(await harness.toReceiver.bytes());
        assert.equal(toReceiver.rest.length, 0);
        const relayed = toReceiver.frames.filter((frame) => !isOwnPing(frame));
        const last = relayed.pop();
        assertRelayed(relayed, frames, options.fromClient);
        assert.equal(last?.opcode, Opcode.Close, "the receiver's last frame is a close");
        assert.equal(last.payload.readUInt16BE(0), CloseCode.GoingAway);
        assert.match(last.payload.toString("utf8", 2), /^(client|backend): /);

        const toSender = parseFrames(await harness.toSender.bytes());
        assert.equal(toSender.frames.length, 1);
        assert.equal(toSender.frames[0]?.opcode, Opcode.Close);
        assert.equal(toSender.frames[0]?.masked, !options.fromClient);
        assert.equal(toSender.frames[0]?.payload.readUInt16BE(0), bad.failure.closeCode);
        assert.equal(harness.toSender.ended(), true, "the sender's connection is ended after its close");
      }),
      fuzzParameters(200),
    );
  });
});
