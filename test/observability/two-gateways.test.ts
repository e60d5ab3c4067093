// Two Gateways in one process (tests, embedding), with different configs, each on real sockets on 127.0.0.1: each
// counts its own traffic in its own metrics registry, writes its own access log, lists its own pools, redacts its own
// Validators' token parameters, and a reload of one leaves the other's series alone. Before issue 16 all of these
// were process-wide singletons (`gatewayMetrics`, `accessLogs`, `upstreamStatus`, `secretQueryParams`), so each
// gateway's /metrics showed the other's servers and pools, and applying one removed the other's series.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { loadConfigText, type GatewayConfig } from "../../src/config/load.js";
import { Gateway } from "../../src/gateway.js";
import { createLogger } from "../../src/observability/logger.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { freePort, refusal, waitUntil, withTimeout } from "../helpers/net.js";

const SECRET = "wsgate-two-gateways-test-secret-of-enough-length";

interface AccessLine {
  event?: string;
  server?: string;
  path?: string;
  status?: number;
}

function readLines(file: string): AccessLine[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as AccessLine);
}

function config(text: string, name: string): GatewayConfig {
  const loaded = loadConfigText(text, name);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
}

/** "alpha": a WebSocket route, and a route guarded by a Validator whose token travels in `?ticket=`. */
function alphaConfig(port: number, backend: string, log: string): GatewayConfig {
  return config(
    `
kind: HTTPServer
name: alpha
port: ${port}
address: 127.0.0.1
accessLog:
  target: ${log}
  fields: [event, server, path, status]
rules:
  - paths:
      - path: /ws
        backend: alpha-ws
      - path: /guarded
        backend: alpha-guarded
---
kind: Pipeline
name: alpha-ws
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ${backend}
---
kind: Pipeline
name: alpha-guarded
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
      queryParam: ticket
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ${backend}
`,
    "alpha.yaml",
  );
}

/** "beta": plain HTTP under `/web` through a Proxy, no Validator; `extra` adds a route (a reload). */
function betaConfig(
  port: number,
  backend: string,
  log: string,
  { server = "beta", prefix = "/web", extra = "" } = {},
): GatewayConfig {
  return config(
    `
kind: HTTPServer
name: ${server}
port: ${port}
address: 127.0.0.1
accessLog:
  target: ${log}
  fields: [event, server, path, status]
rules:
  - paths:
      - pathPrefix: ${prefix}
        backend: beta-web${extra}
---
kind: Pipeline
name: beta-web
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.replace("ws://", "http://")}
`,
    `${server}.yaml`,
  );
}

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

/** Opens a session, sends one message, waits for its echo, and closes; resolves once closed. */
function echoOnce(url: string): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.on("open", () => ws.send("hello"));
      ws.on("message", () => ws.close(1000));
      ws.on("close", () => resolve());
      ws.on("error", reject);
    }),
    5000,
    `a session on ${url}`,
  );
}

/** The distinct values of `label` over every series of a gateway's /metrics. */
async function labelValues(gateway: Gateway, label: string): Promise<string[]> {
  const { body } = await gateway.telemetry.metrics.exposition();
  const values = new Set<string>();
  for (const match of body.matchAll(new RegExp(`[{,]${label}="([^"]*)"`, "g"))) values.add(match[1] ?? "");
  return [...values].sort();
}

