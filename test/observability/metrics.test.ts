// Metrics as traffic flows, through an in-process Gateway on 127.0.0.1 with real backends: a session opens and
// the active gauge reads 1, N messages each way count exactly N (and their exact frame bytes), refused handshakes
// count with their status, Proxy requests with status and latency, and a dead server reads unhealthy.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { loadConfigText } from "../../src/config/load.js";
import { Gateway, createGatewayTelemetry } from "../../src/gateway.js";
import { createLogger } from "../../src/observability/logger.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { freePort, refusal, withTimeout } from "../helpers/net.js";

const SERVER = "metrics-server";
const SECRET = "wsgate-metrics-test-secret-of-enough-length";
/** The gateway's telemetry, with the process metrics, as the CLI gives it. */
const telemetry = createGatewayTelemetry({ build: { version: "test" } });
const gatewayMetrics = telemetry.metrics;

/** Sum of a metric's samples whose labels include `labels` (`sample`: e.g. a histogram's `_count`). */
async function metric(name: string, labels: Record<string, string> = {}, sample = name): Promise<number> {
  const found = gatewayMetrics.registry.getSingleMetric(name);
  assert.ok(found, `metric ${name} is registered`);
  const data = await found.get();
  let sum = 0;
  for (const value of data.values) {
    // Histograms name each sample (`_bucket`, `_sum`, `_count`); the value type leaves that out.
    const sampleName = "metricName" in value && typeof value.metricName === "string" ? value.metricName : name;
    if (sampleName !== sample) continue;
    if (Object.entries(labels).every(([key, want]) => String(value.labels[key]) === want)) sum += value.value;
  }
  return sum;
}

async function waitForMetric(
  name: string,
  labels: Record<string, string>,
  want: number,
  sample = name,
  ms = 3000,
): Promise<void> {
  const deadline = Date.now() + ms;
  let last = await metric(name, labels, sample);
  while (last !== want) {
    if (Date.now() > deadline) assert.equal(last, want, `${sample}${JSON.stringify(labels)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    last = await metric(name, labels, sample);
  }
}

function open(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return withTimeout(
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.on("open", () => resolve(ws));
      ws.on("error", reject);
    }),
    5000,
    `opening ${url}`,
  );
}

/** The status a refused handshake gets. */
function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      })
      .on("error", reject);
  });
}

describe("metrics (in-process gateway)", () => {
  let backend: TestBackend;
  let web: http.Server;
  let gateway: Gateway;
  let port: number;
  let deadPort: number;
  let backendLabel: string;

  before(async () => {
    backend = await startBackend();
    backendLabel = `127.0.0.1:${backend.port}`;
    web = http.createServer((req, res) => {
      req.resume();
      res.writeHead(req.url === "/web/missing" ? 404 : 200);
      res.end("page");
    });
    await new Promise<void>((resolve) => web.listen(0, "127.0.0.1", resolve));
    const webPort = (web.address() as AddressInfo).port;
    port = await freePort();
    deadPort = await freePort();
    const loaded = loadConfigText(
      `
kind: HTTPServer
name: ${SERVER}
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - path: /ws
        backend: ws-pipeline
      - path: /auth
        backend: auth-pipeline
      - pathPrefix: /web
        backend: web-pipeline
      - path: /health-pool
        backend: health-pipeline
      - path: /dead
        backend: dead-pipeline
---
kind: Pipeline
name: ws-pipeline
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}
---
kind: Pipeline
name: auth-pipeline
flow:
  - filter: validator
    jumpIf: {invalid: END}
  - filter: proxy
filters:
  - kind: Validator
    name: validator
    jwt:
      algorithm: HS256
      secret: ${Buffer.from(SECRET).toString("hex")}
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}
---
kind: Pipeline
name: web-pipeline
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: http://127.0.0.1:${webPort}
---
kind: Pipeline
name: health-pipeline
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}
          - url: ws://127.0.0.1:${deadPort}
        healthCheck:
          interval: 100ms
          timeout: 1s
          http:
            uri: /
