// A pool's active health checks against real backends on 127.0.0.1, with short intervals: the first round,
// thresholds, spreading, no overlap, stopping, logs (once per transition) and the status model.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { HealthCheckSpec } from "../../src/upstream/health/types.js";
import { ServerPool, type PoolSpec } from "../../src/upstream/pool.js";
import { UpstreamStatusRegistry } from "../../src/upstream/status.js";
import { collectingLogger, startCheckBackend, type CheckBackend } from "../helpers/check-backends.js";
import { waitUntil } from "../helpers/net.js";

const context = { clientIp: "192.0.2.1", headers: {} };
const backends: CheckBackend[] = [];
const pools: ServerPool[] = [];

after(async () => {
  for (const pool of pools) pool.close();
  await Promise.all(backends.map((backend) => backend.stop()));
});

async function backend(name: string): Promise<CheckBackend> {
  const started = await startCheckBackend(name);
  backends.push(started);
  return started;
}

function httpCheck(interval: number, extra: Partial<HealthCheckSpec> = {}): HealthCheckSpec {
  return {
    interval,
    timeout: 1000,
    fails: 1,
    pass: 1,
    http: { uri: "/health", method: "GET", headers: {}, match: { statusCodes: [[200, 399]], headers: [] } },
    ...extra,
  };
}

function pool(
  list: readonly CheckBackend[],
  healthCheck: HealthCheckSpec,
  registry = new UpstreamStatusRegistry(),
  onLine?: (line: Record<string, unknown>) => void,
) {
  const { log, lines } = collectingLogger(onLine);
  const spec: PoolSpec = {
    servers: list.map((b) => ({ url: b.url, weight: 0, keepHost: false, tags: [] })),
    serverTags: [],
    loadBalance: { policy: "roundRobin" },
    healthCheck,
  };
  const built = new ServerPool(spec, { label: "p/proxy/pools[0]", log, registry });
  pools.push(built);
  return { pool: built, lines, registry };
}

function stateOf(built: ServerPool, index: number) {
  const server = built.status().servers[index];
  assert.ok(server);
  return server;
}

