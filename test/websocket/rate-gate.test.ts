import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FrameFailure } from "../../src/websocket/frame-error.js";
import { FramePolicy, policyFor, type FrameLimits } from "../../src/websocket/frame-policy.js";
import { Opcode } from "../../src/websocket/protocol.js";
import { RateGate } from "../../src/websocket/rate-gate.js";

const NO_FRAME_LIMITS: FrameLimits = {
  maxFrameSize: -1,
  maxFragmentsPerMessage: 0,
  controlFrameRate: 0,
  controlFrameBurst: 0,
  allowText: true,
  allowBinary: true,
};

describe("RateGate: a token bucket per message", () => {
  it("lets `burst` messages through at once, then one per 1/rate s; continuations take no token", () => {
    const gate = new RateGate({ messageRate: 20, messageBurst: 5, maxByteRate: 0, action: "pause" }, 0);
    for (let i = 0; i < 5; i++) assert.equal(gate.admitFrame(true, 10, 0), 0, `message ${i} of the burst`);
    assert.equal(gate.admitFrame(false, 10, 0), 0, "a continuation frame needs no message token");
    assert.equal(gate.admitFrame(true, 10, 0), 50, "the sixth waits 1/20 s");
    assert.equal(gate.admitFrame(true, 10, 20), 30, "asked again, nothing was taken: 30 ms to go");
    assert.equal(gate.admitFrame(true, 10, 50), 0);
    assert.equal(gate.admitFrame(true, 10, 50), 50);
    // Never more than the burst saved up, however long idle.
    for (let i = 0; i < 5; i++) assert.equal(gate.admitFrame(true, 10, 60_000), 0);
    assert.ok(gate.admitFrame(true, 10, 60_000) > 0);
  });

  it("bytes: a frame goes once the allowance is out of debt, and may take it below zero", () => {
    const gate = new RateGate({ messageRate: 0, messageBurst: 0, maxByteRate: 1000, action: "pause" }, 0);
    assert.equal(gate.admitFrame(true, 3000, 0), 0, "a full allowance lets a bigger frame through");
    assert.equal(gate.admitFrame(true, 1, 0), 2000, "2000 bytes of debt at 1000/s");
    assert.equal(gate.admitFrame(true, 1, 2000), 0);
  });

  it("hold keeps the longer wait and fires once", async () => {
    const gate = new RateGate({ messageRate: 1, messageBurst: 1, maxByteRate: 0, action: "pause" });
    let fired = 0;
    gate.hold(40, () => fired++);
    gate.hold(5, () => fired++);
    assert.equal(gate.held, true);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(fired, 1);
    assert.equal(gate.held, false);
  });
});

describe("FramePolicy", () => {
  it("is not made where nothing is restricted", () => {
    assert.equal(policyFor(undefined), null);
    assert.equal(policyFor(NO_FRAME_LIMITS), null);
    assert.notEqual(policyFor({ ...NO_FRAME_LIMITS, allowBinary: false }), null);
  });

  it("maxFrameSize, per data frame", () => {
    const policy = new FramePolicy({ ...NO_FRAME_LIMITS, maxFrameSize: 10 });
    assert.equal(policy.checkData(Opcode.Text, 10), null);
    assert.equal(policy.checkData(Opcode.Text, 11), FrameFailure.FrameTooBig);
    assert.equal(FrameFailure.FrameTooBig.closeCode, 1009);
  });

  it("maxFragmentsPerMessage counts the first frame and its continuations, from each message start", () => {
    const policy = new FramePolicy({ ...NO_FRAME_LIMITS, maxFragmentsPerMessage: 3 });
    assert.equal(policy.checkData(Opcode.Binary, 1), null);
    assert.equal(policy.checkData(Opcode.Continuation, 1), null);
    assert.equal(policy.checkData(Opcode.Continuation, 1), null);
    assert.equal(policy.checkData(Opcode.Continuation, 1), FrameFailure.TooManyFragments);
    const again = new FramePolicy({ ...NO_FRAME_LIMITS, maxFragmentsPerMessage: 2 });
    for (let i = 0; i < 5; i++) {
      assert.equal(again.checkData(Opcode.Text, 1), null);
      assert.equal(again.checkData(Opcode.Continuation, 1), null);
    }
    assert.equal(FrameFailure.TooManyFragments.closeCode, 1008);
  });

  it("allowText / allowBinary: 1003 on the wrong type", () => {
    const textOnly = new FramePolicy({ ...NO_FRAME_LIMITS, allowBinary: false });
    assert.equal(textOnly.checkData(Opcode.Text, 1), null);
    assert.equal(textOnly.checkData(Opcode.Binary, 1), FrameFailure.BinaryNotAllowed);
    const binaryOnly = new FramePolicy({ ...NO_FRAME_LIMITS, allowText: false });
    assert.equal(binaryOnly.checkData(Opcode.Text, 1), FrameFailure.TextNotAllowed);
    assert.equal(FrameFailure.TextNotAllowed.closeCode, 1003);
  });

  it("control frame rate: pings and pongs take tokens, close frames do not", () => {
    const policy = new FramePolicy({ ...NO_FRAME_LIMITS, controlFrameRate: 1, controlFrameBurst: 2 });
    assert.equal(policy.checkControl(Opcode.Ping), null);
    assert.equal(policy.checkControl(Opcode.Pong), null);
    assert.equal(policy.checkControl(Opcode.Close), null);
    assert.equal(policy.checkControl(Opcode.Ping), FrameFailure.ControlRate);
    assert.equal(FrameFailure.ControlRate.closeCode, 1008);
  });
});
