// Unit tests of the scrape-time collectors and the label vocabularies: sessions counted from their live totals plus
// those of ended ones, health read from the pools, bounded upstream failure reasons, access lines' field selection.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { UpstreamConnectError, UpstreamDialTimeoutError, UpstreamHandshakeError } from "../../src/errors.js";
import { UpstreamNoAnswerError } from "../../src/filters/proxy/errors.js";
import { AccessLog } from "../../src/observability/access-log.js";
import { GatewayMetrics, handshakeResultOf } from "../../src/observability/metrics.js";
import type { LiveSession } from "../../src/observability/sessions.js";
import { upstreamFailureReason } from "../../src/observability/upstream-failure-reason.js";
import { UpstreamStatusRegistry, type PoolStatus, type ServerStatus } from "../../src/upstream/status.js";
import { UpstreamTlsError } from "../../src/errors.js";

interface FakeSession extends LiveSession {
  relayed: { fromClient: { messages: number; bytes: number }; fromBackend: { messages: number; bytes: number } };
}

let nextId = 1;
function fakeSession(route = "rules[0].paths[0]", backend = "127.0.0.1:9000"): FakeSession {
  const relayed = { fromClient: { messages: 0, bytes: 0 }, fromBackend: { messages: 0, bytes: 0 } };
  return {
    id: nextId++,
    server: "unit",
    route,
    pipeline: "p",
    backend,
    client: "127.0.0.1:1",
    clientIp: "127.0.0.1",
    startedAt: Date.now(),
    origin: { pipelineInstance: 0, routeKey: route, filter: "proxy", poolIndex: 0, backendUrl: "", drainWindow: 0 },
    relayed,
    totals: () => ({ fromClient: { ...relayed.fromClient }, fromBackend: { ...relayed.fromBackend } }),
    close: () => undefined,
    terminate: () => undefined,
  };
}

async function value(metrics: GatewayMetrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  assert.ok(metric, name);
  const data = await metric.get();
  const found = data.values.filter((sample) =>
    Object.entries(labels).every(([key, want]) => String(sample.labels[key]) === want),
  );
  return found.reduce((sum, sample) => sum + sample.value, 0);
}

function end(session: FakeSession, closedBy: "client" | "backend" | "gateway" = "client") {
  return { ...session.totals(), closedBy, closeCode: 1000 };
}

describe("session collectors", () => {
  it("count live sessions and their totals at scrape time, and keep the totals of ended ones", async () => {
    const metrics = new GatewayMetrics(new UpstreamStatusRegistry(), { processMetrics: false });
    const labels = { server: "unit", route: "rules[0].paths[0]", backend: "127.0.0.1:9000" };
    const toBackend = { ...labels, direction: "client_to_backend" };
    const toClient = { ...labels, direction: "backend_to_client" };
    const a = fakeSession();
    const b = fakeSession();
    metrics.sessionStarted(a);
    metrics.sessionStarted(b);
    assert.equal(await value(metrics, "wsgate_websocket_sessions_active", labels), 2);

    a.relayed.fromClient = { messages: 3, bytes: 30 };
    b.relayed.fromBackend = { messages: 5, bytes: 50 };
    assert.equal(await value(metrics, "wsgate_websocket_messages_total", toBackend), 3);
    assert.equal(await value(metrics, "wsgate_websocket_messages_total", toClient), 5);

    a.relayed.fromClient = { messages: 4, bytes: 42 };
    metrics.sessionEnded(a, end(a));
    // Ending twice (or a session never started here) counts nothing more.
    metrics.sessionEnded(a, end(a));
    assert.equal(await value(metrics, "wsgate_websocket_sessions_active", labels), 1);
    assert.equal(await value(metrics, "wsgate_websocket_messages_total", toBackend), 4);
    assert.equal(await value(metrics, "wsgate_websocket_bytes_total", toBackend), 42);
    assert.equal(await value(metrics, "wsgate_websocket_closes_total", { side: "client", code: "1000" }), 1);

    metrics.sessionEnded(b, end(b, "backend"));
    assert.equal(await value(metrics, "wsgate_websocket_sessions_active", labels), 0);
    assert.match(await metrics.registry.metrics(), /wsgate_websocket_sessions_active\{[^}]*\} 0/);
    assert.equal(await value(metrics, "wsgate_websocket_messages_total", toClient), 5);
    assert.equal(await value(metrics, "wsgate_websocket_bytes_total", toClient), 50);
  });

  it("keeps label sets apart by route and backend", async () => {
    const metrics = new GatewayMetrics(new UpstreamStatusRegistry(), { processMetrics: false });
    metrics.sessionStarted(fakeSession("rules[0].paths[0]", "a:1"));
    metrics.sessionStarted(fakeSession("rules[0].paths[1]", "a:1"));
    metrics.sessionStarted(fakeSession("rules[0].paths[1]", "b:2"));
    assert.equal(await value(metrics, "wsgate_websocket_sessions_active", { route: "rules[0].paths[1]" }), 2);
    assert.equal(await value(metrics, "wsgate_websocket_sessions_active", { backend: "a:1" }), 2);
  });
});

