// Passive health (outlier detection) on a pool: failures of real connections eject a server for a back-off that
// grows while it keeps failing; a trial connection or a passing check brings it back.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { PassiveHealthSpec } from "../../src/upstream/health/types.js";
import { ServerPool, type PoolSpec } from "../../src/upstream/pool.js";
import type { UpstreamServer } from "../../src/upstream/server.js";
import { UpstreamStatusRegistry } from "../../src/upstream/status.js";
import { collectingLogger, startCheckBackend, type CheckBackend } from "../helpers/check-backends.js";
import { waitUntil } from "../helpers/net.js";

const context = { clientIp: "192.0.2.1", headers: {} };
const pools: ServerPool[] = [];
const backends: CheckBackend[] = [];

after(async () => {
  for (const pool of pools) pool.close();
  await Promise.all(backends.map((backend) => backend.stop()));
});

function build(urls: string[], passive: PassiveHealthSpec | undefined, extra: Partial<PoolSpec> = {}) {
  const { log, lines } = collectingLogger();
  const pool = new ServerPool(
    {
      servers: urls.map((url) => ({ url, weight: 0, keepHost: false, tags: [] })),
      serverTags: [],
      loadBalance: { policy: "roundRobin" },
      ...(passive === undefined ? {} : { passiveHealth: passive }),
      ...extra,
    },
    { label: "p/proxy/pools[0]", log, registry: new UpstreamStatusRegistry() },
  );
  pools.push(pool);
  return { pool, lines, a: pool.servers[0] as UpstreamServer, b: pool.servers[1] as UpstreamServer };
}

const URLS = ["ws://127.0.0.1:1", "ws://127.0.0.1:2"];
const SHORT: PassiveHealthSpec = { enabled: true, fails: 2, baseEjectionTime: 80, maxEjectionTime: 300 };

function stateOf(pool: ServerPool, server: UpstreamServer) {
  const status = pool.status().servers.find((entry) => entry.backend === server.hostPort);
  assert.ok(status);
  return status;
}

function ejectionMs(lines: Array<Record<string, unknown>>): unknown[] {
  return lines.filter((line) => line.health === "ejected").map((line) => line.ejectionMs);
}

describe("passive health", () => {
  it("ejects a server after `fails` failures in a row, and skips it while ejected", async () => {
    const { pool, lines, a, b } = build(URLS, { ...SHORT, baseEjectionTime: 10_000, maxEjectionTime: 60_000 });
    await pool.ready;
    pool.reportFailure(a, "connection refused");
    assert.equal(a.healthy, true, "one failure is not enough with fails: 2");
    pool.reportSuccess(a);
    pool.reportFailure(a, "connection refused");
    assert.equal(a.healthy, true, "a success in between starts the count again");
    pool.reportFailure(a, "connection refused");
    assert.equal(a.healthy, false);
    assert.equal(stateOf(pool, a).state, "ejected");
    for (let i = 0; i < 6; i++) assert.equal(pool.pick(context), b);
    const [line] = lines.filter((entry) => entry.event === "backend_health");
    assert.equal(line?.msg, "backend ejected");
    assert.equal(line?.reason, "connection refused (2 failures in a row)");
    assert.equal(line?.backend, "127.0.0.1:1");
    assert.equal(line?.pool, "p/proxy/pools[0]");
    assert.equal(line?.ejectionMs, 10_000);
  });

  it("doubles the ejection while the server keeps failing its trials, up to the maximum, and resets on success", async () => {
    const { pool, lines, a } = build(URLS, SHORT);
    await pool.ready;
    pool.reportFailure(a, "dial timeout");
    pool.reportFailure(a, "dial timeout");
    for (const expected of [160, 300, 300]) {
      await waitUntil(() => (stateOf(pool, a).state === "trial" ? true : undefined), 2000, "the trial");
      assert.equal(a.healthy, true, "a server on trial takes connections again");
      pool.reportFailure(a, "dial timeout");
      assert.equal(stateOf(pool, a).state, "ejected", "one failed trial ejects again");
      assert.equal(ejectionMs(lines).at(-1), expected);
    }
    await waitUntil(() => (stateOf(pool, a).state === "trial" ? true : undefined), 2000, "the last trial");
    pool.reportSuccess(a);
    assert.equal(stateOf(pool, a).state, "healthy");
    assert.equal(stateOf(pool, a).passive.ejections, 0);
    pool.reportFailure(a, "dial timeout");
    pool.reportFailure(a, "dial timeout");
    assert.equal(ejectionMs(lines).at(-1), 80, "the back-off starts over after a success");
    const states = lines.filter((line) => line.event === "backend_health").map((line) => line.health);
    assert.deepEqual(states, [
      "ejected",
      "trial",
      "ejected",
      "trial",
      "ejected",
      "trial",
      "ejected",
      "trial",
      "healthy",
      "ejected",
    ]);
    assert.equal(lines.filter((line) => line.reason === "trial connection succeeded").length, 1);
  });

  it("gives the server whose ejection ends first a trial when every server is ejected, instead of nothing", async () => {
    const { pool, a, b } = build(URLS, { ...SHORT, fails: 1, baseEjectionTime: 10_000, maxEjectionTime: 60_000 });
    await pool.ready;
    pool.reportFailure(b, "connection refused");
    await new Promise((resolve) => setTimeout(resolve, 5));
    pool.reportFailure(a, "connection refused");
    assert.equal(pool.pick(context), b, "b's ejection ends first");
    assert.equal(pool.pick(context, new Set([b])), a);
    assert.equal(pool.pick(context, new Set([a, b])), undefined);
  });

  it("never ejects when passive health is off", async () => {
    const { pool, a } = build(URLS, { ...SHORT, enabled: false });
    await pool.ready;
    for (let i = 0; i < 10; i++) pool.reportFailure(a, "connection refused");
    assert.equal(a.healthy, true);
  });

  it("ends an ejection when an active check passes", async () => {
    const live = await startCheckBackend("live");
    backends.push(live);
    const { pool, lines, a } = build(
      [live.url],
      { enabled: true, baseEjectionTime: 60_000, maxEjectionTime: 60_000 },
      {
        healthCheck: {
          interval: 60,
          timeout: 1000,
          fails: 1,
          pass: 1,
          http: { uri: "/", method: "GET", headers: {}, match: { statusCodes: [[200, 399]], headers: [] } },
        },
      },
    );
    await pool.ready;
    pool.reportFailure(a, "status 502");
    assert.equal(stateOf(pool, a).state, "ejected", "fails defaults to the health check's fails (1)");
    await waitUntil(() => (stateOf(pool, a).state === "healthy" ? true : undefined), 2000, "the next check");
    assert.equal(lines.filter((line) => line.event === "backend_health").at(-1)?.reason, "health check passed");
  });
});
