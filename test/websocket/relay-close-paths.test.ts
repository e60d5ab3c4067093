// The relay's state machine, driven through in-memory connections (memory-peers.ts): every way a session ends,
// one row each. A row scripts both peers, then checks what each received (data frames and close codes, in order),
// how the session ended (the outcome for the log line), that it ended exactly once, and that both sides are closed.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FrameFailure } from "../../src/websocket/frame-error.js";
import { Opcode } from "../../src/websocket/protocol.js";
import { RateGate } from "../../src/websocket/rate-gate.js";
import type { RelayOptions, RelayOutcome } from "../../src/websocket/relay.js";
import { waitUntil, withTimeout } from "../helpers/net.js";
import { closePayload } from "../fuzz/wire.js";
import { memorySession, sleep, type MemorySession, type TestPeer } from "./memory-peers.js";

/** Waits for `peer`'s close frame and sends the same back; a backend then ends TCP, as the server does. */
async function answerClose(peer: TestPeer, role: "client" | "backend"): Promise<void> {
  await peer.closeFrame();
  const close = peer.frames().find((f) => f.opcode === Opcode.Close);
  peer.send(peer.frame(Opcode.Close, close?.payload ?? Buffer.alloc(0)));
  if (role === "backend") peer.finish();
}

/** Waits until the relay has read `bytes` from one side. */
function read(relay: MemorySession["relay"], from: "fromClient" | "fromBackend", bytes: number): Promise<true> {
  return waitUntil(() => (relay.totals()[from].bytes >= bytes ? true : undefined), 2000, `${bytes} bytes read`);
}

interface Row {
  name: string;
  options?: Partial<RelayOptions> | (() => Partial<RelayOptions>);
  highWaterMark?: number;
  act: (s: MemorySession) => Promise<void>;
  outcome: Pick<RelayOutcome, "closedBy" | "closeCode" | "closeReason">;
  /** What the client received, as TestPeer.shape(); undefined: not checked. */
  client?: string[];
  backend?: string[];
  /** The session lasted at least / at most this long (ms). */
  atLeastMs?: number;
  atMostMs?: number;
}

const clean: Row[] = [
  {
    name: "clean close from the client, relayed unchanged both ways",
    act: async ({ client, backend }) => {
      client.text("hi");
      client.close(1000, "bye");
      await answerClose(backend, "backend");
    },
    outcome: { closedBy: "client", closeCode: 1000, closeReason: "bye" },
    client: ["close 1000"],
    backend: ["1:hi", "close 1000"],
  },
  {
    name: "clean close from the backend",
    act: async ({ client, backend }) => {
      backend.text("hello");
      backend.close(4001, "server says");
      await answerClose(client, "client");
      await backend.closeFrame();
      backend.finish();
    },
    outcome: { closedBy: "backend", closeCode: 4001, closeReason: "server says" },
    client: ["1:hello", "close 4001"],
    backend: ["close 4001"],
  },
  {
    name: "simultaneous close: each side gets the other's close",
    act: async ({ client, backend }) => {
      client.close(1000, "client done");
      backend.close(1001, "server done");
      await backend.closeFrame();
      backend.finish();
    },
    outcome: { closedBy: "client", closeCode: 1000, closeReason: "client done" },
    client: ["close 1001"],
    backend: ["close 1000"],
  },
  {
    name: "a close without a code is relayed without one",
    act: async ({ client, backend }) => {
      client.send(client.frame(Opcode.Close, Buffer.alloc(0)));
      await answerClose(backend, "backend");
    },
    outcome: { closedBy: "client", closeCode: 1005, closeReason: "" },
    client: ["close 1005"],
    backend: ["close 1005"],
  },
  {
    name: "frames a peer sends after its close are dropped",
    act: async ({ client, backend }) => {
      client.send(
        Buffer.concat([client.frame(Opcode.Close, closePayload(1000, "")), client.frame(Opcode.Text, "late")]),
      );
      await answerClose(backend, "backend");
    },
    outcome: { closedBy: "client", closeCode: 1000, closeReason: "" },
    backend: ["close 1000"],
  },
  {
    name: "the gateway closes both sides with one code (shutdown, an operator)",
    act: async ({ relay, client, backend }) => {
      relay.close(1001, "shutting down");
      await Promise.all([answerClose(client, "client"), answerClose(backend, "backend")]);
    },
    outcome: { closedBy: "gateway", closeCode: 1001, closeReason: "shutting down" },
    client: ["close 1001"],
    backend: ["close 1001"],
  },
  {
    name: "terminate cuts both connections without a close frame",
    act: async ({ relay }) => {
      relay.terminate();
    },
    // As before this issue: the first connection seen closing is logged as the one that went away.
    outcome: { closedBy: "client", closeCode: 1006, closeReason: "client went away" },
    client: [],
    backend: [],
  },
];

