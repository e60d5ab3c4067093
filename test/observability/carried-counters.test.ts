// Unit tests of the counters carried across `wsgate upgrade`: what the old process's snapshot holds (every counter
// family but the process's own; the moved sessions' relayed totals left out, their relays count on), and how the new
// process serves its own counts plus the carried ones (same label set added, a removed series gone, reads held until
// the snapshot comes).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  counterSnapshotOf,
  mergeCounterSnapshots,
  type CounterSnapshot,
} from "../../src/observability/carried-counters.js";
import { GatewayMetrics, NO_POOLS } from "../../src/observability/metrics.js";
import type { LiveSession } from "../../src/observability/sessions.js";

function session(id: number, messages: number): LiveSession {
  const totals = { fromClient: { messages, bytes: messages * 10 }, fromBackend: { messages, bytes: messages * 10 } };
  return {
    id,
    server: "edge",
    route: "*/ws",
    pipeline: "p",
    backend: "127.0.0.1:9000",
    client: "127.0.0.1:1",
    clientIp: "127.0.0.1",
    startedAt: Date.now(),
    origin: { pipelineInstance: 0, routeKey: "r", filter: "proxy", poolIndex: 0, backendUrl: "", drainWindow: 0 },
    totals: () => totals,
    close: () => undefined,
    terminate: () => undefined,
  };
}

function family(snapshot: CounterSnapshot, name: string): CounterSnapshot[number]["series"] {
  return snapshot.find((entry) => entry.name === name)?.series ?? [];
}

async function sample(metrics: GatewayMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  assert.ok(metric, name);
  const { values } = await metric.get();
  const found = values.find((entry) =>
    Object.entries(labels).every(([key, text]) => String(entry.labels[key]) === text),
  );
  return found?.value ?? 0;
}

const EDGE = { server: "edge", route: "*/ws" };
const MESSAGES = { ...EDGE, backend: "127.0.0.1:9000", direction: "client_to_backend" };

