import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLoadBalancer } from "../../src/upstream/balancer.js";
import { context, namer, servers } from "./fixtures.js";

function sequence(weights: number[], picks: number, prepare?: (list: ReturnType<typeof servers>) => void): string {
  const list = servers(...weights);
  prepare?.(list);
  const balancer = createLoadBalancer({ policy: "roundRobin" }, list);
  const name = namer(list);
  return Array.from({ length: picks }, () => name(balancer.pick(context))).join(" ");
}

describe("roundRobin", () => {
  it("rotates in order over equal weights", () => {
    assert.equal(sequence([1, 1, 1], 7), "a b c a b c a");
  });

  it("treats all-zero weights as equal", () => {
    assert.equal(sequence([0, 0, 0], 6), "a b c a b c");
  });

  it("follows nginx's smooth weighted sequence", () => {
    assert.equal(sequence([5, 1, 1], 14), "a a b a c a a a a b a c a a");
    assert.equal(sequence([2, 1], 6), "a b a a b a");
  });

  it("skips unhealthy servers and keeps rotating the rest", () => {
    assert.equal(
      sequence([1, 1, 1], 4, (list) => {
        list[1]!.healthy = false;
      }),
      "a c a c",
    );
  });

  it("gives nothing when no server is healthy or there are none", () => {
    assert.equal(
      sequence([1, 1], 2, (list) => {
        for (const server of list) server.healthy = false;
      }),
      "- -",
    );
    assert.equal(createLoadBalancer({ policy: "roundRobin" }, []).pick(context), undefined);
  });
});