describe("upstream collectors", () => {
  it("read each server's health and live connections from the pools at scrape time", async () => {
    const status = new UpstreamStatusRegistry();
    const server = (backend: string, eligible: boolean, activeConnections: number): ServerStatus => ({
      url: `ws://${backend}`,
      backend,
      weight: 1,
      tags: [],
      state: eligible ? "healthy" : "unhealthy",
      eligible,
      activeConnections,
      since: new Date().toISOString(),
      reason: "",
      passive: { consecutiveFailures: 0, ejections: 0 },
    });
    const pool: PoolStatus = {
      pool: "p/f/pools[0]",
      main: true,
      policy: "roundRobin",
      healthCheck: true,
      available: true,
      servers: [server("a:1", true, 3), server("b:2", false, 0)],
    };
    const source = { status: () => pool };
    status.add(source);
    const metrics = new GatewayMetrics(status, { processMetrics: false });
    assert.equal(await value(metrics, "wsgate_upstream_server_healthy", { pool: "p/f/pools[0]", backend: "a:1" }), 1);
    assert.equal(await value(metrics, "wsgate_upstream_server_healthy", { pool: "p/f/pools[0]", backend: "b:2" }), 0);
    assert.equal(await value(metrics, "wsgate_upstream_server_active_connections", { backend: "a:1" }), 3);
    status.delete(source);
    assert.equal((await metrics.registry.getSingleMetric("wsgate_upstream_server_healthy")?.get())?.values.length, 0);
  });

  it("name failure reasons from a fixed vocabulary", () => {
    assert.equal(upstreamFailureReason(new UpstreamConnectError("a:1", "ECONNREFUSED")), "connection_refused");
    assert.equal(upstreamFailureReason(new UpstreamConnectError("a:1", "connection refused")), "connection_refused");
    assert.equal(upstreamFailureReason(new UpstreamConnectError("a:1", "EHOSTUNREACH")), "host_unreachable");
    assert.equal(upstreamFailureReason(new UpstreamConnectError("a:1", "something odd happened")), "connect_failed");
    assert.equal(upstreamFailureReason(new UpstreamDialTimeoutError("a:1")), "dial_timeout");
    assert.equal(upstreamFailureReason(new UpstreamHandshakeError("a:1", "no Upgrade header")), "bad_handshake");
    assert.equal(upstreamFailureReason(new UpstreamTlsError("a:1", "CERT_HAS_EXPIRED", "expired")), "tls");
    assert.equal(upstreamFailureReason(new UpstreamNoAnswerError("a:1", "connection reset")), "no_answer");
  });

  it("tell handshake results by status", () => {
    assert.equal(handshakeResultOf(101), "accepted");
    assert.equal(handshakeResultOf(401), "rejected");
    assert.equal(handshakeResultOf(404), "rejected");
    assert.equal(handshakeResultOf(502), "failed");
  });
});

describe("access lines", () => {
  it("hold the configured fields, in their order, leaving out those that do not apply", () => {
    const written: string[] = [];
    const log = new AccessLog(["status", "event", "closeCode", "path"], {
      write: (line: string) => written.push(line) > 0,
    });
    log.write({ event: "http_request", path: "/x", status: 200, server: "s", clientIp: "1.2.3.4" });
    assert.deepEqual(written, ['{"status":200,"event":"http_request","path":"/x"}\n']);
  });
});
