import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLoadBalancer } from "../../src/upstream/balancer.js";
import type { LoadBalancePolicy, LoadBalanceSpec } from "../../src/upstream/balancer.js";
import type { UpstreamServer } from "../../src/upstream/server.js";
import { context, servers } from "./fixtures.js";

const POLICIES: readonly LoadBalancePolicy[] = [
  "roundRobin",
  "random",
  "weightedRandom",
  "ipHash",
  "headerHash",
  "cookieHash",
  "leastConnections",
];

function spec(policy: LoadBalancePolicy): LoadBalanceSpec {
  return { policy, headerHashKey: "x-session", cookieHashKey: "sid" };
}

// What a proxy does on connect failures: retry with everything tried so far excluded.
function visitAll(policy: LoadBalancePolicy, list: readonly UpstreamServer[], clientIp: string): UpstreamServer[] {
  const balancer = createLoadBalancer(spec(policy), list);
  const tried = new Set<UpstreamServer>();
  const order: UpstreamServer[] = [];
  const request = { clientIp, headers: { "x-session": clientIp } };
  for (let attempt = 0; attempt <= list.length; attempt++) {
    const chosen = balancer.pick(request, tried);
    if (chosen === undefined) break;
    order.push(chosen);
    tried.add(chosen);
  }
  assert.equal(balancer.pick(request, tried), undefined, `${policy}: still picking after every server was tried`);
  return order;
}

describe("every policy", () => {
  for (const policy of POLICIES) {
    it(`${policy}: with a growing exclude set visits each eligible server exactly once`, () => {
      for (const weights of [
        [1, 1, 1, 1],
        [5, 1, 2],
        [0, 0, 0],
        [3, 0, 1, 0],
      ]) {
        for (const clientIp of ["192.0.2.1", "198.51.100.7", "2001:db8::1"]) {
          const list = servers(...weights);
          list[1]!.healthy = false;
          const order = visitAll(policy, list, clientIp);
          const eligible = list.filter((server) => server.healthy);
          assert.equal(order.length, eligible.length, `${policy} ${weights.join(",")}`);
          assert.deepEqual(new Set(order), new Set(eligible));
        }
      }
    });

    it(`${policy}: never picks an unhealthy server, and recovers it when healthy again`, () => {
      const list = servers(1, 2, 1);
      const balancer = createLoadBalancer(spec(policy), list);
      list[0]!.healthy = false;
      list[2]!.healthy = false;
      for (let round = 0; round < 200; round++) {
        const request = { clientIp: `10.1.0.${round}`, headers: { "x-session": String(round) } };
        assert.equal(balancer.pick(request), list[1]);
      }
      list[1]!.healthy = false;
      assert.equal(balancer.pick(context), undefined);
      list[2]!.healthy = true;
      assert.equal(balancer.pick(context), list[2]);
    });

    it(`${policy}: has nothing to pick from an empty list`, () => {
      assert.equal(createLoadBalancer(spec(policy), []).pick(context), undefined);
    });

    it(`${policy}: uses weight-0 servers among weighted ones only as standby`, () => {
      const list = servers(2, 0, 1);
      const balancer = createLoadBalancer(spec(policy), list);
      for (let round = 0; round < 100; round++) {
        const request = { clientIp: `10.2.0.${round}`, headers: { "x-session": String(round) } };
        assert.notEqual(balancer.pick(request), list[1]);
      }
      list[0]!.healthy = false;
      assert.equal(balancer.pick(context, new Set([list[2]!])), list[1]);
    });
  }

  it("rejects an unknown policy", () => {
    assert.throws(() => createLoadBalancer({ policy: "fastest" as LoadBalancePolicy }, servers(1)), /unknown policy/);
  });
});