const abrupt: Row[] = [
  {
    name: "the client ends TCP without a close: the backend gets 1001",
    act: async ({ client, backend }) => {
      client.text("bye");
      client.finish();
      await answerClose(backend, "backend");
    },
    outcome: { closedBy: "client", closeCode: 1006, closeReason: "client went away" },
    backend: ["1:bye", "close 1001"],
  },
  {
    name: "the client resets: the backend gets 1001",
    act: async ({ client, backend }) => {
      client.reset();
      await answerClose(backend, "backend");
    },
    outcome: { closedBy: "client", closeCode: 1006, closeReason: "client went away" },
    backend: ["close 1001"],
  },
  {
    name: "the backend ends TCP without a close: the client gets 1011",
    act: async ({ client, backend }) => {
      backend.finish();
      await answerClose(client, "client");
    },
    outcome: { closedBy: "backend", closeCode: 1006, closeReason: "backend connection lost" },
    client: ["close 1011"],
  },
  {
    name: "the backend resets: the client gets 1011",
    act: async ({ client, backend }) => {
      backend.reset();
      await answerClose(client, "client");
    },
    outcome: { closedBy: "backend", closeCode: 1006, closeReason: "backend connection lost" },
    client: ["close 1011"],
  },
  {
    name: "the client resets mid-frame: the backend, holding half a frame, is cut",
    act: async ({ relay, client, backend }) => {
      client.send(client.frame(Opcode.Binary, Buffer.alloc(1000)).subarray(0, 300));
      await read(relay, "fromClient", 300);
      client.reset();
      await backend.waitClosed();
    },
    outcome: { closedBy: "client", closeCode: 1006, closeReason: "client went away" },
    backend: [],
  },
  {
    name: "the backend resets mid-frame: the client, holding half a frame, is cut",
    act: async ({ relay, client, backend }) => {
      backend.send(backend.frame(Opcode.Binary, Buffer.alloc(1000)).subarray(0, 300));
      await read(relay, "fromBackend", 300);
      backend.reset();
      await client.waitClosed();
    },
    outcome: { closedBy: "backend", closeCode: 1006, closeReason: "backend connection lost" },
    client: [],
  },
  {
    name: "both reset at once",
    act: async ({ client, backend }) => {
      client.reset();
      backend.reset();
    },
    outcome: { closedBy: "client", closeCode: 1006, closeReason: "client went away" },
    client: [],
    backend: [],
  },
];

/** A bad frame from the client, right behind a valid message; the backend echoes, then answers the 1001. */
function clientBreaks(
  name: string,
  bad: (client: TestPeer) => Buffer,
  failure: { closeCode: number; reason: string },
  options?: Partial<RelayOptions>,
  /** Frames of the bad sequence that were valid and so reached the backend. */
  relayed: string[] = [],
): Row {
  return {
    name: `client protocol error, ${name}: the backend's echo reaches the client before its ${failure.closeCode}`,
    ...(options === undefined ? {} : { options }),
    act: async ({ client, backend }) => {
      client.send(Buffer.concat([client.frame(Opcode.Text, "hello"), bad(client)]));
      const close = await backend.closeFrame();
      assert.deepEqual(close, { code: 1001, reason: `client: ${failure.reason}` });
      // The client's close is held back until the backend's close comes: nothing reached it yet.
      await sleep(20);
      assert.deepEqual(client.shape(), [], "the client is not closed before the backend's close");
      backend.text("hello");
      backend.close(close.code, close.reason);
      backend.finish();
    },
    outcome: { closedBy: "gateway", closeCode: failure.closeCode, closeReason: `client: ${failure.reason}` },
    client: ["1:hello", `close ${failure.closeCode}`],
    backend: ["1:hello", ...relayed, "close 1001"],
  };
}

