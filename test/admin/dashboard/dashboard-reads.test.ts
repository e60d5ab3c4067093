// The dashboard's cheap reads of one gateway (LocalControl.sessionSummary and chartTotals), through a real gateway
// with real WebSocket sessions on two HTTPServers, two routes and two backends: they give the page exactly what the
// full reads did (every session's view counted, the whole exposition parsed), without building either.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { CHARTED_COUNTERS, chartMetricTotals, metricTotals } from "../../../src/admin/dashboard/metric-totals.js";
import { loadConfigText } from "../../../src/config/load.js";
import type { SessionView } from "../../../src/control/control.js";
import { LocalControl } from "../../../src/control/local-control.js";
import { MemoryObjectStore } from "../../../src/control/memory-store.js";
import { Gateway } from "../../../src/gateway.js";
import { createLogger } from "../../../src/observability/logger.js";
import { startBackend, type TestBackend } from "../../helpers/backends.js";
import { freePort, refusal, waitUntil, withTimeout } from "../../helpers/net.js";

function pipeline(name: string, backendPort: number): string {
  return `---
kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backendPort}
`;
}

function config(edge: number, side: number, one: number, two: number): string {
  return `kind: HTTPServer
name: edge
port: ${edge}
address: 127.0.0.1
rules:
  - paths:
      - path: /a
        backend: one
      - path: /b
        backend: two
---
kind: HTTPServer
name: side
port: ${side}
address: 127.0.0.1
rules:
  - paths:
      - path: /a
        backend: one
${pipeline("one", one)}${pipeline("two", two)}`;
}

function countBy(sessions: readonly SessionView[], key: (session: SessionView) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const session of sessions) counts[key(session)] = (counts[key(session)] ?? 0) + 1;
  return counts;
}

async function open(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  socket.on("error", () => undefined);
  await withTimeout(new Promise((resolve) => socket.once("open", resolve)), 5000, `a client of ${url}`);
  // One echo each way, so the relayed totals are not all zero.
  socket.send("hello");
  await withTimeout(new Promise((resolve) => socket.once("message", resolve)), 5000, `an echo on ${url}`);
  return socket;
}

describe("the dashboard's cheap reads of one gateway", () => {
  let backends: TestBackend[];
  let gateway: Gateway;
  let control: LocalControl;
  const clients: WebSocket[] = [];

  before(async () => {
    backends = [await startBackend(), await startBackend()];
    const [edge, side] = [await freePort(), await freePort()];
    const loaded = loadConfigText(config(edge, side, backends[0]!.port, backends[1]!.port), "reads.yaml");
    assert.ok(loaded.ok);
    const log = createLogger("error");
    gateway = await Gateway.start(loaded.config, log);
    control = new LocalControl(new MemoryObjectStore(loaded.config.objects), gateway, log);
    for (const url of [
      ...Array.from({ length: 3 }, () => `ws://127.0.0.1:${edge}/a`),
      ...Array.from({ length: 2 }, () => `ws://127.0.0.1:${edge}/b`),
      `ws://127.0.0.1:${side}/a`,
    ]) {
      clients.push(await open(url));
    }
    // An ended session (its totals move to the ended ones, its close is counted) and a refused handshake.
    const ended = await open(`ws://127.0.0.1:${edge}/b`);
    ended.close(4001, "done");
    await waitUntil(() => (gateway.sessions.size === 6 ? true : undefined), 5000, "the ended session to go");
    assert.equal(await refusal(`ws://127.0.0.1:${edge}/nowhere`), 404);
  });

  after(async () => {
    for (const client of clients) client.terminate();
    await gateway.stop(0);
    for (const backend of backends) await backend.close();
  });

  it("counts sessions per server, route and backend as the full list does, and views only the first rows", async () => {
    const all = await control.sessions();
    const summary = await control.sessionSummary(4);
    assert.equal(summary.count, 6);
    assert.deepEqual(summary.counts, {
      servers: countBy(all, (session) => session.server),
      routes: countBy(all, (session) => `${session.server} ${session.route}`),
      backends: countBy(all, (session) => session.backend),
    });
    assert.deepEqual(summary.counts.servers, { edge: 5, side: 1 });
    assert.equal(Object.keys(summary.counts.backends).length, 2);
    assert.deepEqual(
      summary.first.map((session) => session.id),
      all.slice(0, 4).map((session) => session.id),
    );
    assert.equal((await control.sessionSummary(100)).first.length, 6);
  });

  it("gives the charts the totals the exposition has, without rendering it", async () => {
    const fromText = metricTotals((await control.metrics()).body);
    const fromValues = chartMetricTotals(await control.chartTotals(CHARTED_COUNTERS));
    assert.deepEqual(fromValues, fromText);
    // Seven sessions echoed one message each; one closed with 4001; one handshake refused as route_not_found.
    assert.equal(fromValues.messagesIn, 7);
    assert.equal(fromValues.messagesOut, 7);
    assert.ok(fromValues.bytesIn > 0 && fromValues.bytesOut > 0);
    assert.equal(fromValues.handshakes["accepted"], 7);
    assert.equal(fromValues.refusals["404"], 1);
    assert.equal(fromValues.refusalReasons["route_not_found"], 1);
    assert.equal(fromValues.closes["4001"], 1);
  });
});
