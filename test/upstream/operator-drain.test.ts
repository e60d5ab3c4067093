// The operator's drain of a pool's server (`wsgate drain`): which SERVER texts name it, that no policy picks it
// afterwards, that its live sessions close with 1001 `backend draining` spread over the window, and that the
// registry's `pool` narrows it. No sockets: the pool never connects; sessions are recorded closes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ServerPool, type PoolSpec } from "../../src/upstream/pool.js";
import { UpstreamStatusRegistry } from "../../src/upstream/status.js";
import type { LoadBalancePolicy } from "../../src/upstream/balance-types.js";
import { collectingLogger } from "../helpers/check-backends.js";
import { waitUntil } from "../helpers/net.js";

function pool(
  label: string,
  policy: LoadBalancePolicy,
  registry: UpstreamStatusRegistry,
  extra: Partial<PoolSpec> = {},
): ServerPool {
  const spec: PoolSpec = {
    ...extra,
    servers: ["ws://127.0.0.1:9095", "ws://127.0.0.1:9096/chat", "wss://backend.example"].map((url) => ({
      url,
      weight: 0,
      keepHost: false,
      tags: [],
    })),
    serverTags: [],
    loadBalance: { policy, ...(policy === "headerHash" ? { headerHashKey: "x-user" } : {}) },
  };
  return new ServerPool(spec, { label, log: collectingLogger().log, registry });
}

describe("operator drain of a pool's server", () => {
  it("matches host:port or the URL, nothing else", () => {
    const texts: [string, string | undefined][] = [
      ["127.0.0.1:9095", "127.0.0.1:9095"],
      ["ws://127.0.0.1:9095", "127.0.0.1:9095"],
      ["ws://127.0.0.1:9095/", "127.0.0.1:9095"],
      ["ws://127.0.0.1:9096/chat", "127.0.0.1:9096"],
      ["127.0.0.1:9096", "127.0.0.1:9096"],
      ["backend.example:443", "backend.example:443"],
      ["wss://backend.example", "backend.example:443"],
      ["wss://backend.example/", "backend.example:443"],
      ["backend.example", undefined],
      ["127.0.0.1", undefined],
      ["127.0.0.1:909", undefined],
      ["127.0.0.1:90950", undefined],
      ["http://127.0.0.1:9095", undefined],
      ["", undefined],
      ["*", undefined],
    ];
    for (const [text, backend] of texts) {
      const registry = new UpstreamStatusRegistry();
      const built = pool("p/proxy/pools[0]", "roundRobin", registry);
      const drained = registry.drain(text, 0);
      assert.deepEqual(
        drained.map((one) => one.backend),
        backend === undefined ? [] : [backend],
        text,
      );
      built.close();
    }
  });

  for (const policy of [
    "roundRobin",
    "random",
    "weightedRandom",
    "leastConnections",
    "ipHash",
    "headerHash",
  ] as const) {
    it(`${policy}: never picks a drained server, and the status says draining`, () => {
      const registry = new UpstreamStatusRegistry();
      const built = pool("p/proxy/pools[0]", policy, registry);
      registry.drain("127.0.0.1:9095", 0);
      for (let i = 0; i < 50; i++) {
        const picked = built.pick({ clientIp: `192.0.2.${i}`, headers: { "x-user": `u${i}` } });
        assert.notEqual(picked?.hostPort, "127.0.0.1:9095");
      }
      const [first, second] = built.status().servers;
      assert.deepEqual([first?.state, first?.eligible], ["draining", false]);
      assert.equal(second?.eligible, true);
      built.close();
    });
  }

  it("closes the live sessions with 1001 'backend draining', one every over/n; a second drain keeps the first", async () => {
    const registry = new UpstreamStatusRegistry();
    const built = pool("p/proxy/pools[0]", "roundRobin", registry);
    const server = built.servers[0];
    assert.ok(server);
    const closes: { at: number; code: number; reason: string }[] = [];
    for (let i = 0; i < 4; i++) {
      const session = {
        close: (code: number, reason: string) => {
          closes.push({ at: Date.now(), code, reason });
          built.sessionClosed(server, session);
        },
      };
      built.sessionOpened(server, session);
    }
    const started = Date.now();
    assert.equal(registry.drain("127.0.0.1:9095", 400)[0]?.sessions, 4);
    assert.equal(registry.drain("127.0.0.1:9095", 400)[0]?.sessions, 4, "the running drain's pending sessions");
    await waitUntil(() => (closes.length === 4 ? true : undefined), 5000, "every close");
    assert.ok(closes.every((close) => close.code === 1001 && close.reason === "backend draining"));
    const offsets = closes.map((close) => close.at - started);
    // The last of 4 is due at 3/4 of the 400 ms window: not early, not far late (timers run late under load).
    assert.ok((offsets[3] ?? 0) >= 290 && (offsets[3] ?? 0) <= 700, `spread: ${offsets}`);
    assert.equal(server.activeConnections, 0);
    built.close();
  });

  it("closes with the pool's backendCloseCodes.drained, session i of n at about i/n of the window", async () => {
    const registry = new UpstreamStatusRegistry();
    const built = pool("p/proxy/pools[0]", "roundRobin", registry, { backendCloseCodes: { drained: 1012 } });
    const server = built.servers[0];
    assert.ok(server);
    const closes: { at: number; code: number; reason: string }[] = [];
    const n = 5;
    for (let i = 0; i < n; i++) {
      const session = {
        close: (code: number, reason: string) => {
          closes.push({ at: Date.now(), code, reason });
          built.sessionClosed(server, session);
        },
      };
      built.sessionOpened(server, session);
    }
    const started = Date.now();
    const overMs = 1000;
    const [drained] = registry.drain("127.0.0.1:9095", overMs);
    assert.deepEqual([drained?.sessions, drained?.code], [n, 1012]);
    await waitUntil(() => (closes.length === n ? true : undefined), 5000, "every close");
    assert.ok(closes.every((close) => close.code === 1012 && close.reason === "backend draining"));
    const offsets = closes.map((close) => close.at - started);
    // Session i is due at i/n of the window: none early, none far late, the last before the window ends (+ room).
    offsets.forEach((offset, i) => {
      const due = (i / n) * overMs;
      assert.ok(offset >= due - 20 && offset <= due + 400, `session ${i} at ${offset} ms, due ${due}: ${offsets}`);
    });
    built.close();
  });

  it("only in the pool given", () => {
    const registry = new UpstreamStatusRegistry();
    const one = pool("a/proxy/pools[0]", "roundRobin", registry);
    const two = pool("b/proxy/pools[0]", "roundRobin", registry);
    assert.deepEqual(
      registry.drain("127.0.0.1:9095", 0, "b/proxy/pools[0]").map((drained) => drained.pool),
      ["b/proxy/pools[0]"],
    );
    assert.equal(one.status().servers[0]?.state, "healthy");
    assert.deepEqual(registry.drain("127.0.0.1:9095", 0, "c/proxy/pools[0]"), []);
    one.close();
    two.close();
  });
});
