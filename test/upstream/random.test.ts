import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLoadBalancer } from "../../src/upstream/balancer.js";
import type { LoadBalancePolicy } from "../../src/upstream/balancer.js";
import { context, countPicks, seededRandom, servers } from "./fixtures.js";

// With Math.random, tolerances are over 10 standard deviations: a failure means a bug, not bad luck.
function shares(policy: LoadBalancePolicy, weights: number[], picks: number, random?: () => number): number[] {
  const list = servers(...weights);
  const balancer = createLoadBalancer({ policy }, list, { random });
  return countPicks(list, picks, () => balancer.pick(context)).map((count) => count / picks);
}

function assertShares(actual: number[], expected: number[], tolerance: number): void {
  assert.equal(actual.length, expected.length);
  for (const [index, share] of actual.entries()) {
    const want = expected[index] ?? Number.NaN;
    assert.ok(Math.abs(share - want) <= tolerance, `server ${index}: share ${share}, expected ${want} ± ${tolerance}`);
  }
}

describe("random", () => {
  it("spreads evenly and ignores weights", () => {
    assertShares(shares("random", [5, 1, 1], 30_000), [1 / 3, 1 / 3, 1 / 3], 0.03);
  });

  it("uses the injected random source", () => {
    const list = servers(1, 1, 1, 1);
    const balancer = createLoadBalancer({ policy: "random" }, list, { random: () => 0.6 });
    assert.equal(balancer.pick(context), list[2]);
    const top = createLoadBalancer({ policy: "random" }, list, { random: () => 0.999999999 });
    assert.equal(top.pick(context), list[3]);
  });

  it("is even with a seeded source too", () => {
    assertShares(shares("random", [1, 1], 10_000, seededRandom(7)), [0.5, 0.5], 0.03);
  });
});

describe("weightedRandom", () => {
  it("picks in proportion to weight", () => {
    assertShares(shares("weightedRandom", [3, 1], 20_000), [0.75, 0.25], 0.04);
    assertShares(shares("weightedRandom", [6, 3, 1], 20_000, seededRandom(11)), [0.6, 0.3, 0.1], 0.03);
  });

  it("treats all-zero weights as equal", () => {
    assertShares(shares("weightedRandom", [0, 0], 20_000), [0.5, 0.5], 0.04);
  });

  it("maps the random value onto cumulative weights", () => {
    const list = servers(3, 1);
    const at = (value: number) =>
      createLoadBalancer({ policy: "weightedRandom" }, list, { random: () => value }).pick(context);
    assert.equal(at(0), list[0]);
    assert.equal(at(0.74), list[0]);
    assert.equal(at(0.75), list[1]);
    assert.equal(at(0.9999999), list[1]);
  });

  it("renormalizes over the servers that are left", () => {
    const list = servers(3, 1, 4);
    list[2]!.healthy = false;
    const balancer = createLoadBalancer({ policy: "weightedRandom" }, list, { random: seededRandom(3) });
    const counts = countPicks(list, 20_000, () => balancer.pick(context, new Set([list[0]!])));
    assert.deepEqual(counts, [0, 20_000, 0]);
  });
});
