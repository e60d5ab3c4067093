// The primary's pure parts: merging the workers' status views, counting workers, waiting for acknowledgements.
import assert from "node:assert/strict";
import { availableParallelism } from "node:os";
import { describe, it } from "node:test";
import { ApplyTracker } from "../../src/cluster/apply-tracker.js";
import { InvalidWorkerCountError } from "../../src/cluster/errors.js";
import { mergeStatus } from "../../src/cluster/merge-status.js";
import { parseWorkerCount } from "../../src/cluster/worker-count.js";
import type { StatusView } from "../../src/control/control.js";
import type { PoolStatus, ServerStatus } from "../../src/upstream/status.js";

function server(url: string, activeConnections: number, state: ServerStatus["state"] = "healthy"): ServerStatus {
  return {
    url,
    backend: url.replace("ws://", ""),
    weight: 1,
    tags: [],
    state,
    eligible: state === "healthy",
    activeConnections,
    since: "2026-01-01T00:00:00.000Z",
    reason: "",
    passive: { consecutiveFailures: 0, ejections: 0 },
  };
}

function pool(label: string, servers: ServerStatus[], available = true): PoolStatus {
  return { pool: label, main: true, policy: "roundRobin", healthCheck: false, available, servers };
}

function view(pools: PoolStatus[], sessions: number, lastApplyError?: string): StatusView {
  return {
    listeners: [{ server: "s", address: "127.0.0.1", port: 8080, endpoint: "127.0.0.1:8080" }],
    pools,
    sessions,
    ...(lastApplyError === undefined ? {} : { lastApplyError }),
  };
}

describe("mergeStatus", () => {
  it("sums sessions and each server's connections per pool label; listeners once; state from the first worker", () => {
    const merged = mergeStatus([
      view([pool("p/f/pools[0]", [server("ws://a:1", 3), server("ws://b:1", 1, "ejected")], false)], 4),
      view([pool("p/f/pools[0]", [server("ws://a:1", 2), server("ws://b:1", 5)])], 7, "port in use"),
    ]);
    assert.equal(merged.sessions, 11);
    assert.equal(merged.listeners.length, 1);
    assert.equal(merged.lastApplyError, "port in use");
    assert.equal(merged.pools.length, 1);
    const [only] = merged.pools;
    assert.equal(only?.available, true, "available when any worker can use it");
    assert.deepEqual(
      only?.servers.map((entry) => [entry.url, entry.activeConnections, entry.state]),
      [
        ["ws://a:1", 5, "healthy"],
        ["ws://b:1", 6, "ejected"],
      ],
    );
  });

  it("does not change the workers' views", () => {
    const first = view([pool("p", [server("ws://a:1", 3)])], 3);
    mergeStatus([first, view([pool("p", [server("ws://a:1", 2)])], 2)]);
    assert.equal(first.pools[0]?.servers[0]?.activeConnections, 3);
  });

  it("no workers: an empty gateway", () => {
    assert.deepEqual(mergeStatus([]), { listeners: [], pools: [], sessions: 0 });
  });
});

describe("parseWorkerCount", () => {
  it("takes positive whole numbers and auto", () => {
    assert.equal(parseWorkerCount("1"), 1);
    assert.equal(parseWorkerCount("4"), 4);
    assert.equal(parseWorkerCount(3), 3);
    assert.equal(parseWorkerCount("auto"), availableParallelism());
  });

  it("refuses anything else by name", () => {
    for (const bad of ["0", "-1", "1.5", "two", "", 0, 2.5]) {
      assert.throws(() => parseWorkerCount(bad), InvalidWorkerCountError, String(bad));
    }
  });
});

describe("ApplyTracker", () => {
  const applied = (seq: number, error?: string) => ({
    type: "applied" as const,
    seq,
    listeners: [],
    ...(error === undefined ? {} : { error }),
  });

  it("settles when every live worker acknowledged the change, with the first error", async () => {
    let live = [1, 2];
    const tracker = new ApplyTracker(() => live);
    const settled = tracker.until(2, 5000);
    tracker.acknowledged(1, applied(2));
    tracker.acknowledged(2, applied(1));
    tracker.acknowledged(2, applied(2, "bad"));
    assert.equal(await settled, "bad");
    live = [1];
    tracker.workerGone(2);
    assert.equal(await tracker.until(2, 5000), undefined);
  });

  it("a worker that dies does not hold the wait; one that hangs times out with its id", async () => {
    let live = [1, 2];
    const tracker = new ApplyTracker(() => live);
    const waiting = tracker.until(1, 5000);
    tracker.acknowledged(1, applied(1));
    live = [1];
    tracker.workerGone(2);
    assert.equal(await waiting, undefined);
    live = [1, 3];
    assert.match((await tracker.until(1, 50)) ?? "", /worker\(s\) 3 did not apply change 1/);
  });

  it("waits for the minimum number of workers to be up", async () => {
    let live: number[] = [];
    const tracker = new ApplyTracker(() => live);
    let done = false;
    const waiting = tracker.until(1, 5000, 2).then((error) => ((done = true), error));
    live = [1];
    tracker.acknowledged(1, applied(1));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(done, false);
    live = [1, 2];
    tracker.acknowledged(2, applied(1));
    assert.equal(await waiting, undefined);
  });
});
