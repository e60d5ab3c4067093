// Unit: the label vocabulary (`server` is always an HTTPServer, `backend` always an upstream "host:port"), the
// build and reload families, and series of deleted servers, routes and pools leaving /metrics after a reload.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GatewayMetrics } from "../../src/observability/metrics.js";
import type { LiveSession } from "../../src/observability/sessions.js";
import { UpstreamStatusRegistry } from "../../src/upstream/status.js";

function session(id: number, server: string, route: string): LiveSession {
  const totals = { fromClient: { messages: 1, bytes: 10 }, fromBackend: { messages: 1, bytes: 10 } };
  return {
    id,
    server,
    route,
    pipeline: "p",
    backend: "127.0.0.1:9000",
    client: "127.0.0.1:1",
    clientIp: "127.0.0.1",
    startedAt: Date.now(),
    origin: { pipelineInstance: 0, routeKey: route, filter: "proxy", poolIndex: 0, backendUrl: "", drainWindow: 0 },
    totals: () => totals,
    close: () => undefined,
    terminate: () => undefined,
  };
}

/** Every series of the exposition as `name{labels}`, without the values. */
async function seriesOf(metrics: GatewayMetrics): Promise<string[]> {
  const { body } = await metrics.exposition();
  return body
    .split("\n")
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => line.split(" ")[0] ?? "");
}

/** Traffic on two servers, two routes of "keep", and a failing pool of each of two pipelines. */
function withTraffic(): GatewayMetrics {
  const metrics = new GatewayMetrics(new UpstreamStatusRegistry(), {
    processMetrics: false,
    build: { version: "9.9.9" },
  });
  let id = 1;
  for (const [server, route] of [
    ["keep", "*/a"],
    ["keep", "*/gone-route"],
    ["gone-server", "*/a"],
  ] as const) {
    const one = session(id++, server, route);
    metrics.handshakeAnswered({ server, route }, 101, 0.001);
    metrics.sessionStarted(one);
    metrics.sessionEnded(one, { ...one.totals(), closedBy: "client", closeCode: 1000 });
    metrics.httpRequestEnded({ server, route, method: "GET" }, 200, 0.001);
  }
  metrics.httpRequestEnded({ server: "keep", route: "none", method: "GET" }, 404, 0.001);
  metrics.upstreamConnectFailed("p/proxy/pools[0]", "127.0.0.1:9000", "refused");
  metrics.upstreamConnectFailed("gone/proxy/pools[0]", "127.0.0.1:9001", "refused");
  return metrics;
}

describe("metric families", () => {
  it("wsgate_build_info is 1 with the version and Node.js version", async () => {
    const series = await seriesOf(withTraffic());
    assert.ok(series.includes(`wsgate_build_info{version="9.9.9",node="${process.versions.node}"}`), series.join("\n"));
  });

  it("wsgate_config_reloads_total counts applied and rejected, both present from the start", async () => {
    const metrics = withTraffic();
    const { body: before } = await metrics.exposition();
    assert.match(before, /^wsgate_config_reloads_total\{result="applied"\} 0$/m);
    assert.match(before, /^wsgate_config_reloads_total\{result="rejected"\} 0$/m);
    metrics.configReloaded("applied");
    metrics.configReloaded("rejected");
    metrics.configReloaded("rejected");
    const { body } = await metrics.exposition();
    assert.match(body, /^wsgate_config_reloads_total\{result="applied"\} 1$/m);
    assert.match(body, /^wsgate_config_reloads_total\{result="rejected"\} 2$/m);
  });

  it("`server` labels only HTTPServers and `backend` only upstream servers, in every family", async () => {
    const metrics = new GatewayMetrics(new UpstreamStatusRegistry(), { processMetrics: false });
    const { body } = await metrics.exposition();
    for (const line of body.split("\n").filter((text) => text.startsWith("# HELP wsgate_upstream"))) {
      assert.doesNotMatch(line, /HTTPServer/);
    }
    const series = await seriesOf(withTraffic());
    for (const entry of series) {
      const server = /[{,]server="([^"]*)"/.exec(entry)?.[1];
      if (server !== undefined) assert.ok(["keep", "gone-server"].includes(server), entry);
      const backend = /[{,]backend="([^"]*)"/.exec(entry)?.[1];
      if (backend !== undefined) assert.match(backend, /^127\.0\.0\.1:\d+$/, entry);
    }
  });

  it("a reload removes the series of deleted servers, routes and pools and keeps the rest", async () => {
    const metrics = withTraffic();
    const before = await seriesOf(metrics);
    for (const gone of ['server="gone-server"', 'route="*/gone-route"', 'pool="gone/proxy/pools[0]"']) {
      assert.ok(
        before.some((entry) => entry.includes(gone)),
        `before: ${gone}`,
      );
    }
    await metrics.keepOnly({
      servers: new Set(["keep"]),
      routes: new Set(["keep\u0000*/a"]),
      pools: new Set(["p/proxy/pools[0]"]),
    });
    const after = await seriesOf(metrics);
    for (const gone of ['server="gone-server"', 'route="*/gone-route"', 'pool="gone/proxy/pools[0]"']) {
      assert.deepEqual(
        after.filter((entry) => entry.includes(gone)),
        [],
        `after: ${gone}`,
      );
    }
    for (const kept of [
      'wsgate_websocket_handshakes_total{server="keep",route="*/a"',
      'wsgate_websocket_messages_total{server="keep",route="*/a"',
      'wsgate_websocket_closes_total{server="keep"',
      'wsgate_http_requests_total{server="keep",route="none"',
      'wsgate_http_request_duration_seconds_count{server="keep",route="*/a"',
      'wsgate_upstream_connect_errors_total{pool="p/proxy/pools[0]"',
      "wsgate_build_info",
    ]) {
      assert.ok(
        after.some((entry) => entry.startsWith(kept)),
        `kept: ${kept}\n${after.join("\n")}`,
      );
    }
  });
});
