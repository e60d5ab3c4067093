// Live sessions handed from one gateway to another over a Node IPC channel (issue 20): the old gateway runs in this
// process, the new one in a forked child (handover-child.ts); clients and backends are real sockets on 127.0.0.1.
// What moves must lose, reorder or double no byte; what cannot move or settle, or whose taker dies, goes on here.
import assert from "node:assert/strict";
import { fork, type ChildProcess } from "node:child_process";
import { after, afterEach, describe, it } from "node:test";
import WebSocket from "ws";
import { loadConfigText } from "../../src/config/load.js";
import { Gateway } from "../../src/gateway.js";
import { createLogger } from "../../src/observability/logger.js";
import type { SessionRecord } from "../../src/proxy/handover-record.js";
import type { HandoverChannel, TakeReport } from "../../src/proxy/handover-types.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { frame } from "../helpers/frames.js";
import { freePort, waitUntil, withTimeout } from "../helpers/net.js";
import { RawWebSocket } from "../helpers/raw-client.js";

const CHILD = new URL("./handover-child.js", import.meta.url).pathname;
const Op = { Continuation: 0, Text: 1, Binary: 2, Close: 8 } as const;

function configYaml(port: number, backend: string, filter = "proxy", extra = ""): string {
  return `kind: HTTPServer
name: front
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /
        backend: main
---
kind: Pipeline
name: main
filters:
  - kind: WebSocketProxy
    name: ${filter}
    drainWindow: 0
${extra}    pools:
      - servers:
          - url: ${backend}
`;
}

async function parentGateway(yaml: string): Promise<Gateway> {
  const loaded = loadConfigText(yaml, "parent.yaml");
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return Gateway.start(loaded.config, createLogger("silent"));
}

interface ChildSession {
  id: number;
  clientIp: string;
  client: string;
  startedAt: number;
  totals: { fromClient: { messages: number; bytes: number }; fromBackend: { messages: number; bytes: number } };
}

/** The new process: a gateway in a forked child, driven by `{ test }` commands. */
class Child {
  private replies: Array<Record<string, unknown>> = [];
  private waiters: Array<() => void> = [];
  readonly exited: Promise<number | null>;
  /** Hand-over messages that went to it, in order (with the records). */
  readonly sent: unknown[] = [];
  /** Where its gateway listens. */
  port = 0;

  constructor(readonly process: ChildProcess) {
    process.on("message", (message: Record<string, unknown>) => {
      if (message.test !== "reply") return;
      this.replies.push(message);
      for (const wake of this.waiters) wake();
    });
    this.exited = new Promise((resolve) => process.on("exit", (code) => resolve(code)));
  }

  static async start(yaml: string, options: { dieOnSession?: boolean; firstSessionId?: number } = {}): Promise<Child> {
    const child = new Child(fork(CHILD, [], { stdio: ["ignore", "ignore", "inherit", "ipc"] }));
    child.process.send({ test: "start", yaml, ...options });
    const started = await child.reply(["started", "error"], 10_000);
    if (started.error !== undefined) throw new Error(String(started.error));
    child.port = Number(started.port);
    return child;
  }

  reply(key: string | string[], ms = 5000): Promise<Record<string, unknown>> {
    const keys = typeof key === "string" ? [key] : key;
    return withTimeout(
      new Promise((resolve) => {
        const look = (): void => {
          const index = this.replies.findIndex((reply) => keys.some((one) => one in reply));
          if (index < 0) return;
          const [found] = this.replies.splice(index, 1);
          this.waiters = this.waiters.filter((waiter) => waiter !== look);
          resolve(found as Record<string, unknown>);
        };
        this.waiters.push(look);
        look();
      }),
      ms,
      `the child's ${keys.join(" or ")}`,
    );
  }

  async sessions(): Promise<ChildSession[]> {
    this.process.send({ test: "sessions" });
    return (await this.reply("sessions")).sessions as ChildSession[];
  }

  async took(): Promise<TakeReport> {
    return (await this.reply("took")).took as TakeReport;
  }

  /** The channel as the old gateway gets it, recording what it sends. */
  get channel(): HandoverChannel {
    const child = this.process;
    const sent = this.sent;
    return {
      send: (message, handle, options, callback) => {
        sent.push(message);
        return child.send(message as never, handle as never, options ?? {}, callback ?? (() => undefined));
      },
      on: (event: "message" | "disconnect", listener: (...args: unknown[]) => void) => child.on(event, listener),
      off: (event: "message" | "disconnect", listener: (...args: unknown[]) => void) => child.off(event, listener),
      get connected() {
        return child.connected;
      },
    } as HandoverChannel;
  }

  records(): SessionRecord[] {
    return this.sent.flatMap((message) => {
      const record = (message as { record?: SessionRecord }).record;
      return record === undefined ? [] : [record];
    });
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill("SIGKILL");
    await this.exited;
  }
}

