import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLoadBalancer } from "../../src/upstream/balancer.js";
import { context, namer, servers } from "./fixtures.js";

describe("leastConnections", () => {
  it("picks the server with the fewest active connections", () => {
    const list = servers(1, 1, 1);
    const balancer = createLoadBalancer({ policy: "leastConnections" }, list);
    list[0]!.activeConnections = 5;
    list[1]!.activeConnections = 2;
    list[2]!.activeConnections = 4;
    for (let round = 0; round < 4; round++) assert.equal(balancer.pick(context), list[1]);
  });

  it("divides connections by weight", () => {
    const list = servers(3, 1);
    const balancer = createLoadBalancer({ policy: "leastConnections" }, list);
    list[0]!.activeConnections = 5; // 5/3
    list[1]!.activeConnections = 2; // 2/1
    assert.equal(balancer.pick(context), list[0]);
    list[0]!.activeConnections = 7; // 7/3
    assert.equal(balancer.pick(context), list[1]);
  });

  it("rotates among tied servers", () => {
    const list = servers(1, 1, 1);
    const balancer = createLoadBalancer({ policy: "leastConnections" }, list);
    const name = namer(list);
    assert.equal(Array.from({ length: 6 }, () => name(balancer.pick(context))).join(" "), "a b c a b c");
    list[1]!.activeConnections = 1;
    assert.equal(Array.from({ length: 4 }, () => name(balancer.pick(context))).join(" "), "a c a c");
  });

  it("balances as the proxy opens connections on the picked server", () => {
    const list = servers(2, 1, 1);
    const balancer = createLoadBalancer({ policy: "leastConnections" }, list);
    for (let round = 0; round < 400; round++) {
      const chosen = balancer.pick(context);
      assert.ok(chosen);
      chosen.activeConnections++;
    }
    assert.deepEqual(
      list.map((server) => server.activeConnections),
      [200, 100, 100],
    );
  });
});