/** A bad frame from the backend, right behind a valid message; the client echoes, then answers the 1001. */
function backendBreaks(
  name: string,
  bad: (backend: TestPeer) => Buffer,
  failure: { closeCode: number; reason: string },
  options?: Partial<RelayOptions>,
  relayed: string[] = [],
): Row {
  return {
    name: `backend protocol error, ${name}: the client's echo reaches the backend before its ${failure.closeCode}`,
    ...(options === undefined ? {} : { options }),
    act: async ({ client, backend }) => {
      backend.send(Buffer.concat([backend.frame(Opcode.Text, "hello"), bad(backend)]));
      const close = await client.closeFrame();
      assert.deepEqual(close, { code: 1001, reason: `backend: ${failure.reason}` });
      client.text("hello");
      client.close(close.code, close.reason);
      await backend.waitClosed();
    },
    outcome: { closedBy: "gateway", closeCode: failure.closeCode, closeReason: `backend: ${failure.reason}` },
    client: ["1:hello", ...relayed, "close 1001"],
    backend: ["1:hello", `close ${failure.closeCode}`],
  };
}

const protocol: Row[] = [
  clientBreaks("reserved bits", (c) => c.frame(Opcode.Text, "x", true, 2), FrameFailure.ReservedBits),
  clientBreaks("a reserved opcode", (c) => c.frame(0x3, "x"), FrameFailure.ReservedOpcode),
  clientBreaks("a reserved control opcode", (c) => c.frame(0xb, "x"), FrameFailure.ReservedOpcode),
  clientBreaks("an orphan continuation", (c) => c.frame(Opcode.Continuation, "x"), FrameFailure.UnexpectedContinuation),
  clientBreaks(
    "a new message inside a fragmented one",
    (c) => Buffer.concat([c.frame(Opcode.Text, "a", false), c.frame(Opcode.Text, "b")]),
    FrameFailure.ExpectedContinuation,
    undefined,
    ["1:a"],
  ),
  clientBreaks("an unmasked frame", () => Buffer.from([0x81, 0x01, 0x78]), FrameFailure.MaskMissing),
  clientBreaks("a fragmented ping", (c) => c.frame(Opcode.Ping, "x", false), FrameFailure.ControlFragmented),
  clientBreaks("a ping over 125 bytes", (c) => c.frame(Opcode.Ping, Buffer.alloc(126)), FrameFailure.ControlTooLong),
  clientBreaks(
    "a close code 1005 on the wire",
    (c) => c.frame(Opcode.Close, closePayload(1005, "")),
    FrameFailure.CloseCodeInvalid,
  ),
  clientBreaks(
    "a close reason that is not UTF-8",
    (c) => c.frame(Opcode.Close, Buffer.from([0x03, 0xe8, 0xff, 0xfe])),
    FrameFailure.CloseReasonUtf8,
  ),
  clientBreaks("a close payload of one byte", (c) => c.frame(Opcode.Close, Buffer.from([3])), FrameFailure.CloseLength),
  clientBreaks(
    "a message over the size limit",
    (c) => c.frame(Opcode.Binary, Buffer.alloc(17)),
    FrameFailure.MessageTooBig,
    {
      clientMaxMessageSize: 16,
    },
  ),
  clientBreaks(
    "fragments over the size limit together",
    (c) =>
      Buffer.concat([c.frame(Opcode.Binary, Buffer.alloc(10), false), c.frame(Opcode.Continuation, Buffer.alloc(7))]),
    FrameFailure.MessageTooBig,
    { clientMaxMessageSize: 16 },
    [`2:${Buffer.alloc(10).toString()}`],
  ),
  backendBreaks("a masked frame", () => Buffer.from([0x81, 0x81, 1, 2, 3, 4, 0x79]), FrameFailure.MaskUnexpected),
  backendBreaks("a reserved opcode", (b) => b.frame(0x4, "x"), FrameFailure.ReservedOpcode),
  backendBreaks(
    "reserved bits on a continuation",
    (b) => Buffer.concat([b.frame(Opcode.Text, "a", false), b.frame(0, "b", true, 4)]),
    FrameFailure.ReservedBits,
    undefined,
    ["1:a"],
  ),
  backendBreaks(
    "a message over the size limit",
    (b) => b.frame(Opcode.Text, "x".repeat(33)),
    FrameFailure.MessageTooBig,
    {
      backendMaxMessageSize: 32,
    },
  ),
  {
    name: "client protocol error while the backend is mid-frame to it: the frame ends, then the 1002",
    act: async ({ relay, client, backend }) => {
      const big = backend.frame(Opcode.Binary, Buffer.alloc(5000, 7));
      backend.send(big.subarray(0, 1000));
      await read(relay, "fromBackend", 1000);
      client.send(client.frame(0x3, "?"));
      await backend.closeFrame();
      backend.send(big.subarray(1000));
      backend.close(1001);
      backend.finish();
    },
    outcome: { closedBy: "gateway", closeCode: 1002, closeReason: "client: reserved opcode" },
    client: [`2:${Buffer.alloc(5000, 7).toString()}`, "close 1002"],
    backend: ["close 1001"],
  },
  {
    name: "client protocol error, the backend never answers its 1001: after closeTimeout the client gets 1002",
    act: async ({ client, backend }) => {
      client.send(client.frame(0x3, "?"));
      await backend.closeFrame();
      await client.closeFrame(1000);
    },
    outcome: { closedBy: "gateway", closeCode: 1002, closeReason: "client: reserved opcode" },
    client: ["close 1002"],
    backend: ["close 1001"],
    atLeastMs: 190,
    atMostMs: 1000,
  },
  {
    name: "client protocol error, the backend vanishes instead of answering: the client gets 1002 at once",
    act: async ({ client, backend }) => {
      client.send(client.frame(0x3, "?"));
      await backend.closeFrame();
      backend.reset();
      await client.closeFrame(150);
    },
    outcome: { closedBy: "gateway", closeCode: 1002, closeReason: "client: reserved opcode" },
    client: ["close 1002"],
    atMostMs: 190,
  },
  {
    name: "both sides break the protocol: the first failure is the outcome, the client's close goes out at once",
    act: async ({ client, backend }) => {
      client.send(client.frame(0x3, "?"));
      await backend.closeFrame();
      backend.send(Buffer.from([0x81, 0x81, 1, 2, 3, 4, 0x79]));
      await client.closeFrame(150);
    },
    outcome: { closedBy: "gateway", closeCode: 1002, closeReason: "client: reserved opcode" },
    client: ["close 1002"],
    backend: ["close 1001"],
  },
  {
    name: "the gateway closing while a protocol offender waits: the offender gets its own 1002",
    act: async ({ relay, client, backend }) => {
      client.send(client.frame(0x3, "?"));
      await backend.closeFrame();
      relay.close(1001, "shutting down");
      await client.closeFrame(150);
      backend.close(1001);
      backend.finish();
    },
    outcome: { closedBy: "gateway", closeCode: 1002, closeReason: "client: reserved opcode" },
    client: ["close 1002"],
    backend: ["close 1001"],
  },
];