/** Numbered text messages each way, every few ms, checked for gaps, repeats and order at both ends. */
interface Stream {
  client: WebSocket;
  sent: { client: number; backend: number };
  got: { client: number[]; backend: number[] };
  stop(): void;
  closes: number[];
}

function streamingBackend(streams: Map<string, Stream>): Promise<TestBackend> {
  return startBackend({
    onConnection: (socket, req) => {
      const stream = streams.get(req.url ?? "");
      if (stream === undefined) return;
      const timer = setInterval(() => {
        if (socket.readyState === socket.OPEN) socket.send(`b:${stream.sent.backend++}`);
      }, 3);
      socket.on("message", (data) => stream.got.backend.push(Number(String(data).slice(2))));
      socket.on("close", () => clearInterval(timer));
      const stop = stream.stop;
      stream.stop = () => {
        clearInterval(timer);
        stop();
      };
    },
  });
}

async function openStream(port: number, name: string, streams: Map<string, Stream>): Promise<Stream> {
  const client = new WebSocket(`ws://127.0.0.1:${port}/${name}`);
  const stream: Stream = {
    client,
    sent: { client: 0, backend: 0 },
    got: { client: [], backend: [] },
    closes: [],
    stop: () => undefined,
  };
  streams.set(`/${name}`, stream);
  // Listening before the open: the backend's first message may come in the same read as the 101.
  client.on("message", (data) => stream.got.client.push(Number(String(data).slice(2))));
  client.on("close", (code) => stream.closes.push(code));
  await withTimeout(new Promise((resolve, reject) => client.once("open", resolve).once("error", reject)), 5000, "open");
  const timer = setInterval(() => {
    if (client.readyState === client.OPEN) client.send(`c:${stream.sent.client++}`);
  }, 3);
  const stop = stream.stop;
  stream.stop = () => {
    clearInterval(timer);
    stop();
  };
  return stream;
}

function assertSequence(got: number[], count: number, what: string): void {
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !got.includes(i));
  assert.equal(got.length, count, `${what}: ${got.length} received of ${count} sent; missing ${missing.join(",")}`);
  got.forEach((value, index) => assert.equal(value, index, `${what}: message ${index} is ${value}`));
}

const cleanups: Array<() => Promise<unknown> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
after(() => undefined);

async function setup(
  backend: TestBackend,
  options: { extra?: string; childFilter?: string; dieOnSession?: boolean } = {},
): Promise<{ gateway: Gateway; child: Child; port: number }> {
  const port = await freePort();
  const gateway = await parentGateway(configYaml(port, backend.url, "proxy", options.extra));
  cleanups.push(() => backend.close());
  cleanups.push(() => gateway.stop(500));
  const child = await Child.start(
    configYaml(await freePort(), backend.url, options.childFilter ?? "proxy", options.extra),
    {
      firstSessionId: gateway.sessionIdsForSuccessor(),
      ...(options.dieOnSession === true ? { dieOnSession: true } : {}),
    },
  );
  cleanups.push(() => child.stop());
  return { gateway, child, port };
}

