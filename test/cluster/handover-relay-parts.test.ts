// The session relay's parts in one process, over fake IPC ends whose writes complete when the test says: the order
// of what goes out, what a primary closes, what a broken hop turns into at each worker, and the end-to-end confirm
// that keeps a session from running in two processes.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, it } from "node:test";
import type { ChildProcess } from "node:child_process";
import { RelayHub } from "../../src/cluster/handover-relay-hub.js";
import { RELAY_TAG, type RelayEnvelope } from "../../src/cluster/handover-relay-protocol.js";
import { RelayPort, type IpcEnd, type RawHandle } from "../../src/cluster/handover-relay-port.js";
import { WorkerRelay } from "../../src/cluster/handover-relay-worker.js";
import { createLogger } from "../../src/observability/logger.js";
import type { HandoverChannel } from "../../src/proxy/handover-types.js";

interface Sent {
  message: RelayEnvelope;
  handle: unknown;
  complete(error?: Error): void;
}

/** An IPC end whose writes wait for `complete()` (or complete at once with `auto`). */
class FakeEnd extends EventEmitter implements IpcEnd {
  connected = true;
  readonly sent: Sent[] = [];
  exitCode: number | null = null;
  signalCode: string | null = null;
  constructor(private readonly auto = true) {
    super();
  }
  send(message: unknown, handle?: unknown, _options?: object, callback?: (error: Error | null) => void): boolean {
    let done = false;
    const complete = (error?: Error): void => {
      if (done) return;
      done = true;
      callback?.(error ?? null);
    };
    this.sent.push({ message: message as RelayEnvelope, handle, complete });
    if (this.auto) process.nextTick(complete);
    return true;
  }
  deliver(message: RelayEnvelope, handle?: unknown): void {
    this.emit("message", message, handle);
  }
  die(): void {
    this.connected = false;
    this.exitCode = 0;
    this.emit("disconnect");
    this.emit("exit", 0, null);
  }
  envelopes(): RelayEnvelope[] {
    return this.sent.map((one) => one.message);
  }
}

class FakeHandle implements RawHandle {
  closed = 0;
  readStart(): number {
    return 0;
  }
  readStop(): number {
    return 0;
  }
  close(): void {
    this.closed++;
  }
}

const log = createLogger("silent");
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const message = (lane: number, inner: unknown, extra: object = {}): RelayEnvelope => ({
  [RELAY_TAG]: 1,
  lane,
  kind: "message",
  message: inner,
  ...extra,
});