const timeouts: Row[] = [
  {
    name: "closeTimeout: a backend that never answers the close is cut, and so is the client",
    act: async ({ client, backend }) => {
      client.close(1000, "bye");
      await backend.closeFrame();
    },
    outcome: { closedBy: "client", closeCode: 1000, closeReason: "bye" },
    client: [],
    backend: ["close 1000"],
    atLeastMs: 190,
    atMostMs: 1000,
  },
  {
    name: "closeTimeout: a backend that answers but never ends TCP is cut",
    act: async ({ client, backend }) => {
      client.close(1000);
      const close = await backend.closeFrame();
      backend.close(close.code);
    },
    outcome: { closedBy: "client", closeCode: 1000, closeReason: "" },
    client: ["close 1000"],
    backend: ["close 1000"],
    atLeastMs: 190,
  },
  {
    name: "frameTimeout: a client stuck inside a frame gets 1008, the backend holding half of it is cut",
    options: { frameTimeout: 60 },
    act: async ({ client }) => {
      client.send(client.frame(Opcode.Binary, Buffer.alloc(100)).subarray(0, 40));
      await client.closeFrame(1000);
    },
    outcome: { closedBy: "gateway", closeCode: 1008, closeReason: "client: frame not completed in time" },
    client: ["close 1008"],
    backend: [],
    atLeastMs: 55,
  },
  {
    name: "frameTimeout: a client stuck inside a header gets 1008, the backend 1001",
    options: { frameTimeout: 60 },
    act: async ({ client, backend }) => {
      client.send(Buffer.from([0x81]));
      await answerClose(backend, "backend");
    },
    outcome: { closedBy: "gateway", closeCode: 1008, closeReason: "client: frame not completed in time" },
    client: ["close 1008"],
    backend: ["close 1001"],
  },
  {
    name: "frameTimeout: a backend stuck inside a frame gets 1008, the client holding half of it is cut",
    options: { frameTimeout: 60 },
    act: async ({ backend }) => {
      backend.send(backend.frame(Opcode.Text, "x".repeat(100)).subarray(0, 50));
      await backend.closeFrame(1000);
    },
    outcome: { closedBy: "gateway", closeCode: 1008, closeReason: "backend: frame not completed in time" },
    client: [],
    backend: ["close 1008"],
  },
  {
    name: "idle timeout: no data either way for maxInactivity closes both with 1001",
    options: { maxInactivity: 80 },
    act: async ({ client, backend }) => {
      await Promise.all([answerClose(client, "client"), answerClose(backend, "backend")]);
    },
    outcome: { closedBy: "gateway", closeCode: 1001, closeReason: "idle timeout" },
    client: ["close 1001"],
    backend: ["close 1001"],
    atLeastMs: 75,
  },
  {
    name: "idle timeout: data keeps the session alive, the timeout runs from the last message",
    options: { maxInactivity: 80 },
    act: async ({ client, backend }) => {
      for (let i = 0; i < 5; i++) {
        client.text(`${i}`);
        await sleep(40);
      }
      await Promise.all([answerClose(client, "client"), answerClose(backend, "backend")]);
    },
    outcome: { closedBy: "gateway", closeCode: 1001, closeReason: "idle timeout" },
    backend: ["1:0", "1:1", "1:2", "1:3", "1:4", "close 1001"],
    atLeastMs: 240,
  },
  {
    name: "heartbeat: a backend that does not answer pings gets 1001, the client 1001",
    options: { pingInterval: 30, pongTimeout: 60 },
    act: async ({ client, backend }) => {
      client.end.on("data", () => answerPings(client));
      await answerClose(client, "client");
      await backend.closeFrame();
      backend.finish();
    },
    outcome: { closedBy: "gateway", closeCode: 1001, closeReason: "backend did not answer ping" },
    atLeastMs: 60,
  },
  {
    name: "heartbeat: a client that does not answer pings gets 1001, the backend 1001",
    options: { pingInterval: 30, pongTimeout: 60 },
    act: async ({ client, backend }) => {
      backend.end.on("data", () => answerPings(backend));
      await answerClose(backend, "backend");
      await client.closeFrame();
    },
    outcome: { closedBy: "gateway", closeCode: 1001, closeReason: "client did not answer ping" },
  },
];

