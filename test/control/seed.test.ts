import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ConfigObject } from "../../src/config/load.js";
import { MemoryObjectStore } from "../../src/control/memory-store.js";
import { SeedInvalidError, seedStore } from "../../src/control/seed.js";

const server = (backend: string): ConfigObject => ({
  kind: "HTTPServer",
  name: "edge",
  data: { kind: "HTTPServer", name: "edge", port: 18080, rules: [{ paths: [{ path: "/ws", backend }] }] },
});
const pipeline = (name: string): ConfigObject => ({
  kind: "Pipeline",
  name,
  data: {
    kind: "Pipeline",
    name,
    filters: [{ kind: "WebSocketProxy", name: "wsproxy", pools: [{ servers: [{ url: "ws://127.0.0.1:9095" }] }] }],
  },
});

describe("--seed", () => {
  it("validates the cluster's objects merged with the seed, so objects others added count", async () => {
    const store = new MemoryObjectStore([pipeline("added-by-admin")]);
    // Alone, the server's backend would be missing; with the pipeline already in the store it loads.
    await seedStore(store, [server("added-by-admin")]);
    assert.ok(store.get("edge"));
  });

  it("writes nothing when the merged set would not load", async () => {
    const store = new MemoryObjectStore([pipeline("ws-rr")]);
    await assert.rejects(seedStore(store, [server("missing")]), (error) => {
      assert.ok(error instanceof SeedInvalidError);
      assert.match(error.message, /missing/);
      return true;
    });
    assert.deepEqual(
      store.list().map((stored) => stored.object.name),
      ["ws-rr"],
    );
  });
});
