// The relay's deadline (relay-deadline.ts) and its client-message inspector, on in-memory connections: the close at
// the deadline (the client's code, 1001 to the backend), the warning between messages even when a fragmented one is
// in flight, a moved deadline, no timer at all without one, and inspected messages consumed or relayed in order.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Opcode } from "../../src/websocket/protocol.js";
import { encodeWarningFrame } from "../../src/websocket/relay-deadline.js";
import { memorySession, sleep } from "./memory-peers.js";

function timeouts(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;
}

const WARNING = encodeWarningFrame(Buffer.from("refresh your token"), false);

describe("relay deadline", () => {
  it("holds no timer and no deadline when none is set", async () => {
    const before = timeouts();
    const s = memorySession();
    assert.equal(s.relay.deadlineAt, undefined);
    assert.equal(timeouts(), before);
    s.relay.close(1000, "done");
    await s.ended;
  });

  it("closes the client with its code and the backend with 1001 at the deadline, not before", async () => {
    const at = Date.now() + 150;
    const s = memorySession({ deadline: { at, code: 4001, reason: "token expired" } });
    assert.equal(s.relay.deadlineAt, at);
    const [client, backend] = await Promise.all([s.client.closeFrame(), s.backend.closeFrame()]);
    const closedAt = Date.now();
    assert.ok(closedAt >= at, `closed ${at - closedAt} ms early`);
    assert.ok(closedAt - at < 1000, `closed ${closedAt - at} ms late`);
    assert.deepEqual(client, { code: 4001, reason: "token expired" });
    assert.equal(backend.code, 1001);
    s.client.send(s.client.frame(Opcode.Close, Buffer.from([0x0f, 0xa1])));
    s.backend.send(s.backend.frame(Opcode.Close, Buffer.from([0x03, 0xe9])));
    s.backend.finish();
    const outcome = await s.ended;
    assert.equal(outcome.closedBy, "gateway");
    assert.equal(outcome.closeCode, 4001);
  });

  it("sends the warning first, and never between the fragments of a message in flight to the client", async () => {
    const at = Date.now() + 400;
    const s = memorySession({
      deadline: { at, code: 1008, reason: "token expired", warning: WARNING, warnBefore: 300 },
    });
    // A fragmented message from the backend is half relayed when the warning falls due (at +100 ms).
    s.backend.send(s.backend.frame(Opcode.Text, "part one ", false));
    await sleep(200);
    assert.deepEqual(s.client.shape(), ["1:part one "], "the warning waited for the message's end");
    s.backend.send(s.backend.frame(Opcode.Continuation, "and two", true));
    await s.client.waitFor(() => (s.client.shape().length >= 3 ? true : undefined), "the warning");
    assert.deepEqual(s.client.shape(), ["1:part one ", "0:and two", "1:refresh your token"]);
    const close = await s.client.closeFrame();
    assert.equal(close.code, 1008);
    assert.ok(Date.now() >= at);
    assert.deepEqual(s.client.shape(), ["1:part one ", "0:and two", "1:refresh your token", "close 1008"]);
    s.relay.terminate();
    await s.ended;
  });

  it("moves: a later deadline closes later and warns again; an earlier one closes sooner", async () => {
    const s = memorySession({
      deadline: { at: Date.now() + 150, code: 4003, reason: "token expired", warning: WARNING, warnBefore: 100 },
    });
    await s.client.waitFor(() => (s.client.shape().length === 1 ? true : undefined), "the first warning");
    const later = Date.now() + 300;
    s.relay.setDeadline({ at: later, code: 4003, reason: "token expired", warning: WARNING, warnBefore: 100 });
    assert.equal(s.relay.deadlineAt, later);
    const close = await s.client.closeFrame();
    assert.ok(Date.now() >= later, "closed at the moved deadline, not the first one");
    assert.equal(close.code, 4003);
    assert.deepEqual(s.client.shape(), ["1:refresh your token", "1:refresh your token", "close 4003"]);
    s.relay.terminate();
    await s.ended;

    const t = memorySession({ deadline: { at: Date.now() + 60_000, code: 1001, reason: "session lifetime" } });
    const started = Date.now();
    t.relay.setDeadline({ at: started + 50, code: 1012, reason: "session lifetime" });
    assert.equal((await t.client.closeFrame()).code, 1012);
    assert.ok(Date.now() - started < 2000);
    t.relay.terminate();
    await t.ended;
  });
});

describe("relay client-message inspector", () => {
  it("consumes what the inspector keeps and relays the rest unchanged and in order", async () => {
    const seen: string[] = [];
    const s = memorySession({
      clientInspector: {
        maxMessageSize: 64,
        inspect: (payload) => {
          seen.push(payload.toString());
          return payload.toString().startsWith('{"token"');
        },
      },
    });
    const big = "x".repeat(100);
    s.client.text("one");
    s.client.text('{"token":"abc"}');
    s.client.send(s.client.frame(Opcode.Binary, '{"token":"bin"}'));
    s.client.text(big);
    // Fragmented: streamed through unread, whatever it holds.
    s.client.send(s.client.frame(Opcode.Text, '{"token"', false));
    s.client.send(s.client.frame(Opcode.Continuation, ':"frag"}', true));
    s.client.text("two");
    await s.backend.waitFor(() => (s.backend.shape().length >= 6 ? true : undefined), "the relayed messages");
    assert.deepEqual(s.backend.shape(), [
      "1:one",
      '2:{"token":"bin"}',
      `1:${big}`,
      '1:{"token"',
      '0::"frag"}',
      "1:two",
    ]);
    assert.deepEqual(seen, ["one", '{"token":"abc"}', "two"]);
    // Relayed frames keep the client's mask, as every other frame does.
    assert.ok(s.backend.frames().every((f) => f.masked));
    s.relay.close(1000, "done");
    await s.ended;
  });

  it("gathers a message whose bytes arrive one at a time", async () => {
    const s = memorySession({ clientInspector: { maxMessageSize: 64, inspect: () => false } });
    const bytes = s.client.frame(Opcode.Text, "split message");
    for (const byte of bytes) {
      s.client.send(Buffer.from([byte]));
      await sleep(1);
    }
    await s.backend.waitFor(() => (s.backend.shape().length === 1 ? true : undefined), "the message");
    assert.deepEqual(s.backend.shape(), ["1:split message"]);
    s.relay.close(1000, "done");
    await s.ended;
  });
});
