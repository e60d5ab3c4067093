// Unit: the dashboard's sampler reads the gateway once a second only while a page watches, hands every page the same
// sample, keeps the history a new page starts from, and lists the cluster's members when there is a cluster.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DashboardFeed, type DashboardState, type RateSample } from "../../../src/admin/dashboard/feed.js";
import type { GatewayControl, SessionView } from "../../../src/control/control.js";
import type { MemberInfo } from "../../../src/control/membership.js";
import { MemoryObjectStore } from "../../../src/control/memory-store.js";
import { withTimeout } from "../../helpers/net.js";

function session(id: string, backend: string): SessionView {
  return {
    id,
    server: "edge",
    route: "*/ws",
    pipeline: "echo",
    backend,
    client: "127.0.0.1:5000",
    clientIp: "127.0.0.1",
    startedAt: new Date().toISOString(),
    ageMs: 0,
    clientMessages: 0,
    clientBytes: 0,
    backendMessages: 0,
    backendBytes: 0,
  };
}

/** A control whose messages counter grows by 10 on every read, and counts the reads. */
function countingControl(): GatewayControl & { reads: number } {
  const control = {
    reads: 0,
    store: new MemoryObjectStore([{ kind: "HTTPServer", name: "edge", data: { port: 1, rules: [] } }]),
    settled: () => Promise.resolve(undefined),
    status: () => Promise.resolve({ listeners: [], pools: [], sessions: 2 }),
    sessions: () => Promise.resolve([session("1", "a:1"), session("2", "a:1")]),
    closeSession: () => Promise.resolve(false),
    drainServer: () => Promise.resolve([]),
    metrics: () => {
      control.reads += 1;
      const body =
        `wsgate_websocket_messages_total{server="edge",route="*/ws",backend="a:1",direction="client_to_backend"} ` +
        `${control.reads * 10}\n`;
      return Promise.resolve({ contentType: "text/plain", body });
    },
  };
  return control;
}

interface Seen {
  history: RateSample[][];
  samples: Array<{ sample: RateSample; state: DashboardState }>;
}

function subscriber(seen: Seen): {
  history(s: readonly RateSample[]): void;
  sample(s: RateSample, st: DashboardState): void;
} {
  return {
    history: (samples) => seen.history.push([...samples]),
    sample: (sample, state) => seen.samples.push({ sample, state }),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("dashboard feed", () => {
  it("samples only while subscribed, and gives every page the same samples and the history", async () => {
    const control = countingControl();
    const member: MemberInfo = { id: "m1", address: "10.0.0.1", version: "0.1.0", startedAt: "", sessions: 2 };
    const feed = new DashboardFeed(control, undefined, { listMembers: () => Promise.resolve([member]) });
    await sleep(1200);
    assert.equal(control.reads, 0, "no page, no reads");
    const first: Seen = { history: [], samples: [] };
    const unsubscribe = feed.subscribe(subscriber(first));
    await withTimeout(
      (async () => {
        while (first.samples.length < 2) await sleep(50);
      })(),
      5000,
      "two samples",
    );
    const { sample, state } = first.samples[1] ?? assert.fail("no sample");
    assert.ok(sample.messagesIn > 5 && sample.messagesIn < 20, `about 10 a second, got ${sample.messagesIn}`);
    assert.equal(state.sessionCount, 2);
    assert.deepEqual(state.counts.backends, { "a:1": 2 });
    assert.deepEqual(state.objects, [{ name: "edge", kind: "HTTPServer", revision: 1 }]);
    assert.deepEqual(state.members, { members: [member] });
    const second: Seen = { history: [], samples: [] };
    const unsubscribeSecond = feed.subscribe(subscriber(second));
    assert.ok((second.history[0]?.length ?? 0) >= 2, "a new page starts from the history");
    unsubscribe();
    unsubscribeSecond();
    const reads = control.reads;
    await sleep(1200);
    assert.equal(control.reads, reads, "the last page gone, no more reads");
  });
});
