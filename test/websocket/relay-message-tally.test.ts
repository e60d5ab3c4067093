// Issue 18's relay hooks, on in-memory connections: the close code a client gets when its backend vanishes
// (`backendLostCode`, 1011 without it), and the per-message tallies (size and frames per message, control frames,
// largest message) counted as messages end, whatever the TCP segmentation. Plus the bucket arithmetic against a
// plain search over every bound.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  FRAMES_PER_MESSAGE_BOUNDS,
  MESSAGE_SIZE_BOUNDS,
  MessageTally,
  framesBucket,
  sizeBucket,
} from "../../src/util/message-tally.js";
import { Opcode } from "../../src/websocket/protocol.js";
import { waitUntil, withTimeout } from "../helpers/net.js";
import { memorySession, type TestPeer } from "./memory-peers.js";

/** The first bound at or above `value`; bounds.length for +Inf. */
function naiveBucket(bounds: readonly number[], value: number): number {
  const index = bounds.findIndex((bound) => value <= bound);
  return index < 0 ? bounds.length : index;
}

async function answerClose(peer: TestPeer): Promise<void> {
  await peer.closeFrame();
  const close = peer.frames().find((f) => f.opcode === Opcode.Close);
  peer.send(peer.frame(Opcode.Close, close?.payload ?? Buffer.alloc(0)));
}

describe("message tally buckets", () => {
  it("puts every size at the first bound at or above it", () => {
    const edges = MESSAGE_SIZE_BOUNDS.flatMap((bound) => [bound - 1, bound, bound + 1]);
    for (const size of [0, 1, 2, ...edges, 2 ** 31, 2 ** 32 + 5, 2 ** 40]) {
      assert.equal(sizeBucket(size), naiveBucket(MESSAGE_SIZE_BOUNDS, size), `size ${size}`);
    }
    for (let size = 0; size < 70_000; size++) {
      if (sizeBucket(size) !== naiveBucket(MESSAGE_SIZE_BOUNDS, size)) assert.fail(`size ${size}`);
    }
  });

  it("puts every frame count at the first bound at or above it", () => {
    for (let frames = 1; frames < 2000; frames++) {
      assert.equal(framesBucket(frames), naiveBucket(FRAMES_PER_MESSAGE_BOUNDS, frames), `frames ${frames}`);
    }
  });
});

describe("relay counting into tallies", () => {
  it("counts sizes, fragments, control frames and the largest message each way, byte by byte too", async () => {
    const clientTally = new MessageTally();
    const backendTally = new MessageTally();
    const session = memorySession({ clientTally, backendTally });
    const { client, backend, relay } = session;
    // One byte at a time: the counts do not depend on how the bytes arrive.
    const bytes = Buffer.concat([
      client.frame(Opcode.Binary, Buffer.alloc(300)),
      client.frame(Opcode.Text, "ab", false),
      client.frame(Opcode.Ping, "p"),
      client.frame(Opcode.Continuation, "cd", false),
      client.frame(Opcode.Continuation, "e", true),
    ]);
    for (const byte of bytes) client.send(Buffer.from([byte]));
    backend.send(Buffer.concat([backend.frame(Opcode.Text, "x"), backend.frame(Opcode.Pong, "p")]));
    await waitUntil(() => (relay.totals().fromClient.messages === 2 ? true : undefined), 2000, "2 messages");
    await waitUntil(() => (relay.totals().fromBackend.messages === 1 ? true : undefined), 2000, "1 message");
    assert.deepEqual(relay.totals().fromClient.largest, 300);
    assert.deepEqual(relay.totals().fromBackend.largest, 1);

    assert.deepEqual([...clientTally.sizes], [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], "5 B (<= 64) and 300 B (<= 1024)");
    assert.equal(clientTally.sizeSum, 305);
    assert.deepEqual([...clientTally.frames], [1, 0, 1, 0, 0, 0, 0, 0], "1 frame and 3 frames");
    assert.equal(clientTally.frameSum, 4);
    assert.deepEqual([clientTally.pings, clientTally.pongs, clientTally.closes], [1, 0, 0]);
    assert.deepEqual([backendTally.pings, backendTally.pongs, backendTally.closes], [0, 1, 0]);

    client.close(1000);
    await answerClose(backend);
    backend.finish();
    const outcome = await withTimeout(session.ended, 2000, "the end");
    assert.deepEqual([outcome.fromClient.largest, outcome.fromBackend.largest], [300, 1]);
    assert.deepEqual([clientTally.closes, backendTally.closes], [1, 1]);
  });
});

describe("backendLostCode", () => {
  for (const [code, expected] of [
    [undefined, 1011],
    [1012, 1012],
    [1013, 1013],
  ] as const) {
    it(`the backend resets: the client gets ${expected}${code === undefined ? " (no option)" : ""}`, async () => {
      const session = memorySession(code === undefined ? {} : { backendLostCode: code });
      session.backend.reset();
      const close = await session.client.closeFrame();
      assert.deepEqual(close, { code: expected, reason: "backend connection lost" });
      await answerClose(session.client);
      const outcome = await withTimeout(session.ended, 2000, "the end");
      assert.equal(outcome.closeCode, 1006, "the log says what happened: no close frame from the backend");
    });
  }

  it("a client that leaves still gives the backend 1001, whatever backendLostCode says", async () => {
    const session = memorySession({ backendLostCode: 1012 });
    session.client.reset();
    assert.equal((await session.backend.closeFrame()).code, 1001);
  });
});