describe("session relay parts", () => {
  it("a port writes one message at a time, in order, and closes a forwarded handle once written", async () => {
    const end = new FakeEnd(false);
    const port = new RelayPort(end, "peer", { envelope: () => undefined, gone: () => undefined });
    const handle = new FakeHandle();
    port.send(message(1, "first"), handle);
    port.send(message(1, "second"));
    // Node would write the second (no handle) ahead of the first still waiting for its ACK: the port does not.
    assert.equal(end.sent.length, 1);
    assert.equal(handle.closed, 0);
    end.sent[0]?.complete();
    assert.equal(handle.closed, 1);
    assert.deepEqual(
      end.envelopes().map((one) => (one as { message: unknown }).message),
      ["first", "second"],
    );
    port.close();
  });

  it("a port being closed still writes what is queued, then lets go", async () => {
    const end = new FakeEnd(false);
    const port = new RelayPort(end, "peer", { envelope: () => undefined, gone: () => undefined });
    port.send(message(1, "a"));
    port.send(message(1, "done", { last: true }));
    port.close();
    end.sent[0]?.complete();
    assert.equal(end.sent.length, 2, "the queued `done` went out after close()");
    end.sent[1]?.complete();
    assert.equal(end.listenerCount("message"), 0);
  });

  it("the new worker starts a session only once the old worker confirmed the answer", async () => {
    const end = new FakeEnd();
    const relay = new WorkerRelay(end);
    const channels: HandoverChannel[] = [];
    relay.acceptSessions((channel) => channels.push(channel));
    end.deliver(message(3, { wsgateHandover: 1, kind: "session", id: 1, part: "client" }));
    const channel = channels[0] as HandoverChannel;
    const results: Array<Error | null> = [];
    channel.send({ wsgateHandover: 1, kind: "taken", id: 1 }, undefined, undefined, (error) => results.push(error));
    channel.send({ wsgateHandover: 1, kind: "taken", id: 2 }, undefined, undefined, (error) => results.push(error));
    await tick();
    assert.deepEqual(results, [], "written is not enough");
    const seqs = end.envelopes().map((one) => (one as { seq?: number }).seq);
    end.deliver({ [RELAY_TAG]: 1, lane: 3, kind: "confirm", seq: seqs[0] as number });
    assert.deepEqual(results, [null]);
    // The lane breaks with the second answer unconfirmed: the old worker may resume that session, so not here.
    let ended = false;
    channel.on("disconnect", () => (ended = true));
    end.deliver({ [RELAY_TAG]: 1, lane: 3, kind: "end", reason: "the new primary died", originGone: false });
    assert.equal(results.length, 2);
    assert.match(String(results[1]), /not confirmed/);
    assert.equal(ended, true);
    relay.close();
  });

  it("an old worker that exited leaves its unconfirmed answers to the new worker", () => {
    const end = new FakeEnd();
    const relay = new WorkerRelay(end);
    const channels: HandoverChannel[] = [];
    relay.acceptSessions((channel) => channels.push(channel));
    end.deliver(message(0, { wsgateHandover: 1, kind: "session", id: 1, part: "client" }));
    const results: Array<Error | null> = [];
    channels[0]?.send({ wsgateHandover: 1, kind: "taken", id: 1 }, undefined, undefined, (error) =>
      results.push(error),
    );
    end.deliver({ [RELAY_TAG]: 1, lane: 0, kind: "end", reason: "the old worker exited", originGone: true });
    assert.deepEqual(results, [null]);
    relay.close();
  });

  it("the old worker confirms an answer before it acts on it, and a broken hop is its channel's disconnect", () => {
    const end = new FakeEnd();
    const relay = new WorkerRelay(end);
    const channel = relay.handoverChannel(5);
    const heard: unknown[] = [];
    channel.on("message", (inner) => {
      heard.push(inner);
      // By now the confirm is on its way (queued first): a `done` sent from here goes after it.
      heard.push(end.envelopes().map((one) => one.kind));
    });
    let disconnected = false;
    channel.on("disconnect", () => (disconnected = true));
    end.deliver(message(5, { wsgateHandover: 1, kind: "taken", id: 7 }, { seq: 1 }));
    assert.deepEqual(heard, [{ wsgateHandover: 1, kind: "taken", id: 7 }, ["confirm"]]);
    assert.equal(channel.connected, true);
    end.deliver({ [RELAY_TAG]: 1, lane: 5, kind: "end", reason: "the new worker exited", originGone: false });
    assert.equal(disconnected, true);
    assert.equal(channel.connected, false);
    relay.close();
  });

  it("a primary routes lane k to worker k mod n, and a hop that dies ends its lanes both ways", async () => {
    const origin = new FakeEnd();
    const workers = [new FakeEnd(), new FakeEnd()];
    const hub = new RelayHub({
      log,
      route: (lane) => {
        const worker = workers[lane % workers.length] as FakeEnd;
        return { end: worker, child: worker as unknown as ChildProcess, name: `worker ${lane % 2}` };
      },
    });
    hub.addOrigin(origin, "old primary");
    const handle = new FakeHandle();
    origin.deliver(message(1, "lane 1, part 1"), handle);
    origin.deliver(message(2, "lane 2, part 1"));
    await tick();
    assert.equal(workers[1]?.sent[0]?.handle, handle);
    assert.equal(handle.closed, 1, "the primary's copy closes once forwarded");
    assert.equal((workers[0]?.sent[0]?.message as { message: unknown }).message, "lane 2, part 1");
    // An answer goes back up the lane it belongs to.
    workers[1]?.deliver(message(1, "answer", { seq: 1 }));
    await tick();
    assert.equal((origin.sent[0]?.message as { message: unknown }).message, "answer");
    // Worker 1 dies: lane 1 ends towards the old side; lane 2 goes on.
    workers[1]?.die();
    await tick();
    assert.deepEqual(origin.sent[1]?.message, {
      [RELAY_TAG]: 1,
      lane: 1,
      kind: "end",
      reason: "the worker 1's channel closed",
      originGone: false,
    });
    assert.equal(hub.activeLanes, 1);
    // The old side's `done` ends lane 2 cleanly.
    const idle = hub.idle(5000);
    origin.deliver(message(2, "done", { last: true }));
    assert.equal(await idle, true);
    assert.equal(hub.activeLanes, 0);
    hub.close();
  });

  it("leaves the cluster's own messages alone, handles included, and drops what is not a whole envelope", async () => {
    const end = new FakeEnd();
    const relay = new WorkerRelay(end);
    const lanes: number[] = [];
    relay.acceptSessions((_channel, lane) => lanes.push(lane));
    const hubOrigin = new FakeEnd();
    const taker = new FakeEnd();
    const hub = new RelayHub({ log, route: () => ({ end: taker, name: "taker" }) });
    hub.addOrigin(hubOrigin, "origin");
    const handle = new FakeHandle();
    const foreign: unknown[] = [
      { type: "apply", seq: 1, objects: [] },
      { wsgateUpgrade: "listener", role: "server" },
      { [RELAY_TAG]: 1, lane: "0", kind: "message", message: {} },
      { [RELAY_TAG]: 1, lane: 1.5, kind: "message", message: {} },
      { [RELAY_TAG]: 1, lane: 0, kind: "confirm" },
      { [RELAY_TAG]: 1, lane: 0, kind: "end", reason: "x" },
      { [RELAY_TAG]: 2, lane: 0, kind: "message", message: {} },
      { [RELAY_TAG]: 1, lane: 0, kind: "other" },
    ];
    for (const one of foreign) {
      end.emit("message", one, handle);
      hubOrigin.emit("message", one, handle);
    }
    await tick();
    assert.deepEqual(lanes, []);
    assert.equal(taker.sent.length + end.sent.length + hubOrigin.sent.length, 0);
    assert.equal(handle.closed, 0, "a handle sent with someone else's message is theirs");
    assert.equal(hub.activeLanes, 0);
    hub.close();
    relay.close();
  });

  it("an old worker that exits ends its lane towards the new worker with originGone", async () => {
    const workerEnd = new FakeEnd();
    const successor = new FakeEnd();
    const hub = new RelayHub({
      log,
      route: () => ({ end: successor, child: successor as unknown as ChildProcess, name: "new primary" }),
    });
    hub.addOrigin(workerEnd, "old worker", workerEnd as unknown as ChildProcess);
    workerEnd.deliver(message(4, "part"));
    await tick();
    workerEnd.die();
    await tick();
    const last = successor.sent.at(-1)?.message as { kind: string; originGone: boolean };
    assert.equal(last.kind, "end");
    assert.equal(last.originGone, true);
    hub.close();
  });
});