/** Answers the gateway's pings received so far that were not answered yet. */
function answerPings(peer: TestPeer): void {
  const answered = (peer as unknown as { answered?: number }).answered ?? 0;
  const pings = peer.frames().filter((f) => f.opcode === Opcode.Ping);
  for (const ping of pings.slice(answered)) peer.send(peer.frame(Opcode.Pong, ping.payload));
  (peer as unknown as { answered?: number }).answered = pings.length;
}

const limits: Row[] = [
  {
    name: "message rate (close): a client over its rate gets 1008, the backend 1001",
    options: () => ({ clientRate: new RateGate({ messageRate: 2, messageBurst: 2, maxByteRate: 0, action: "close" }) }),
    act: async ({ client, backend }) => {
      client.send(Buffer.concat(["a", "b", "c", "d"].map((m) => client.frame(Opcode.Text, m))));
      await answerClose(backend, "backend");
      await client.closeFrame();
    },
    outcome: { closedBy: "gateway", closeCode: 1008, closeReason: "client: message rate exceeded" },
    client: ["close 1008"],
    // Counted per message although all four came in one read: the third is over, it and the rest never pass.
    backend: ["1:a", "1:b", "close 1001"],
  },
  {
    name: "byte rate (close): a backend over its rate gets 1008, the client 1001",
    options: () => ({
      backendRate: new RateGate({ messageRate: 0, messageBurst: 0, maxByteRate: 100, action: "close" }),
    }),
    act: async ({ client, backend }) => {
      // The first frame goes (the allowance was not in debt) and takes it 102 bytes below zero: the second is over.
      backend.send(Buffer.concat([backend.frame(Opcode.Binary, Buffer.alloc(200)), backend.frame(Opcode.Binary, "x")]));
      await answerClose(client, "client");
      await backend.closeFrame();
    },
    outcome: { closedBy: "gateway", closeCode: 1008, closeReason: "backend: message rate exceeded" },
    backend: ["close 1008"],
  },
  {
    name: "message rate (pause): a client over its rate is read again once the debt is paid",
    options: () => ({
      clientRate: new RateGate({ messageRate: 20, messageBurst: 20, maxByteRate: 0, action: "pause" }),
    }),
    act: async ({ client, backend }) => {
      const sentAt = Date.now();
      client.send(Buffer.concat(Array.from({ length: 30 }, (_, i) => client.frame(Opcode.Text, `${i}`))));
      await backend.waitFor(() => (backend.frames().length === 20 ? true : undefined), "the burst of 20");
      await backend.waitFor(() => (backend.frames().length === 30 ? true : undefined), "30 messages", 3000);
      // 20 at once, the other 10 at 20/s: about 500 ms, though all 30 came in one read.
      assert.ok(Date.now() - sentAt >= 350, `30 messages after ${Date.now() - sentAt} ms, not ~500`);
      client.text("late");
      await backend.waitFor(() => (backend.frames().length === 31 ? true : undefined), "the late message", 3000);
      client.close(1000);
      await answerClose(backend, "backend");
    },
    outcome: { closedBy: "client", closeCode: 1000, closeReason: "" },
    atLeastMs: 350,
  },
  {
    name: "maxBufferedBytes: a backend that reads nothing gets 1008 once the gateway holds too much for it",
    options: { maxBufferedBytes: 4096 },
    highWaterMark: 1024,
    act: async ({ client, backend }) => {
      backend.end.stopReading();
      // One read larger than the limit: backpressure cannot stop it, it is already in.
      client.send(client.frame(Opcode.Binary, Buffer.alloc(6000)));
      const close = await client.closeFrame();
      assert.deepEqual(close, { code: 1001, reason: "backend: buffer limit exceeded" });
      client.close(1001);
      backend.end.resumeReading();
      await backend.waitClosed();
    },
    outcome: { closedBy: "gateway", closeCode: 1008, closeReason: "backend: buffer limit exceeded" },
    client: ["close 1001"],
  },
];

