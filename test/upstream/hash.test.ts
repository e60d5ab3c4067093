import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLoadBalancer } from "../../src/upstream/balancer.js";
import type { LoadBalancer } from "../../src/upstream/balancer.js";
import type { UpstreamServer } from "../../src/upstream/server.js";
import { countPicks, servers } from "./fixtures.js";

const KEYS = Array.from({ length: 10_000 }, (_, index) => `198.51.${index >> 8}.${index & 255}`);

function byIp(balancer: LoadBalancer, ip: string): UpstreamServer | undefined {
  return balancer.pick({ clientIp: ip, headers: {} });
}

describe("ipHash", () => {
  it("sends one client to the same server every time", () => {
    const list = servers(1, 1, 1, 1);
    const balancer = createLoadBalancer({ policy: "ipHash" }, list);
    for (const ip of KEYS.slice(0, 200)) {
      const first = byIp(balancer, ip);
      for (let repeat = 0; repeat < 5; repeat++) assert.equal(byIp(balancer, ip), first);
    }
    // A rebuilt balancer over equal servers agrees: positions depend only on server identity.
    const rebuilt = createLoadBalancer({ policy: "ipHash" }, servers(1, 1, 1, 1));
    for (const ip of KEYS.slice(0, 200)) assert.equal(byIp(rebuilt, ip)?.hostPort, byIp(balancer, ip)?.hostPort);
  });

  it("hashes an IPv4-mapped IPv6 address like the IPv4 address", () => {
    const balancer = createLoadBalancer({ policy: "ipHash" }, servers(1, 1, 1, 1, 1));
    for (const ip of KEYS.slice(0, 100)) assert.equal(byIp(balancer, `::ffff:${ip}`), byIp(balancer, ip));
  });

  it("spreads clients across servers, in proportion to weight", () => {
    const even = servers(1, 1, 1, 1, 1);
    const evenBalancer = createLoadBalancer({ policy: "ipHash" }, even);
    let next = 0;
    const evenCounts = countPicks(even, KEYS.length, () => byIp(evenBalancer, KEYS[next++] ?? ""));
    for (const count of evenCounts) assert.ok(count > 1_400 && count < 2_600, `counts ${evenCounts.join(",")}`);

    const weighted = servers(3, 1);
    const weightedBalancer = createLoadBalancer({ policy: "ipHash" }, weighted);
    next = 0;
    const [heavy = 0] = countPicks(weighted, KEYS.length, () => byIp(weightedBalancer, KEYS[next++] ?? ""));
    assert.ok(heavy > 6_500 && heavy < 8_500, `heavy server got ${heavy} of ${KEYS.length}`);
  });

  it("moves only the removed server's keys when one of five servers goes away", () => {
    const full = servers(1, 1, 1, 1, 1);
    const removed = full[2]!;
    const before = createLoadBalancer({ policy: "ipHash" }, full);
    const after = createLoadBalancer(
      { policy: "ipHash" },
      full.filter((server) => server !== removed),
    );
    let moved = 0;
    for (const ip of KEYS) {
      const was = byIp(before, ip);
      const now = byIp(after, ip);
      if (was === now) continue;
      moved++;
      assert.equal(was, removed, `key ${ip} moved off a server that stayed`);
    }
    assert.ok(moved > 0 && moved < (2 * KEYS.length) / full.length, `moved ${moved} of ${KEYS.length}`);
  });

  it("walks clockwise past unhealthy and excluded servers, keeping everyone else's keys", () => {
    const list = servers(1, 1, 1, 1, 1);
    const balancer = createLoadBalancer({ policy: "ipHash" }, list);
    const home = new Map(KEYS.map((ip) => [ip, byIp(balancer, ip)]));
    list[1]!.healthy = false;
    const exclude = new Set([list[3]!]);
    for (const ip of KEYS) {
      const now = balancer.pick({ clientIp: ip, headers: {} }, exclude);
      assert.ok(now !== list[1] && now !== list[3]);
      const was = home.get(ip);
      if (was !== list[1] && was !== list[3]) assert.equal(now, was);
    }
  });
});

describe("headerHash", () => {
  const list = servers(1, 1, 1, 1);
  const balancer = createLoadBalancer({ policy: "headerHash", headerHashKey: "X-User" }, list);
  const byUser = (user: string | string[] | undefined): UpstreamServer | undefined =>
    balancer.pick({ clientIp: "192.0.2.9", headers: user === undefined ? {} : { "x-user": user } });

  it("sends one header value to the same server, whatever the client IP", () => {
    for (const user of KEYS.slice(0, 200)) {
      const first = byUser(user);
      assert.equal(balancer.pick({ clientIp: "203.0.113.5", headers: { "x-user": user } }), first);
    }
  });

  it("spreads distinct values across every server", () => {
    const hit = new Set(KEYS.slice(0, 1_000).map((user) => byUser(user)));
    assert.equal(hit.size, list.length);
  });

  it("uses the first value of a repeated header, and one fixed server when it is missing", () => {
    assert.equal(byUser(["alice", "bob"]), byUser("alice"));
    assert.equal(byUser(undefined), byUser(""));
    assert.ok(byUser(undefined) !== undefined);
  });

  it("needs headerHashKey", () => {
    assert.throws(() => createLoadBalancer({ policy: "headerHash" }, list), /headerHashKey/);
  });
});