describe("two Gateways in one process", () => {
  let backend: TestBackend;
  let alpha: Gateway;
  let beta: Gateway;
  let alphaPort: number;
  let betaPort: number;
  let dir: string;
  let alphaLog: string;
  let betaLog: string;

  before(async () => {
    backend = await startBackend();
    dir = mkdtempSync(join(tmpdir(), "wsgate-two-gateways-"));
    alphaLog = join(dir, "alpha.log");
    betaLog = join(dir, "beta.log");
    alphaPort = await freePort();
    betaPort = await freePort();
    const log = createLogger("silent");
    alpha = await Gateway.start(alphaConfig(alphaPort, backend.url, alphaLog), log);
    beta = await Gateway.start(betaConfig(betaPort, backend.url, betaLog), log);

    await echoOnce(`ws://127.0.0.1:${alphaPort}/ws`);
    assert.equal(await refusal(`ws://127.0.0.1:${alphaPort}/guarded?ticket=not-a-token`), 401);
    assert.equal(await get(betaPort, "/web/page?ticket=abc"), 200);
    // The session's line is written when it has ended on the gateway's side too.
    await waitUntil(
      () => {
        alpha.telemetry.accessLogs.flush();
        return readLines(alphaLog).some((line) => line.event === "websocket_session") ? true : undefined;
      },
      5000,
      "alpha's session line",
    );
  });

  after(async () => {
    await alpha?.stop(1000);
    await beta?.stop(1000);
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("have separate metrics registries: each /metrics names only its own server and pools", async () => {
    assert.notEqual(alpha.telemetry.metrics.registry, beta.telemetry.metrics.registry);
    assert.deepEqual(await labelValues(alpha, "server"), ["alpha"]);
    assert.deepEqual(await labelValues(beta, "server"), ["beta"]);
    assert.deepEqual(await labelValues(alpha, "pool"), ["alpha-guarded/proxy/pools[0]", "alpha-ws/proxy/pools[0]"]);
    assert.deepEqual(await labelValues(beta, "pool"), ["beta-web/proxy/pools[0]"]);
    const { body: alphaBody } = await alpha.telemetry.metrics.exposition();
    const { body: betaBody } = await beta.telemetry.metrics.exposition();
    assert.match(
      alphaBody,
      /^wsgate_websocket_handshakes_total\{server="alpha",route="\*\/ws",result="accepted",status="101"\} 1$/m,
    );
    assert.match(alphaBody, /^wsgate_websocket_handshakes_total\{[^}]*status="401"\} 1$/m);
    assert.doesNotMatch(alphaBody, /^wsgate_http_requests_total\{/m);
    assert.match(
      betaBody,
      /^wsgate_http_requests_total\{server="beta",route="\*\/web",method="GET",status="200"\} 1$/m,
    );
    assert.doesNotMatch(betaBody, /^wsgate_websocket_handshakes_total\{/m);
  });

  it("have separate upstream status registries: each lists only its own pools", () => {
    const pools = (gateway: Gateway): string[] => gateway.telemetry.upstreamStatus.pools().map((pool) => pool.pool);
    assert.deepEqual(pools(alpha).sort(), ["alpha-guarded/proxy/pools[0]", "alpha-ws/proxy/pools[0]"]);
    assert.deepEqual(pools(beta), ["beta-web/proxy/pools[0]"]);
  });

  it("have separate access logs, and each redacts only its own Validators' token parameter", async () => {
    alpha.telemetry.accessLogs.flush();
    beta.telemetry.accessLogs.flush();
    const alphaLines = readLines(alphaLog);
    const betaLines = await waitUntil(
      () => {
        beta.telemetry.accessLogs.flush();
        const lines = readLines(betaLog);
        return lines.length > 0 ? lines : undefined;
      },
      5000,
      "beta's request line",
    );
    assert.deepEqual(alphaLines.map((line) => [line.event, line.server, line.path, line.status]).sort(), [
      ["websocket_rejected", "alpha", "/guarded?ticket=REDACTED", 401],
      ["websocket_session", "alpha", "/ws", 101],
    ]);
    // `ticket` is a secret of alpha's config only: beta has no Validator that names it.
    assert.deepEqual(
      betaLines.map((line) => [line.event, line.server, line.path, line.status]),
      [["http_request", "beta", "/web/page?ticket=abc", 200]],
    );
  });

  it("a reload of one leaves the other's series alone", async () => {
    const extra = "\n      - path: /more\n        backend: beta-web";
    await beta.apply(betaConfig(betaPort, backend.url, betaLog, { extra }));
    assert.deepEqual(await labelValues(alpha, "server"), ["alpha"]);
    assert.deepEqual(await labelValues(alpha, "pool"), ["alpha-guarded/proxy/pools[0]", "alpha-ws/proxy/pools[0]"]);
    const { body } = await alpha.telemetry.metrics.exposition();
    assert.match(body, /^wsgate_websocket_closes_total\{server="alpha",side="client",code="1000"\} 1$/m);
  });
});

describe("two Gateways in one process, each with an HTTPServer of the same name", () => {
  let backend: TestBackend;
  const gateways: Gateway[] = [];
  let dir: string;

  before(async () => {
    backend = await startBackend();
    dir = mkdtempSync(join(tmpdir(), "wsgate-same-name-"));
  });

  after(async () => {
    for (const gateway of gateways) await gateway.stop(1000);
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes each one's lines to its own access log (a registry shared by server name sent both to the last)", async () => {
    const started: Array<{ gateway: Gateway; port: number; file: string; prefix: string }> = [];
    for (const name of ["one", "two"]) {
      const port = await freePort();
      const file = join(dir, `${name}.log`);
      const prefix = `/${name}`;
      const text = betaConfig(port, backend.url, file, { server: "edge", prefix });
      const gateway = await Gateway.start(text, createLogger("silent"));
      gateways.push(gateway);
      started.push({ gateway, port, file, prefix });
    }
    for (const { port, prefix } of started) assert.equal(await get(port, `${prefix}/page`), 200);
    for (const { gateway, file, prefix } of started) {
      const lines = await waitUntil(
        () => {
          gateway.telemetry.accessLogs.flush();
          const read = readLines(file);
          return read.length > 0 ? read : undefined;
        },
        5000,
        `a line in ${file}`,
      );
      assert.deepEqual(
        lines.map((line) => [line.server, line.path]),
        [["edge", `${prefix}/page`]],
      );
    }
  });
});
