// A relay between two frames is plain data (snapshot()), and a relay built from that data on the same connections
// goes on where the first stopped: the message in progress still counts against the size limit, the rates keep
// their levels, the totals and the duration carry on. The first relay lets go (detach()) without closing anything.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Opcode } from "../../src/websocket/protocol.js";
import { RateGate } from "../../src/websocket/rate-gate.js";
import { WebSocketRelay, type RelayOptions, type RelayOutcome } from "../../src/websocket/relay.js";
import type { RelaySnapshot } from "../../src/websocket/relay-snapshot.js";
import { waitUntil, withTimeout } from "../helpers/net.js";
import { QUIET, memorySession, sleep, type MemorySession } from "./memory-peers.js";

/** Takes the session up again on the same connections, from a JSON copy of `snapshot`. */
function handOver(
  s: MemorySession,
  snapshot: RelaySnapshot,
  options: Partial<RelayOptions>,
): { relay: WebSocketRelay; ended: Promise<RelayOutcome> } {
  s.relay.detach();
  const plain = JSON.parse(JSON.stringify(snapshot)) as RelaySnapshot;
  let resolveEnd: (outcome: RelayOutcome) => void = () => {};
  const ended = new Promise<RelayOutcome>((resolve) => (resolveEnd = resolve));
  const relay = new WebSocketRelay(s.clientEnd, s.backendEnd, { ...QUIET, ...options }, resolveEnd, plain);
  relay.start(Buffer.alloc(0), Buffer.alloc(0));
  return { relay, ended };
}

async function delivered(s: MemorySession, client: number, backend: number): Promise<void> {
  await s.backend.waitFor(() => (s.backend.frames().length >= client ? true : undefined), `${client} frames`);
  await s.client.waitFor(() => (s.client.frames().length >= backend ? true : undefined), `${backend} frames`);
}