describe("active health checks in a pool", () => {
  it("runs the first round at once, holds the pool until it is done, then serves only servers that passed", async () => {
    const good = await backend("good");
    const bad = await backend("bad");
    bad.http = { status: 500, headers: {}, body: "", delayMs: 0 };
    const started = Date.now();
    const { pool: built, lines } = pool([good, bad], httpCheck(60_000));
    assert.equal(built.isReady, false);
    assert.deepEqual(
      built.status().servers.map((server) => server.state),
      ["unknown", "unknown"],
    );
    assert.equal(built.pick(context), undefined, "nothing is picked before the first round");
    await built.ready;
    assert.ok(Date.now() - started < 5000, "the first round did not wait for the 60 s interval");
    assert.deepEqual(
      built.status().servers.map((server) => server.state),
      ["healthy", "unhealthy"],
    );
    for (let i = 0; i < 6; i++) assert.equal(built.pick(context)?.port, good.port);
    const transitions = lines.filter((line) => line.event === "backend_health");
    // The two first checks run at once; which one settles first is not fixed.
    assert.deepEqual(
      transitions.map((line) => [line.backend, line.health, line.previous, line.pool]).sort(),
      [
        [`127.0.0.1:${good.port}`, "healthy", "unknown", "p/proxy/pools[0]"],
        [`127.0.0.1:${bad.port}`, "unhealthy", "unknown", "p/proxy/pools[0]"],
      ].sort(),
    );
    const badLine = transitions.find((line) => line.health === "unhealthy");
    assert.equal(badLine?.reason, "http check: status 500 (expected 200-399)");
    assert.equal(badLine?.level, 40, "unhealthy is a warning");
  });

  it("turns unhealthy after `fails` failures in a row and healthy after `pass` passes, logging each change once", async () => {
    const flaky = await backend("flaky");
    // The streak is polled, so a busy machine may skip a value; the streak each change happened at is read
    // as its line is written, which is exact.
    const streakAtChange: number[] = [];
    const { pool: built, lines } = pool([flaky], httpCheck(300, { fails: 2, pass: 3 }), undefined, (line) => {
      if (line.event === "backend_health") streakAtChange.push(stateOf(built, 0).check?.streak ?? 0);
    });
    await built.ready;
    assert.equal(stateOf(built, 0).state, "healthy");

    flaky.http = { status: 503, headers: {}, body: "", delayMs: 0 };
    await waitUntil(() => ((stateOf(built, 0).check?.streak ?? 0) <= -4 ? true : undefined), 6000, "four failures");
    assert.equal(stateOf(built, 0).state, "unhealthy");
    assert.equal(built.servers[0]?.healthy, false, "balancers see it");

    flaky.http = { status: 200, headers: {}, body: "", delayMs: 0 };
    await waitUntil(() => ((stateOf(built, 0).check?.streak ?? 0) >= 5 ? true : undefined), 6000, "five passes");
    assert.equal(stateOf(built, 0).state, "healthy");
    assert.equal(built.servers[0]?.healthy, true, "balancers see it");

    assert.deepEqual(streakAtChange, [1, -2, 3], "each change happened at its threshold, not before or after");
    const changes = lines.filter((line) => line.event === "backend_health").map((line) => [line.health, line.reason]);
    assert.deepEqual(changes, [
      ["healthy", "first check passed"],
      ["unhealthy", "http check: status 503 (expected 200-399) (2 failures in a row)"],
      ["healthy", "3 checks passed in a row"],
    ]);
    const poolLines = lines.filter((line) => line.event === "pool_health").map((line) => [line.available, line.msg]);
    assert.deepEqual(poolLines, [
      [false, "no healthy server in pool: new connections get 503"],
      [true, "pool has a healthy server again"],
    ]);
  });

  it("needs both checks to pass when both are configured", async () => {
    const both = await backend("both");
    const spec = httpCheck(60, {
      ws: { uri: "/health/ws", headers: {}, match: { statusCodes: [[101, 101]], headers: [] } },
    });
    const { pool: built } = pool([both], spec);
    await built.ready;
    assert.equal(stateOf(built, 0).state, "healthy");
    both.wsCheckRefuse = 503;
    await waitUntil(() => (stateOf(built, 0).state === "unhealthy" ? true : undefined), 2000, "ws check failing");
    assert.equal(stateOf(built, 0).reason, "ws check: status 503 (expected 101)");
    both.wsCheckRefuse = undefined;
    await waitUntil(() => (stateOf(built, 0).state === "healthy" ? true : undefined), 2000, "healthy again");
    both.http = { status: 404, headers: {}, body: "", delayMs: 0 };
    await waitUntil(() => (stateOf(built, 0).state === "unhealthy" ? true : undefined), 2000, "http check failing");
    assert.equal(stateOf(built, 0).reason, "http check: status 404 (expected 200-399)");
  });

  it("never overlaps two checks of one server, even with a timeout longer than the interval", async () => {
    const slow = await backend("slow");
    slow.http = { status: 200, headers: {}, body: "", delayMs: 250 };
    const { pool: built } = pool([slow], httpCheck(50, { timeout: 2000 }));
    await built.ready;
    const from = slow.requests.length;
    await waitUntil(() => (slow.requests.length - from >= 4 ? true : undefined), 3000, "four slow checks");
    assert.equal(slow.maxConcurrentRequests, 1, "at most one check in flight");
    const times = slow.requests.slice(from).map((request) => request.at);
    for (let i = 1; i < times.length; i++) {
      const gap = (times[i] ?? 0) - (times[i - 1] ?? 0);
      assert.ok(gap >= 240, `checks ${gap} ms apart: the next one waited for the previous one`);
    }
    built.close();
  });

  it("spreads the servers' checks over the interval instead of checking them all at once", async () => {
    const list = [await backend("s1"), await backend("s2"), await backend("s3"), await backend("s4")];
    const { pool: built } = pool(list, httpCheck(400));
    await built.ready;
    await waitUntil(() => (list.every((b) => b.requests.length >= 4) ? true : undefined), 4000, "four rounds");
    built.close();
    // Second checks: one server about every 100 ms rather than four at once (bounds loose for a loaded machine).
    const seconds = list.map((b) => b.requests[1]?.at ?? 0).sort((a, b) => a - b);
    for (let i = 1; i < seconds.length; i++) {
      const gap = (seconds[i] ?? 0) - (seconds[i - 1] ?? 0);
      assert.ok(gap >= 10, `second checks ${gap} ms apart (expected about 100)`);
    }
    const spread = (seconds.at(-1) ?? 0) - (seconds[0] ?? 0);
    assert.ok(spread >= 150, `second checks spread over ${spread} ms (expected about 300)`);
    // Each server keeps its own slot, every interval (a check that starts late does not move the next slot).
    // (Loose: under load a late check may run close to the next slot, so two gaps may add up to one interval.)
    for (const b of list) {
      const twoGaps = (b.requests[3]?.at ?? 0) - (b.requests[1]?.at ?? 0);
      assert.ok(twoGaps >= 380 && twoGaps <= 1200, `${b.name}: three checks over ${twoGaps} ms (interval 400)`);
    }
  });

  it("stops checking when the pool closes, and leaves the status registry", async () => {
    const watched = await backend("watched");
    const registry = new UpstreamStatusRegistry();
    const { pool: built } = pool([watched], httpCheck(30), registry);
    await built.ready;
    await waitUntil(() => (watched.requests.length >= 3 ? true : undefined), 2000, "a few checks");
    assert.deepEqual(
      registry.pools().map((status) => status.pool),
      ["p/proxy/pools[0]"],
    );
    built.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const count = watched.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(watched.requests.length, count, "no check after close");
    assert.deepEqual(registry.pools(), []);
  });

  it("reports every server with health, weight and live connections in one status model", async () => {
    const a = await backend("a");
    const b = await backend("b");
    b.http = { status: 500, headers: {}, body: "", delayMs: 0 };
    const registry = new UpstreamStatusRegistry();
    const { log } = collectingLogger();
    const built = new ServerPool(
      {
        servers: [
          { url: a.url, weight: 3, keepHost: false, tags: ["blue"] },
          { url: b.url, weight: 1, keepHost: false, tags: [] },
        ],
        serverTags: [],
        loadBalance: { policy: "weightedRandom" },
        healthCheck: httpCheck(60_000),
      },
      { label: "p/proxy/pools[1]", log, registry },
    );
    pools.push(built);
    await built.ready;
    const session = { close: () => {} };
    const server = built.servers[0];
    assert.ok(server);
    built.sessionOpened(server, session);
    built.sessionOpened(server, { close: () => {} });
    built.sessionClosed(server, session);
    built.sessionClosed(server, session);
    const [status] = registry.pools();
    assert.equal(status?.pool, "p/proxy/pools[1]");
    assert.equal(status?.main, true);
    assert.equal(status?.policy, "weightedRandom");
    assert.equal(status?.available, true);
    assert.deepEqual(
      status?.servers.map((s) => [s.backend, s.weight, s.tags, s.state, s.eligible, s.activeConnections]),
      [
        [`127.0.0.1:${a.port}`, 3, ["blue"], "healthy", true, 1],
        [`127.0.0.1:${b.port}`, 1, [], "unhealthy", false, 0],
      ],
    );
    assert.equal(status?.servers[1]?.check?.lastReason, "http check: status 500 (expected 200-399)");
    assert.equal(status?.servers[1]?.check?.lastOk, false);
  });

  it("answers Retry-After from the next check when every server is unhealthy", async () => {
    const down = await backend("down");
    down.http = { status: 500, headers: {}, body: "", delayMs: 0 };
    const { pool: built, lines } = pool([down], httpCheck(4000, { timeout: 1000 }));
    await built.ready;
    assert.equal(built.pick(context), undefined);
    const retryAfter = built.retryAfterSeconds();
    assert.ok(retryAfter >= 1 && retryAfter <= 5, `Retry-After ${retryAfter}`);
    assert.equal(lines.filter((line) => line.event === "pool_health" && line.available === false).length, 1);
  });
});