describe("session hand-over to another process", () => {
  it(
    "moves sessions streaming numbered messages both ways: no gap, no repeat, same ids, counters carried",
    { timeout: 30_000 },
    async () => {
      const streams = new Map<string, Stream>();
      const backend = await streamingBackend(streams);
      const { gateway, child, port } = await setup(backend);
      const opened: Stream[] = [];
      for (let i = 0; i < 6; i++) opened.push(await openStream(port, `s${i}`, streams));
      await new Promise((resolve) => setTimeout(resolve, 150));
      const ids = gateway.sessions.list().map((session) => session.id);
      const before = gateway.sessions.list().map((session) => session.totals());

      const report = await gateway.handOverSessions(child.channel, { settleMs: 3000 });
      assert.equal(report.moved, 6, JSON.stringify(report));
      assert.equal(report.kept + report.failed + report.closed, 0);
      assert.equal(gateway.sessions.size, 0, "none left in the old process");
      assert.deepEqual((await child.took()).taken, 6);

      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const stream of opened) stream.stop();
      await waitUntil(
        () =>
          opened.every((s) => s.got.backend.length >= s.sent.client && s.got.client.length >= s.sent.backend)
            ? true
            : undefined,
        5000,
        "everything sent to arrive",
      ).catch(() => undefined);
      for (const [index, stream] of opened.entries()) {
        assertSequence(stream.got.backend, stream.sent.client, `session ${index}, client to backend`);
        assertSequence(stream.got.client, stream.sent.backend, `session ${index}, backend to client`);
        assert.deepEqual(stream.closes, [], "no close");
      }
      const moved = await child.sessions();
      assert.deepEqual(moved.map((session) => session.id).sort(), [...ids].sort(), "the same ids");
      for (const session of moved) {
        const index = ids.indexOf(session.id);
        const earlier = before[index];
        assert.ok(earlier !== undefined);
        assert.ok(session.totals.fromClient.messages > earlier.fromClient.messages, "counters go on from the old ones");
        assert.equal(session.clientIp, "127.0.0.1");
      }
      // Every message each way is counted once, whichever process relayed it.
      for (const session of moved) {
        const stream = opened[ids.indexOf(session.id)] as Stream;
        assert.equal(session.totals.fromClient.messages, stream.sent.client);
        assert.equal(session.totals.fromBackend.messages, stream.sent.backend);
      }
    },
  );

  it(
    "settles a session mid-fragmented-message and one mid-frame, then moves them with the bytes read ahead",
    { timeout: 30_000 },
    async () => {
      const backend = await startBackend();
      const { gateway, child, port } = await setup(backend);
      const fragmented = await RawWebSocket.connect(port, "/fragmented");
      const midFrame = await RawWebSocket.connect(port, "/mid-frame");
      // A message begun: its first fragment only.
      fragmented.send(frame({ opcode: Op.Text, payload: "hello ", fin: false, mask: true }));
      // A frame begun: its header and half its payload.
      const big = frame({ opcode: Op.Binary, payload: Buffer.alloc(4000, 7), mask: true });
      midFrame.send(big.subarray(0, 2000));
      await waitUntil(() => (gateway.sessions.size === 2 ? true : undefined), 2000, "two sessions");
      await new Promise((resolve) => setTimeout(resolve, 100));

      const handing = gateway.handOverSessions(child.channel, { settleMs: 5000 });
      await new Promise((resolve) => setTimeout(resolve, 150));
      // The frame ends, and the next message arrives in the same write: read ahead, it must travel unparsed.
      midFrame.send(Buffer.concat([big.subarray(2000), frame({ opcode: Op.Text, payload: "after", mask: true })]));
      const report = await handing;
      assert.equal(report.moved, 2, JSON.stringify(report));

      fragmented.send(frame({ opcode: Op.Continuation, payload: "world", mask: true }));
      const echoed = await fragmented.waitForFrame((f) => f.opcode === Op.Text);
      assert.equal(echoed.payload.toString(), "hello world", "the message finished in the new process, whole");
      const binary = await midFrame.waitForFrame((f) => f.opcode === Op.Binary);
      assert.equal(binary.payload.length, 4000);
      const after = await midFrame.waitForFrame((f) => f.opcode === Op.Text);
      assert.equal(after.payload.toString(), "after");
      await new Promise((resolve) => setTimeout(resolve, 100));
      const texts = midFrame.frames().filter((f) => f.opcode === Op.Text);
      assert.equal(texts.length, 1, "the message read ahead arrived once");

      const records = child.records();
      const fragmentedRecord = records.find((record) => record.path === "/fragmented");
      assert.deepEqual(fragmentedRecord?.relay.client.stream.messageInProgress, { bytes: 6, frames: 1 });
      const midRecord = records.find((record) => record.path === "/mid-frame");
      assert.ok(midRecord !== undefined);
      assert.ok(midRecord.pending.client.length > 0, "bytes read and not relayed travelled with the session");
    },
  );

  it(
    "carries rate bucket levels and counters; ids given later in the new process stay above the moved ones",
    { timeout: 30_000 },
    async () => {
      const backend = await startBackend();
      const { gateway, child, port } = await setup(backend, { extra: "    clientMaxMsgRate: 20\n" });
      const client = new WebSocket(`ws://127.0.0.1:${port}/rated`);
      await withTimeout(new Promise((resolve) => client.once("open", resolve)), 5000, "open");
      const echoes: string[] = [];
      client.on("message", (data) => echoes.push(String(data)));
      for (let i = 0; i < 15; i++) client.send(`m${i}`);
      await waitUntil(() => (echoes.length === 15 ? true : undefined), 5000, "15 echoes");
      const [session] = gateway.sessions.list();
      assert.ok(session !== undefined);

      const report = await gateway.handOverSessions(child.channel, { settleMs: 3000 });
      assert.equal(report.moved, 1, JSON.stringify(report));
      const [record] = child.records();
      const tokens = record?.relay.client.rate?.messages?.tokens ?? Infinity;
      assert.ok(tokens < 10, `the bucket's level travelled: ${tokens} of 20 left`);
      assert.equal(record?.relay.client.stream.messages, 15);

      // The bucket is nearly empty in the new process too: 20 more at once take a good part of a second.
      const start = Date.now();
      for (let i = 15; i < 35; i++) client.send(`m${i}`);
      await waitUntil(() => (echoes.length === 35 ? true : undefined), 10_000, "35 echoes");
      assert.ok(Date.now() - start >= 300, `held by the carried bucket: ${Date.now() - start} ms`);
      assert.deepEqual(
        echoes,
        Array.from({ length: 35 }, (_, i) => `m${i}`),
      );

      const [moved] = await child.sessions();
      assert.equal(moved?.id, session.id);
      assert.equal(moved?.totals.fromClient.messages, 35, "counted from where the old process stopped");
      assert.equal(moved?.startedAt, session.startedAt);
      assert.equal(moved?.client, session.client);

      const later = new WebSocket(`ws://127.0.0.1:${child.port}/later`);
      await withTimeout(new Promise((resolve) => later.once("open", resolve)), 5000, "a new session there");
      const ids = (await child.sessions()).map((one) => one.id);
      assert.equal(ids.length, 2);
      assert.ok(Math.max(...ids) > session.id && ids.includes(session.id), `ids ${ids.join(", ")}`);
      later.close();
    },
  );

  it("keeps a session that does not settle in time; it goes on in the old process", { timeout: 30_000 }, async () => {
    const backend = await startBackend();
    const { gateway, child, port } = await setup(backend);
    const stuck = await RawWebSocket.connect(port, "/stuck");
    const big = frame({ opcode: Op.Binary, payload: Buffer.alloc(1000, 1), mask: true });
    stuck.send(big.subarray(0, 300));
    await waitUntil(() => (gateway.sessions.size === 1 ? true : undefined), 2000, "the session");
    await new Promise((resolve) => setTimeout(resolve, 50));

    const report = await gateway.handOverSessions(child.channel, { settleMs: 200 });
    assert.equal(report.moved, 0);
    assert.equal(report.keptBy.unsettled, 1, JSON.stringify(report));
    assert.equal(gateway.sessions.size, 1);
    stuck.send(big.subarray(300));
    stuck.send(frame({ opcode: Op.Text, payload: "still here", mask: true }));
    assert.equal((await stuck.waitForFrame((f) => f.opcode === Op.Binary)).payload.length, 1000);
    assert.equal((await stuck.waitForFrame((f) => f.opcode === Op.Text)).payload.toString(), "still here");
    assert.deepEqual(await child.sessions(), []);
  });

  it(
    "a new process that dies mid-hand-over leaves the sessions with the old one, working",
    { timeout: 30_000 },
    async () => {
      const streams = new Map<string, Stream>();
      const backend = await streamingBackend(streams);
      const { gateway, child, port } = await setup(backend, { dieOnSession: true });
      const opened: Stream[] = [];
      for (let i = 0; i < 3; i++) opened.push(await openStream(port, `d${i}`, streams));
      await new Promise((resolve) => setTimeout(resolve, 100));

      const report = await gateway.handOverSessions(child.channel, { settleMs: 3000 });
      assert.equal(report.moved, 0, JSON.stringify(report));
      assert.equal(report.failed, 3);
      assert.equal(await child.exited, 3, "the child died as told");
      assert.equal(gateway.sessions.size, 3);

      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const stream of opened) stream.stop();
      await waitUntil(
        () =>
          opened.every((s) => s.got.backend.length >= s.sent.client && s.got.client.length >= s.sent.backend)
            ? true
            : undefined,
        5000,
        "everything sent to arrive",
      ).catch(() => undefined);
      for (const [index, stream] of opened.entries()) {
        assertSequence(stream.got.backend, stream.sent.client, `session ${index}, client to backend`);
        assertSequence(stream.got.client, stream.sent.backend, `session ${index}, backend to client`);
        assert.deepEqual(stream.closes, []);
      }
    },
  );

  it(
    "closes a session with 1001 on both sides when the new config has no such WebSocketProxy",
    { timeout: 30_000 },
    async () => {
      const closes: number[] = [];
      const backend = await startBackend({
        onConnection: (socket) => socket.on("close", (code) => closes.push(code)),
      });
      const { gateway, child, port } = await setup(backend, { childFilter: "renamed" });
      const client = new WebSocket(`ws://127.0.0.1:${port}/gone`);
      await withTimeout(new Promise((resolve) => client.once("open", resolve)), 5000, "open");
      const clientClose = new Promise<number>((resolve) => client.on("close", (code) => resolve(code)));

      const report = await gateway.handOverSessions(child.channel, { settleMs: 3000 });
      assert.equal(report.closed, 1, JSON.stringify(report));
      assert.equal(await withTimeout(clientClose, 5000, "the client's close"), 1001);
      await waitUntil(() => (closes.length === 1 ? true : undefined), 5000, "the backend's close");
      assert.deepEqual(closes, [1001]);
      assert.equal((await child.took()).closed, 1);
    },
  );
});