describe("relay snapshot", () => {
  it("is plain data at a frame boundary: sides, counters, the message in progress, rate levels", async () => {
    const options = {
      clientMaxMessageSize: 16,
      clientRate: new RateGate({ messageRate: 100, messageBurst: 100, maxByteRate: 0, action: "close" }),
    };
    const s = memorySession(options);
    s.client.text("one");
    s.client.send(s.client.frame(Opcode.Binary, Buffer.alloc(10), false));
    s.backend.text("two");
    s.backend.text("three");
    await delivered(s, 2, 2);
    const snapshot = s.relay.snapshot();
    assert.ok(snapshot !== null, "at a frame boundary");
    assert.deepEqual(JSON.parse(JSON.stringify(snapshot)), snapshot, "JSON-safe: nothing but plain data");
    assert.equal(snapshot.version, 1);
    assert.equal(snapshot.client.state, "open");
    assert.deepEqual(snapshot.client.stream.messageInProgress, { bytes: 10, frames: 1 });
    assert.equal(snapshot.client.stream.messages, 1);
    assert.equal(snapshot.client.stream.bytes, 9 + 16);
    assert.equal(snapshot.backend.stream.messages, 2);
    assert.equal(snapshot.backend.stream.messageInProgress, null);
    assert.equal(snapshot.backend.rate, null);
    // Two messages begun, two tokens taken (a few hundredths back by now).
    const tokens = snapshot.client.rate?.messages?.tokens ?? Infinity;
    assert.ok(tokens >= 98 && tokens < 99.5, `tokens left: ${tokens}`);
    assert.ok(snapshot.startedAt <= Date.now());
    s.relay.terminate();
    await withTimeout(s.ended, 2000, "the end");
  });

  it("is null inside a frame, and once the session is closing", async () => {
    const s = memorySession();
    s.client.send(s.client.frame(Opcode.Binary, Buffer.alloc(100)).subarray(0, 30));
    await waitUntil(() => (s.relay.totals().fromClient.bytes === 30 ? true : undefined), 2000, "30 bytes read");
    assert.equal(s.relay.snapshot(), null, "half a frame from the client");
    s.client.send(s.client.frame(Opcode.Binary, Buffer.alloc(100)).subarray(30));
    await delivered(s, 1, 0);
    assert.notEqual(s.relay.snapshot(), null, "the frame ended");
    s.client.close(1000);
    await s.backend.closeFrame();
    assert.equal(s.relay.snapshot(), null, "closing");
    s.relay.terminate();
    await withTimeout(s.ended, 2000, "the end");
  });

  it("round trip: a relay built from it goes on (message in progress, totals, duration) and snapshots the same", async () => {
    const s = memorySession({ clientMaxMessageSize: 16 });
    s.client.text("one");
    s.client.send(s.client.frame(Opcode.Binary, Buffer.alloc(10), false));
    s.backend.text("two");
    await delivered(s, 2, 1);
    await sleep(30);
    const before = s.relay.snapshot();
    assert.ok(before !== null);
    const next = handOver(s, before, { clientMaxMessageSize: 16 });
    assert.deepEqual(next.relay.snapshot(), before, "the same state on the other side of the hand-over");

    // The first relay let go: frames now go through the second one only, once each.
    s.backend.text("after");
    s.client.send(s.client.frame(Opcode.Continuation, Buffer.alloc(6), false));
    await delivered(s, 3, 2);
    assert.deepEqual(s.client.shape(), ["1:two", "1:after"]);
    // 10 + 6 bytes so far: one more byte is over the limit of 16, counted across the hand-over.
    s.client.send(s.client.frame(Opcode.Continuation, Buffer.alloc(1)));
    const close = await s.backend.closeFrame();
    assert.deepEqual(close, { code: 1001, reason: "client: message too big" });
    s.backend.close(1001);
    s.backend.finish();
    const outcome = await withTimeout(next.ended, 2000, "the end");
    assert.equal(outcome.closeCode, 1009);
    assert.equal(outcome.fromClient.messages, 1, "the message begun before and never finished is not counted");
    assert.equal(outcome.fromBackend.messages, 2, "two and after, each counted once");
    assert.ok(outcome.durationMs >= 30, "the duration runs from the first relay's start");
    await sleep(20);
    assert.equal(s.ends, 0, "the first relay, detached, never reports an end");
  });

  it("round trip keeps a rate's level: what was used before the hand-over still counts", async () => {
    const gate = (): RateGate => new RateGate({ messageRate: 5, messageBurst: 5, maxByteRate: 0, action: "close" });
    const s = memorySession({ clientRate: gate() });
    s.client.send(Buffer.concat(["a", "b", "c", "d"].map((m) => s.client.frame(Opcode.Text, m))));
    await delivered(s, 4, 0);
    const snapshot = s.relay.snapshot();
    assert.ok(snapshot !== null);
    const next = handOver(s, snapshot, { clientRate: gate() });
    // Four of five used: four more in one go are over (a fresh gate would let them through; the level refills at
    // one message per 200 ms, so this holds unless the hand-over took 600 ms).
    s.client.send(Buffer.concat(["e", "f", "g", "h"].map((m) => s.client.frame(Opcode.Text, m))));
    const close = await s.backend.closeFrame();
    assert.deepEqual(close, { code: 1001, reason: "client: message rate exceeded" });
    s.backend.close(1001);
    s.backend.finish();
    const outcome = await withTimeout(next.ended, 2000, "the end");
    assert.equal(outcome.closeCode, 1008);
    // The fifth still fitted; the sixth was over, and neither it nor those after it were read as messages.
    assert.equal(outcome.fromClient.messages, 5);
  });

  it("detach lets go without closing: no close frame, no end, connections still open", async () => {
    const s = memorySession({ pingInterval: 10, maxInactivity: 30, closeTimeout: 20 });
    s.relay.detach();
    await sleep(80);
    assert.deepEqual(s.client.shape(), []);
    assert.deepEqual(s.backend.shape(), []);
    assert.equal(s.client.isClosed || s.backend.isClosed, false);
    assert.equal(s.ends, 0);
    assert.equal(s.relay.state().phase, "detached");
    s.clientEnd.destroy();
    s.backendEnd.destroy();
  });
});
