// Unit: why /readyz says not ready, from a control's own answers: a change pending, a change failed, a server not
// listening, a pool before its first check round; the reasons name no object.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { notReadyReasons } from "../../src/admin/probes.js";
import type { GatewayControl, StatusView } from "../../src/control/control.js";
import { MemoryObjectStore } from "../../src/control/memory-store.js";
import type { PoolStatus } from "../../src/upstream/status.js";

function pool(checked: boolean, lastAt: string | undefined): PoolStatus {
  return {
    pool: "secret-pipeline/proxy/pools[0]",
    main: true,
    policy: "roundRobin",
    healthCheck: checked,
    available: true,
    servers: [
      {
        url: "ws://10.0.0.7:9000/",
        backend: "10.0.0.7:9000",
        weight: 1,
        tags: [],
        state: "unknown",
        eligible: true,
        activeConnections: 0,
        since: "",
        reason: "",
        ...(checked
          ? { check: { health: "unknown" as const, streak: 0, ...(lastAt === undefined ? {} : { lastAt }) } }
          : {}),
        passive: { consecutiveFailures: 0, ejections: 0 },
      },
    ],
  };
}

function control(settled: Promise<string | undefined>, status: StatusView): GatewayControl {
  const store = new MemoryObjectStore([{ kind: "HTTPServer", name: "edge", data: { port: 1, rules: [] } }]);
  return {
    store,
    settled: () => settled,
    status: () => Promise.resolve(status),
    sessions: () => Promise.resolve([]),
    closeSession: () => Promise.resolve(false),
    drainServer: () => Promise.resolve([]),
    metrics: () => Promise.resolve({ contentType: "text/plain", body: "" }),
  };
}

const listening: StatusView = {
  listeners: [{ server: "edge", address: "127.0.0.1", port: 1, endpoint: "127.0.0.1:1" }],
  pools: [],
  sessions: 0,
};

describe("readyz reasons", () => {
  const cases: Array<[string, Promise<string | undefined>, StatusView, string[]]> = [
    ["ready", Promise.resolve(undefined), listening, []],
    ["ready, unchecked pool", Promise.resolve(undefined), { ...listening, pools: [pool(false, undefined)] }, []],
    [
      "ready, checked pool",
      Promise.resolve(undefined),
      { ...listening, pools: [pool(true, "2026-01-01T00:00:00Z")] },
      [],
    ],
    ["change pending", new Promise(() => undefined), listening, ["config change being applied"]],
    ["change failed", Promise.resolve("cannot listen on 10.0.0.7:80"), listening, ["last config change failed"]],
    [
      "not listening",
      Promise.resolve(undefined),
      { ...listening, listeners: [] },
      ["1 of 1 HTTPServers not listening"],
    ],
    [
      "first check round pending",
      Promise.resolve(undefined),
      { ...listening, pools: [pool(true, undefined)] },
      ["1 pools before their first health check round"],
    ],
  ];
  for (const [title, settled, status, reasons] of cases) {
    it(title, async () => {
      const found = await notReadyReasons(control(settled, status));
      assert.deepEqual(found, reasons);
      assert.doesNotMatch(found.join(" "), /10\.0\.0\.7|secret-pipeline|edge/);
    });
  }
});