---
kind: Pipeline
name: dead-pipeline
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${deadPort}
`,
      "metrics.yaml",
    );
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    gateway = await Gateway.start(loaded.config, createLogger("silent"), { telemetry });
  });

  after(async () => {
    await gateway.stop(1000);
    await backend.close();
    await new Promise<void>((resolve) => web.close(() => resolve()));
  });

  it("counts a session: gauge 1 while open and 0 after; N messages each way counted exactly, bytes exact", async () => {
    const labels = { server: SERVER, route: "*/ws", backend: backendLabel };
    const accepted = await metric("wsgate_websocket_handshakes_total", { server: SERVER, result: "accepted" });
    const ws = await open(`ws://127.0.0.1:${port}/ws`);
    await waitForMetric("wsgate_websocket_sessions_active", labels, 1);
    assert.equal(
      await metric("wsgate_websocket_handshakes_total", { server: SERVER, result: "accepted", status: "101" }),
      accepted + 1,
    );
    assert.equal(
      await metric(
        "wsgate_websocket_handshake_duration_seconds",
        { server: SERVER, result: "accepted" },
        "wsgate_websocket_handshake_duration_seconds_count",
      ),
      accepted + 1,
    );

    const N = 25;
    const payload = "x".repeat(100);
    let echoed = 0;
    const allEchoed = new Promise<void>((resolve) =>
      ws.on("message", () => {
        if (++echoed === N) resolve();
      }),
    );
    for (let i = 0; i < N; i++) ws.send(payload);
    await withTimeout(allEchoed, 5000, "the echoes");
    const toBackend = { ...labels, direction: "client_to_backend" };
    const toClient = { ...labels, direction: "backend_to_client" };
    await waitForMetric("wsgate_websocket_messages_total", toBackend, N);
    await waitForMetric("wsgate_websocket_messages_total", toClient, N);
    // Frame bytes: 2 header bytes each way, plus the 4-byte mask the client adds.
    assert.equal(await metric("wsgate_websocket_bytes_total", toBackend), N * (payload.length + 6));
    assert.equal(await metric("wsgate_websocket_bytes_total", toClient), N * (payload.length + 2));

    const closes = await metric("wsgate_websocket_closes_total", { server: SERVER, side: "client", code: "1000" });
    ws.close(1000, "done");
    await waitForMetric("wsgate_websocket_sessions_active", labels, 0);
    // The ended session's totals stay in the counters (its close frames added to the bytes).
    assert.equal(await metric("wsgate_websocket_messages_total", toBackend), N);
    assert.equal(await metric("wsgate_websocket_messages_total", toClient), N);
    assert.ok((await metric("wsgate_websocket_bytes_total", toBackend)) > N * (payload.length + 6));
    assert.equal(
      await metric("wsgate_websocket_closes_total", { server: SERVER, side: "client", code: "1000" }),
      closes + 1,
    );
  });

  it("counts refused handshakes with their status: 404 (no route), 401 (Validator)", async () => {
    const notFound = { server: SERVER, route: "none", result: "rejected", status: "404" };
    const unauthorized = { server: SERVER, route: "*/auth", result: "rejected", status: "401" };
    const before404 = await metric("wsgate_websocket_handshakes_total", notFound);
    const before401 = await metric("wsgate_websocket_handshakes_total", unauthorized);
    assert.equal(await refusal(`ws://127.0.0.1:${port}/nowhere`), 404);
    assert.equal(await refusal(`ws://127.0.0.1:${port}/auth`), 401);
    assert.equal(await metric("wsgate_websocket_handshakes_total", notFound), before404 + 1);
    assert.equal(await metric("wsgate_websocket_handshakes_total", unauthorized), before401 + 1);
    assert.equal(
      await metric(
        "wsgate_websocket_handshake_duration_seconds",
        { server: SERVER, route: "none", result: "rejected" },
        "wsgate_websocket_handshake_duration_seconds_count",
      ),
      before404 + 1,
    );
  });

  it("counts Proxy requests by method and status, with a latency histogram", async () => {
    const route = { server: SERVER, route: "*/web", method: "GET" };
    const before = await metric("wsgate_http_requests_total", route);
    assert.equal(await get(port, "/web/page"), 200);
    assert.equal(await get(port, "/web/page"), 200);
    assert.equal(await get(port, "/web/missing"), 404);
    await waitForMetric("wsgate_http_requests_total", route, before + 3);
    assert.equal(await metric("wsgate_http_requests_total", { ...route, status: "404" }), 1);
    assert.equal(
      await metric("wsgate_http_request_duration_seconds", route, "wsgate_http_request_duration_seconds_count"),
      before + 3,
    );
    // A plain request no route takes is counted too, under route "none".
    assert.equal(await get(port, "/unrouted"), 404);
    await waitForMetric("wsgate_http_requests_total", { server: SERVER, route: "none", status: "404" }, 1);
  });

  it("counts a backend that cannot be reached, by reason", async () => {
    const labels = { pool: "dead-pipeline/proxy/pools[0]", backend: `127.0.0.1:${deadPort}` };
    const refused = { ...labels, reason: "connection_refused" };
    const before = await metric("wsgate_upstream_connect_errors_total", refused);
    assert.equal(await refusal(`ws://127.0.0.1:${port}/dead`), 502);
    assert.equal(await metric("wsgate_upstream_connect_errors_total", refused), before + 1);
    assert.equal(
      await metric("wsgate_websocket_handshakes_total", { server: SERVER, result: "failed", status: "502" }),
      1,
    );
  });

  it("reads each server's health from the pools: a dead server 0, a live one 1", async () => {
    // Until its first check fails nothing is known of the dead server; then it reads unhealthy.
    const pool = "health-pipeline/proxy/pools[0]";
    await waitForMetric("wsgate_upstream_server_healthy", { pool, backend: `127.0.0.1:${deadPort}` }, 0);
    await waitForMetric("wsgate_upstream_server_healthy", { pool, backend: backendLabel }, 1);
  });

  it("serves the whole registry as Prometheus text, process metrics included", async () => {
    const { contentType, body } = await gatewayMetrics.exposition();
    assert.match(contentType, /^text\/plain/);
    for (const name of [
      "wsgate_websocket_sessions_active",
      "wsgate_websocket_messages_total",
      "wsgate_websocket_bytes_total",
      "wsgate_websocket_handshakes_total",
      "wsgate_websocket_closes_total",
      "wsgate_http_requests_total",
      "wsgate_upstream_server_healthy",
      "wsgate_process_cpu_user_seconds_total",
    ]) {
      assert.match(body, new RegExp(`^# TYPE ${name} `, "m"));
    }
    assert.doesNotMatch(body, /session="|client="/);
  });
});
