import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import { REFERENCE_000, REFERENCE_001 } from "./reference-configs.js";
import { TempConfig, configOf } from "./temp-config.js";

describe("reference configurations validate as written", () => {
  let temp: TempConfig;
  before(async () => {
    temp = await TempConfig.create();
  });
  after(async () => temp.cleanup());

  it("reference 000: pipeline and server, with every default applied", async () => {
    const config = configOf(await loadConfig([await temp.write("gateway.yaml", REFERENCE_000)]));
    assert.deepEqual(config.httpServers, [
      {
        kind: "HTTPServer",
        name: "demo-server",
        port: 8080,
        https: false,
        http2: false,
        h2c: false,
        http2WebSockets: true,
        keepAlive: true,
        keepAliveTimeout: 60_000,
        maxConnections: 10240,
        backlog: 4096,
        clientMaxBodySize: 4194304,
        xForwardedFor: false,
        trustedProxies: [],
        proxyProtocol: false,
        clientHeaderTimeout: 10_000,
        allowBackslash: false,
        allowPathParameters: false,
        allowEncodedSlash: false,
        clientMaxHeaders: 100,
        clientRequestTimeout: 60_000,
        exposeErrors: false,
        http2Limits: {
          maxConcurrentStreams: 100,
          maxHeaderListSize: 16384,
          window: 10_000,
          maxResets: 200,
          maxPings: 100,
          maxSettings: 100,
          maxInvalidFrames: 100,
          maxRefusedStreams: 100,
        },
        rules: [
          {
            hosts: [],
            paths: [
              {
                path: "/ws",
                methods: [],
                headers: [],
                matchAllHeader: false,
                queries: [],
                matchAllQuery: false,
                clientMaxBodySize: -1,
                backend: "websocket-pipeline",
              },
            ],
          },
        ],
      },
    ]);
    assert.deepEqual(config.pipelines, [
      {
        kind: "Pipeline",
        name: "websocket-pipeline",
        flow: [{ filter: "wsproxy", jumpIf: {} }],
        filters: [
          {
            kind: "WebSocketProxy",
            name: "wsproxy",
            defaultOrigin: "http://127.0.0.1/hello",
            pools: [
              {
                servers: [{ url: "ws://127.0.0.1:12345", weight: 0, keepHost: false, tags: [] }],
                serverTags: [],
                loadBalance: { policy: "roundRobin" },
                clientMaxMsgSize: 32769,
                serverMaxMsgSize: 32769,
              },
            ],
            clientMaxMsgSize: 32769,
            serverMaxMsgSize: 32769,
            pingInterval: 0,
            pongTimeout: 0,
            maxInactivity: 0,
            frameTimeout: 30_000,
            dialTimeout: 5000,
            drainWindow: 10000,
            handshakeTimeout: 10_000,
            closeTimeout: 5000,
            maxBufferedBytes: 1024 * 1024,
            permessageDeflate: "strip",
            originPatterns: [],
            maxConnections: 0,
            maxConnectionsPerIP: 0,
            clientMaxMsgRate: 0,
            clientMaxByteRate: 0,
            serverMaxMsgRate: 0,
            serverMaxByteRate: 0,
            rateLimitAction: "pause",
          },
        ],
      },
    ]);
  });

  it("reference 001: four servers, keepHost, message limits and the full health check block", async () => {
    const config = configOf(await loadConfig([await temp.write("gateway-001.yaml", REFERENCE_001)]));
    assert.deepEqual(
      config.pipelines.map((pipeline) => pipeline.name),
      ["websocket-pipeline", "health-check-pipeline"],
    );
    const [proxy] = config.pipelines[0]?.filters ?? [];
    const pool = proxy?.kind === "WebSocketProxy" ? proxy.pools[0] : undefined;
    assert.deepEqual(
      pool?.servers.map((server) => [server.url, server.keepHost]),
      [
        ["ws://127.0.0.1:12345", true],
        ["ws://127.0.0.1:9095", false],
        ["ws://127.0.0.1:9096", false],
        ["ws://127.0.0.1:9097", false],
      ],
    );
    assert.equal(pool?.clientMaxMsgSize, 32769);
    assert.equal(pool?.serverMaxMsgSize, 32769);
    assert.equal(pool?.healthCheck, undefined);

    const checked = config.pipelines[1]?.filters[0];
    assert.equal(checked?.name, "proxy-example-1");
    assert.deepEqual(config.pipelines[1]?.flow, [{ filter: "proxy-example-1", jumpIf: {} }]);
    assert.deepEqual(checked?.kind === "WebSocketProxy" ? checked.pools[0]?.healthCheck : undefined, {
      interval: 60_000,
      timeout: 3000,
      fails: 1,
      pass: 1,
      ws: {
        port: 10080,
        uri: "/health/ws",
        headers: { "X-Health-Check": "easegress" },
        match: { statusCodes: [[101, 101]], headers: [{ name: "X-Status", value: "healthy", type: "exact" }] },
      },
      http: { uri: "/health", method: "GET", headers: {}, match: { statusCodes: [[200, 399]], headers: [] } },
    });
  });
});
