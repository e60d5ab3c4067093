// The proxy core's attempt loop against real backends on 127.0.0.1, each try a real backend upgrade through the
// session connector: which failures move on to the next server, how many tries are made, and that passive health
// hears of each failure exactly once (the pool's consecutive-failure count, with ejection out of reach).
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { GatewayError, NoUpstreamError, UpstreamConnectError, UpstreamHandshakeError } from "../../src/errors.js";
import { NO_POOLS } from "../../src/observability/metrics.js";
import { createTelemetry } from "../../src/observability/telemetry.js";
import { noHealthyBackend, proxyAttempts, type AttemptOutcome, type UpstreamPhases } from "../../src/proxy/attempts.js";
import { connectBackendUpgrade, type BackendUpgradeResult } from "../../src/upstream/connect/backend-upgrade.js";
import { ServerPool } from "../../src/upstream/pool.js";
import type { UpstreamServer } from "../../src/upstream/server.js";
import { UpstreamStatusRegistry } from "../../src/upstream/status.js";
import { newHandshakeKey } from "../../src/websocket/handshake.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { collectingLogger } from "../helpers/check-backends.js";
import { freePort } from "../helpers/net.js";

const balance = { clientIp: "192.0.2.1", headers: {} };
const wsCheck = { headers: {}, uri: "/", match: { statusCodes: [[101, 101]] as Array<[number, number]>, headers: [] } };
const pools: ServerPool[] = [];

/** A pool over `urls`, round robin in order, passive health on but out of reach, so that failures only count. */
function poolOf(urls: string[], fails = 1000): ServerPool {
  const { log } = collectingLogger();
  const pool = new ServerPool(
    {
      servers: urls.map((url) => ({ url, weight: 0, keepHost: false, tags: [] })),
      serverTags: [],
      loadBalance: { policy: "roundRobin" },
      passiveHealth: { enabled: true, fails, baseEjectionTime: 60_000, maxEjectionTime: 60_000 },
    },
    { label: "test/proxy/pools[0]", log, registry: new UpstreamStatusRegistry() },
  );
  pools.push(pool);
  return pool;
}

function failuresOf(pool: ServerPool): Record<string, number> {
  return Object.fromEntries(pool.status().servers.map((entry) => [entry.url, entry.passive.consecutiveFailures]));
}

/** Phases whose tries are real backend upgrades; `tried` lists each try's server URL in order. */
function upgradePhases(extra: Partial<UpstreamPhases<BackendUpgradeResult>> = {}) {
  const tried: string[] = [];
  const phases: UpstreamPhases<BackendUpgradeResult> = {
    async connect(server: UpstreamServer): Promise<AttemptOutcome<BackendUpgradeResult>> {
      tried.push(server.url.href);
      const key = newHandshakeKey();
      const handshake = connectBackendUpgrade(
        {
          url: server.url,
          label: server.hostPort,
          target: "/",
          headers: [
            ["Host", server.hostPort],
            ["Upgrade", "websocket"],
            ["Connection", "Upgrade"],
            ["Sec-WebSocket-Key", key],
            ["Sec-WebSocket-Version", "13"],
          ],
          dialTimeout: 1000,
          handshakeTimeout: 1000,
        },
        { key, offered: { key, protocols: [], extensionNames: [] } },
      );
      try {
        const answer = await handshake.result;
        if (answer.kind === "upgraded") answer.socket.destroy();
        else answer.response.destroy();
        return { kind: "answered", answer };
      } catch (error) {
        assert.ok(error instanceof GatewayError);
        return { kind: "failed", error, counts: true };
      }
    },
    judgeAnswer: () => undefined,
    ...extra,
  };
  return { phases, tried };
}