/** Runs one row and checks what every row promises: one end, the outcome, both sides closed, what each got. */
async function runRow(row: Row): Promise<void> {
  const options = typeof row.options === "function" ? row.options() : row.options;
  const s = memorySession(options, row.highWaterMark === undefined ? {} : { highWaterMark: row.highWaterMark });
  await row.act(s);
  const outcome = await withTimeout(s.ended, 3000, "the session to end");
  const lasted = Date.now() - s.startedAt;
  assert.deepEqual(
    { closedBy: outcome.closedBy, closeCode: outcome.closeCode, closeReason: outcome.closeReason },
    row.outcome,
  );
  await Promise.all([s.client.waitClosed(), s.backend.waitClosed()]);
  await sleep(10);
  assert.equal(s.ends, 1, "the session ends once");
  assert.deepEqual(s.relay.state(), { phase: "finished", client: "closed", backend: "closed" });
  if (row.client !== undefined) assert.deepEqual(s.client.shape(), row.client, "what the client received");
  if (row.backend !== undefined) assert.deepEqual(s.backend.shape(), row.backend, "what the backend received");
  if (row.atLeastMs !== undefined) assert.ok(lasted >= row.atLeastMs, `lasted ${lasted} ms, < ${row.atLeastMs}`);
  if (row.atMostMs !== undefined) assert.ok(lasted <= row.atMostMs, `lasted ${lasted} ms, > ${row.atMostMs}`);
}