describe("counters carried across an upgrade", () => {
  it("the snapshot has every counter family but the process's own, without what moved sessions relayed", async () => {
    const metrics = new GatewayMetrics(NO_POOLS);
    metrics.handshakeAnswered(EDGE, 101, 0.01);
    metrics.handshakeAnswered(EDGE, 101, 0.01);
    const ended = session(1, 5);
    const moved = session(2, 7);
    const kept = session(3, 11);
    for (const live of [ended, moved, kept]) metrics.sessionStarted(live);
    metrics.sessionEnded(ended, { ...ended.totals(), closedBy: "client", closeCode: 1000, durationMs: 5 });
    metrics.sessionMovedOut(moved, moved.totals());
    metrics.configReloaded("applied");

    const snapshot = await metrics.counterSnapshot();
    const names = snapshot.map((entry) => entry.name);
    assert.ok(!names.some((name) => name.startsWith("wsgate_process_")), names.join());
    assert.ok(!names.includes("wsgate_websocket_sessions_active"), "no gauge");
    assert.deepEqual(
      family(snapshot, "wsgate_websocket_messages_total").find(
        (entry) => entry.labels["direction"] === "client_to_backend",
      )?.value,
      5 + 11,
      "the ended and the kept session's messages; the moved one's go with it",
    );
    assert.equal(family(snapshot, "wsgate_websocket_handshakes_total")[0]?.value, 2);
    assert.equal(family(snapshot, "wsgate_websocket_closes_total")[0]?.value, 1);
    assert.equal(family(snapshot, "wsgate_config_reloads_total")[0]?.value, 1);
    // Its own /metrics still counts what the moved session relayed here.
    assert.equal(await sample(metrics, "wsgate_websocket_messages_total", MESSAGES), 5 + 7 + 11);
  });

  it("the new process serves its own counts plus the carried ones, series by series", async () => {
    const old = new GatewayMetrics(NO_POOLS, { processMetrics: false });
    old.handshakeAnswered(EDGE, 101, 0.01);
    old.handshakeRefused("edge", "*/ws", "route_not_found");
    const kept = session(1, 4);
    old.sessionStarted(kept);
    const snapshot = counterSnapshotOf(JSON.parse(JSON.stringify(await old.counterSnapshot())));

    const metrics = new GatewayMetrics(NO_POOLS, { processMetrics: false });
    metrics.carryFrom(Promise.resolve(snapshot), 10_000);
    metrics.handshakeAnswered(EDGE, 101, 0.01);
    const resumed = session(2, 3);
    metrics.sessionStarted(resumed);
    const handshakes = { ...EDGE, result: "accepted", status: "101" };
    assert.equal(await sample(metrics, "wsgate_websocket_handshakes_total", handshakes), 2);
    // Read twice: a family that counts on its own state must not add the carried value again.
    assert.equal(await sample(metrics, "wsgate_websocket_handshakes_total", handshakes), 2);
    assert.equal(await sample(metrics, "wsgate_websocket_handshake_refusals_total", { reason: "route_not_found" }), 1);
    assert.equal(await sample(metrics, "wsgate_websocket_messages_total", MESSAGES), 4 + 3);
    assert.equal(await sample(metrics, "wsgate_websocket_messages_total", MESSAGES), 4 + 3);
    assert.equal(metrics.relayedTotals().fromClient.messages, 4 + 3, "the dashboard's sums go on too");
    const exposition = (await metrics.exposition()).body;
    assert.match(exposition, /wsgate_websocket_handshake_refusals_total\{[^}]*reason="route_not_found"[^}]*\} 1/);

    // A reload that removes the server removes its carried series too.
    await metrics.keepOnly({ servers: new Set(["other"]), routes: new Set(), pools: new Set() });
    assert.equal(await sample(metrics, "wsgate_websocket_handshake_refusals_total", { reason: "route_not_found" }), 0);
  });

  it("drops carried series whose labels this build's family does not have, and snapshots not understood", async () => {
    const metrics = new GatewayMetrics(NO_POOLS, { processMetrics: false });
    metrics.carryFrom(
      Promise.resolve([
        { name: "wsgate_config_reloads_total", series: [{ labels: { result: "applied" }, value: 3 }] },
        { name: "wsgate_config_reloads_total", series: [{ labels: { outcome: "applied" }, value: 9 }] },
        { name: "wsgate_no_such_family_total", series: [{ labels: {}, value: 9 }] },
      ]),
      10_000,
    );
    const { values } = await metrics.registry.getSingleMetric("wsgate_config_reloads_total")!.get();
    assert.deepEqual(
      values.map((entry) => [entry.labels, entry.value]),
      [
        [{ result: "applied" }, 3],
        [{ result: "rejected" }, 0],
      ],
    );
    assert.deepEqual(counterSnapshotOf("nonsense"), []);
    assert.deepEqual(counterSnapshotOf([{ name: "x", series: [{ labels: {}, value: -1 }, { value: 2 }] }]), [
      { name: "x", series: [] },
    ]);
  });

  it("holds reads until the snapshot comes, at most the hold", async () => {
    const metrics = new GatewayMetrics(NO_POOLS, { processMetrics: false });
    let deliver: (snapshot: CounterSnapshot | undefined) => void = () => undefined;
    metrics.carryFrom(new Promise((resolve) => (deliver = resolve)), 10_000);
    // The hold's timer does not keep a process alive; this test's does.
    const alive = setTimeout(() => undefined, 5_000);
    let read: number | undefined;
    const reading = sample(metrics, "wsgate_config_reloads_total", { result: "applied" }).then(
      (value) => (read = value),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(read, undefined, "the read waits for the predecessor's totals");
    deliver([{ name: "wsgate_config_reloads_total", series: [{ labels: { result: "applied" }, value: 2 }] }]);
    await reading;
    assert.equal(read, 2);

    const alone = new GatewayMetrics(NO_POOLS, { processMetrics: false });
    alone.carryFrom(new Promise(() => undefined), 100);
    const started = performance.now();
    assert.equal(await sample(alone, "wsgate_config_reloads_total", { result: "applied" }), 0);
    assert.ok(performance.now() - started >= 90, "held until the hold ran out");
    clearTimeout(alive);
  });
  it("merges several processes' snapshots (a cluster's workers and primary) into one, series by series", () => {
    const a = { a: "1" };
    const b = { a: "2" };
    const merged = mergeCounterSnapshots([
      [{ name: "x_total", series: [{ labels: a, value: 2 }] }],
      [
        {
          name: "x_total",
          series: [
            { labels: { ...a }, value: 3 },
            { labels: b, value: 1 },
          ],
        },
        { name: "y_total", series: [{ labels: {}, value: 7 }] },
      ],
      [],
    ]);
    assert.deepEqual(merged, [
      {
        name: "x_total",
        series: [
          { labels: a, value: 5 },
          { labels: b, value: 1 },
        ],
      },
      { name: "y_total", series: [{ labels: {}, value: 7 }] },
    ]);
    assert.deepEqual(mergeCounterSnapshots([]), []);
  });
});