/** A backend that answers every upgrade with a 101 whose accept is wrong: a failure that may not be retried. */
async function wrongAcceptBackend(): Promise<{ url: string; close(): void }> {
  const server = net.createServer((socket) => {
    socket.on("error", () => socket.destroy());
    socket.once("data", () =>
      socket.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  return { url: `ws://127.0.0.1:${port}/`, close: () => server.close() };
}

describe("proxy core: the attempt loop", () => {
  let live: TestBackend;
  let deadA: string;
  let deadB: string;
  // What the loop reports to: a logger and this test's own telemetry (upstream failures are counted there).
  const log = { log: collectingLogger().log, telemetry: createTelemetry(NO_POOLS, { processMetrics: false }) };

  before(async () => {
    live = await startBackend();
    deadA = `ws://127.0.0.1:${await freePort()}/`;
    deadB = `ws://127.0.0.1:${await freePort()}/`;
  });

  after(async () => {
    for (const pool of pools) pool.close();
    await live.close();
  });

  it("moves a retryable failure (connection refused) on to the next server, each tried once, each failure reported once", async () => {
    const liveUrl = `ws://127.0.0.1:${live.port}/`;
    const pool = poolOf([deadA, deadB, liveUrl]);
    const { phases, tried } = upgradePhases();
    const outcome = await proxyAttempts(pool, balance, phases, log);
    assert.equal(outcome.kind, "answered");
    assert.equal(outcome.kind === "answered" ? outcome.server.url.href : "", liveUrl);
    assert.deepEqual(tried, [deadA, deadB, liveUrl]);
    assert.deepEqual(failuresOf(pool), { [deadA]: 1, [deadB]: 1, [liveUrl]: 0 });
    // The upstream-failure metric heard of each failure once too.
    const { body } = await log.telemetry.metrics.exposition();
    const counted = body
      .split("\n")
      .filter((line) => line.startsWith("wsgate_upstream_connect_errors_total{") && line.includes(pool.label));
    assert.equal(counted.length, 2, body);
    for (const line of counted) assert.match(line, /reason="connection_refused"\} 1$/);
  });

  it("stops at a failure that says it may not be retried (a wrong 101): one try, one report, that error", async () => {
    const wrong = await wrongAcceptBackend();
    try {
      const liveUrl = `ws://127.0.0.1:${live.port}/`;
      const pool = poolOf([wrong.url, liveUrl]);
      const { phases, tried } = upgradePhases();
      const outcome = await proxyAttempts(pool, balance, phases, log);
      assert.equal(outcome.kind, "refused");
      assert.ok(outcome.kind === "refused" && outcome.error instanceof UpstreamHandshakeError);
      assert.deepEqual(tried, [wrong.url]);
      assert.deepEqual(failuresOf(pool), { [wrong.url]: 1, [liveUrl]: 0 });
    } finally {
      wrong.close();
    }
  });

  it("asks the filter too: a request that may not go again stops after its first failure", async () => {
    const liveUrl = `ws://127.0.0.1:${live.port}/`;
    const pool = poolOf([deadA, liveUrl]);
    const { phases, tried } = upgradePhases({ mayRetry: () => false });
    const outcome = await proxyAttempts(pool, balance, phases, log);
    assert.ok(outcome.kind === "refused" && outcome.error instanceof UpstreamConnectError);
    assert.deepEqual(tried, [deadA]);
    assert.deepEqual(failuresOf(pool), { [deadA]: 1, [liveUrl]: 0 });
  });

  it("refuses with the last failure once every server failed", async () => {
    const pool = poolOf([deadA, deadB]);
    const { phases, tried } = upgradePhases();
    const outcome = await proxyAttempts(pool, balance, phases, log);
    assert.ok(outcome.kind === "refused" && outcome.error instanceof UpstreamConnectError);
    assert.match(outcome.error.message, new RegExp(deadB.slice("ws://".length, -1)));
    assert.deepEqual(tried, [deadA, deadB]);
    assert.deepEqual(failuresOf(pool), { [deadA]: 1, [deadB]: 1 });
  });

  it("refuses with 'no healthy backend' (503, Retry-After) when the pool has nothing to pick, trying nothing", async () => {
    const { log: poolLog } = collectingLogger();
    const pool = new ServerPool(
      {
        servers: [{ url: deadA, weight: 0, keepHost: false, tags: [] }],
        serverTags: [],
        loadBalance: { policy: "roundRobin" },
        // The first round of checks (awaited by the loop) finds the only server down.
        healthCheck: { interval: 60_000, timeout: 500, fails: 1, pass: 1, ws: wsCheck },
      },
      { label: "test/proxy/pools[1]", log: poolLog, registry: new UpstreamStatusRegistry() },
    );
    pools.push(pool);
    const { phases, tried } = upgradePhases();
    const outcome = await proxyAttempts(pool, balance, phases, log);
    assert.ok(outcome.kind === "refused" && outcome.error instanceof NoUpstreamError);
    assert.equal(outcome.error.message, noHealthyBackend(pool).message);
    assert.equal(outcome.error.status, 503);
    assert.ok(outcome.error.headers["Retry-After"] !== undefined);
    assert.deepEqual(tried, []);
  });

  it("reports no failure that is not the server's (the client left), but still moves on", async () => {
    const liveUrl = `ws://127.0.0.1:${live.port}/`;
    const pool = poolOf([deadA, liveUrl]);
    const base = upgradePhases();
    const phases: UpstreamPhases<BackendUpgradeResult> = {
      ...base.phases,
      connect: async (server) => {
        const outcome = await base.phases.connect(server);
        return outcome.kind === "failed" ? { ...outcome, counts: false } : outcome;
      },
    };
    const outcome = await proxyAttempts(pool, balance, phases, log);
    assert.equal(outcome.kind, "answered");
    assert.deepEqual(failuresOf(pool), { [deadA]: 0, [liveUrl]: 0 });
  });

  it("lets a stale connection's failure go again, at most sameServerRetries times, uncounted", async () => {
    const pool = poolOf([deadA]);
    const base = upgradePhases({ sameServerRetries: 2 });
    const phases: UpstreamPhases<BackendUpgradeResult> = {
      ...base.phases,
      connect: async (server) => {
        const outcome = await base.phases.connect(server);
        // A refused connection stands in for a kept-alive one the backend had just closed.
        return outcome.kind === "failed" ? { ...outcome, counts: false, sameServerAgain: true } : outcome;
      },
    };
    const outcome = await proxyAttempts(pool, balance, phases, log);
    assert.equal(outcome.kind, "refused");
    assert.deepEqual(base.tried, [deadA, deadA, deadA]);
    assert.deepEqual(failuresOf(pool), { [deadA]: 0 });
  });

  it("judges an answer once: a failing verdict counts against the server, a good one clears its count", async () => {
    const liveUrl = `ws://127.0.0.1:${live.port}/`;
    const pool = poolOf([liveUrl]);
    const bad = upgradePhases({ judgeAnswer: () => "status 503" });
    assert.equal((await proxyAttempts(pool, balance, bad.phases, log)).kind, "answered");
    assert.equal((await proxyAttempts(pool, balance, bad.phases, log)).kind, "answered");
    assert.deepEqual(failuresOf(pool), { [liveUrl]: 2 });
    const good = upgradePhases();
    await proxyAttempts(pool, balance, good.phases, log);
    assert.deepEqual(failuresOf(pool), { [liveUrl]: 0 });
  });

  it("makes no try for a request answered meanwhile", async () => {
    const pool = poolOf([deadA]);
    const { phases, tried } = upgradePhases({ finished: () => true });
    assert.deepEqual(await proxyAttempts(pool, balance, phases, log), { kind: "ended", result: "" });
    assert.deepEqual(tried, []);
  });
});