for (const [group, rows] of [
  ["relay close paths: clean", clean],
  ["relay close paths: abrupt ends", abrupt],
  ["relay close paths: protocol errors (the other side closes first)", protocol],
  ["relay close paths: timeouts and heartbeat", timeouts],
  ["relay close paths: rates and buffer limits", limits],
] as const) {
  describe(group, () => {
    for (const row of rows) it(row.name, () => runRow(row));
  });
}

describe("relay states", () => {
  it("goes open → closing → closed per side, and the session open → closing → finished", async () => {
    const s = memorySession();
    assert.deepEqual(s.relay.state(), { phase: "open", client: "open", backend: "open" });
    s.client.close(1000);
    const close = await s.backend.closeFrame();
    assert.deepEqual(s.relay.state(), { phase: "closing", client: "closing", backend: "closing" });
    s.backend.close(close.code);
    await s.client.closeFrame();
    s.backend.finish();
    await withTimeout(s.ended, 2000, "the end");
    assert.deepEqual(s.relay.state(), { phase: "finished", client: "closed", backend: "closed" });
  });

  it("a protocol offender is closing (its close waiting) while the other side is still being closed", async () => {
    const s = memorySession();
    s.client.send(s.client.frame(0x3, "?"));
    await s.backend.closeFrame();
    assert.deepEqual(s.relay.state(), { phase: "closing", client: "closing", backend: "closing" });
    assert.deepEqual(s.client.shape(), []);
    s.backend.close(1001);
    s.backend.finish();
    await withTimeout(s.ended, 2000, "the end");
  });
});

describe("relay pass-through", () => {
  it("relays peers' pings and pongs, masks what goes to the backend, swallows pongs to its own pings", async () => {
    const s = memorySession({ pingInterval: 20, pongTimeout: 500 });
    s.client.end.on("data", () => answerPings(s.client));
    s.client.send(s.client.frame(Opcode.Ping, "from client"));
    s.backend.send(s.backend.frame(Opcode.Ping, "from backend"));
    await s.backend.waitFor(
      () => s.backend.frames().find((f) => f.opcode === Opcode.Ping && f.payload.toString() === "from client"),
      "the client's ping",
    );
    await s.client.waitFor(
      () => s.client.frames().find((f) => f.opcode === Opcode.Ping && f.payload.toString() === "from backend"),
      "the backend's ping",
    );
    await sleep(80);
    const toBackend = s.backend.frames();
    assert.ok(
      toBackend.every((f) => f.masked),
      "frames to the backend are masked",
    );
    assert.ok(
      s.client.frames().every((f) => !f.masked),
      "frames to the client are not",
    );
    const pongs = toBackend.filter((f) => f.opcode === Opcode.Pong).map((f) => f.payload.toString());
    assert.deepEqual(pongs, ["from backend"], "the client's pongs to the gateway's pings stay there");
    s.client.close(1000);
    await answerClose(s.backend, "backend");
    await withTimeout(s.ended, 2000, "the end");
  });

  it("relays bytes each side sent with its handshake before anything read later", async () => {
    const s = memorySession(
      {},
      { clientHead: Buffer.concat([Buffer.from([0x81, 0x82, 0, 0, 0, 0]), Buffer.from("hi")]) },
    );
    await s.backend.waitFor(() => s.backend.frames()[0], "the early frame");
    assert.deepEqual(s.backend.shape(), ["1:hi"]);
    s.relay.terminate();
    await withTimeout(s.ended, 2000, "the end");
  });

  it("carries a 1 MB message both ways through slow readers, byte for byte", async () => {
    const s = memorySession({}, { highWaterMark: 4096 });
    const payload = Buffer.alloc(1_000_000);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    s.backend.end.stopReading();
    s.client.send(s.client.frame(Opcode.Binary, payload));
    await sleep(30);
    s.backend.end.resumeReading();
    await s.backend.waitFor(() => s.backend.frames()[0], "the message", 5000);
    assert.ok(s.backend.frames()[0]?.payload.equals(payload));
    s.relay.terminate();
    await withTimeout(s.ended, 2000, "the end");
  });
});
