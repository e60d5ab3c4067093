// Consistent hashing under change (weights, removal, addition), the cookieHash policy and sticky-session cookies.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLoadBalancer } from "../../src/upstream/balancer.js";
import { HashRing } from "../../src/upstream/hash-ring.js";
import { hash32 } from "../../src/upstream/hash32.js";
import { UpstreamServer } from "../../src/upstream/server.js";
import { StickySession, type StickySessionSpec } from "../../src/upstream/sticky-session.js";
import { seededRandom, servers } from "./fixtures.js";

const KEYS = Array.from({ length: 20_000 }, (_, index) => hash32(`session-${index}`));

function owners(ring: HashRing): Array<UpstreamServer | undefined> {
  return KEYS.map((key) => ring.pick(key, undefined));
}

function server(host: string, weight = 0): UpstreamServer {
  return new UpstreamServer({ url: `ws://${host}:9000`, weight, keepHost: false, tags: [] });
}

function withCookie(cookie: string) {
  return { clientIp: "192.0.2.1", headers: { cookie } };
}

describe("consistent hashing", () => {
  it("gives weighted servers shares in proportion to their weights", () => {
    const list = servers(1, 2, 3, 4);
    const counts = new Map<UpstreamServer | undefined, number>();
    for (const owner of owners(new HashRing(list))) counts.set(owner, (counts.get(owner) ?? 0) + 1);
    for (const [index, weight] of [1, 2, 3, 4].entries()) {
      const share = (counts.get(list[index]) ?? 0) / KEYS.length;
      const expected = weight / 10;
      assert.ok(Math.abs(share - expected) < expected * 0.2, `weight ${weight}: share ${share.toFixed(3)}`);
    }
  });

  it("moves only the removed server's keys, about its share of them, also with weights", () => {
    const list = servers(1, 2, 3, 4);
    const removed = list[1] as UpstreamServer;
    const before = owners(new HashRing(list));
    const after = owners(new HashRing(list.filter((entry) => entry !== removed)));
    let moved = 0;
    for (const [index, was] of before.entries()) {
      if (after[index] === was) continue;
      moved++;
      assert.equal(was, removed, "a key moved off a server that stayed");
    }
    const share = moved / KEYS.length;
    assert.ok(share > 0.15 && share < 0.25, `moved ${share.toFixed(3)} of the keys (the removed weight is 2/10)`);
  });

  it("moves about 1/(N+1) of the keys, all onto the new server, when a server is added", () => {
    const list = servers(1, 1, 1, 1);
    const added = server("10.0.0.99");
    const before = owners(new HashRing(list));
    const after = owners(new HashRing([...list, added]));
    let moved = 0;
    for (const [index, was] of before.entries()) {
      if (after[index] === was) continue;
      moved++;
      assert.equal(after[index], added, "a key moved between servers that were already there");
    }
    const share = moved / KEYS.length;
    assert.ok(share > 0.14 && share < 0.26, `moved ${share.toFixed(3)} of the keys (expected about 1/5)`);
  });
});

describe("cookieHash", () => {
  const list = servers(1, 1, 1, 1);
  const balancer = createLoadBalancer({ policy: "cookieHash", cookieHashKey: "sid" }, list);

  it("sends one cookie value to one server, spreads values over all servers, and reads the cookie among others", () => {
    const seen = new Set<UpstreamServer | undefined>();
    for (let index = 0; index < 400; index++) {
      const first = balancer.pick(withCookie(`sid=user-${index}`));
      assert.equal(balancer.pick(withCookie(`theme=dark; sid=user-${index}; lang=en`)), first);
      seen.add(first);
    }
    assert.equal(seen.size, list.length);
  });

  it("hashes the client address when the cookie is missing, and needs cookieHashKey", () => {
    const ipHash = createLoadBalancer({ policy: "ipHash" }, list);
    for (const ip of ["198.51.100.1", "198.51.100.2", "203.0.113.9"]) {
      assert.equal(balancer.pick({ clientIp: ip, headers: {} }), ipHash.pick({ clientIp: ip, headers: {} }));
    }
    assert.throws(() => createLoadBalancer({ policy: "cookieHash" }, list), /cookieHashKey/);
  });
});

describe("sticky session cookies (CookieConsistentHash)", () => {
  const spec: StickySessionSpec = {
    mode: "CookieConsistentHash",
    lbCookieName: "wsgate_lb",
    lbCookieExpire: 3_600_000,
  };

  function cookieFor(sticky: StickySession, target: UpstreamServer, request = { clientIp: "192.0.2.1", headers: {} }) {
    const header = sticky.setCookie(target, request, Date.UTC(2030, 0, 1));
    assert.ok(header !== undefined);
    return header;
  }

  it("sets a cookie that leads back to the server that took the client, with its expiry", () => {
    const list = [server("10.0.0.1"), server("10.0.0.2"), server("10.0.0.3", 0)];
    const sticky = new StickySession(spec, list, seededRandom(7));
    for (const target of list) {
      for (let round = 0; round < 20; round++) {
        const header = cookieFor(sticky, target);
        assert.match(
          header,
          /^wsgate_lb=[0-9a-f]{8}; Path=\/; Max-Age=3600; Expires=Tue, 01 Jan 2030 01:00:00 GMT; HttpOnly$/,
        );
        const value = header.split(";")[0] ?? "";
        assert.equal(sticky.pick(withCookie(value)), target);
      }
    }
    assert.equal(sticky.pick({ clientIp: "192.0.2.1", headers: {} }), undefined, "no cookie: the policy decides");
  });

  it("renews a cookie that already leads to the server, and replaces one that leads elsewhere", () => {
    const list = [server("10.0.0.1"), server("10.0.0.2")];
    const [a, b] = list as [UpstreamServer, UpstreamServer];
    const sticky = new StickySession(spec, list, seededRandom(3));
    const toA = (cookieFor(sticky, a).split(";")[0] ?? "").trim();
    assert.equal((cookieFor(sticky, a, withCookie(toA)).split(";")[0] ?? "").trim(), toA);
    const toB = (cookieFor(sticky, b, withCookie(toA)).split(";")[0] ?? "").trim();
    assert.notEqual(toB, toA);
    assert.equal(sticky.pick(withCookie(toB)), b);
  });

  it("walks on to another server when the cookie's server is unhealthy or excluded, and back when it recovers", () => {
    const list = [server("10.0.0.1"), server("10.0.0.2"), server("10.0.0.3")];
    const [a] = list as [UpstreamServer];
    const sticky = new StickySession(spec, list, seededRandom(5));
    const cookie = (cookieFor(sticky, a).split(";")[0] ?? "").trim();
    a.healthy = false;
    const elsewhere = sticky.pick(withCookie(cookie));
    assert.ok(elsewhere !== undefined && elsewhere !== a);
    a.healthy = true;
    assert.equal(sticky.pick(withCookie(cookie)), a);
    assert.notEqual(sticky.pick(withCookie(cookie), new Set([a])), a);
  });

  it("hashes the application's cookie when the gateway's is absent", () => {
    const list = [server("10.0.0.1"), server("10.0.0.2"), server("10.0.0.3")];
    const sticky = new StickySession({ ...spec, appCookieName: "JSESSIONID" }, list);
    const seen = new Set<UpstreamServer | undefined>();
    for (let index = 0; index < 100; index++) {
      const first = sticky.pick(withCookie(`JSESSIONID=abc${index}`));
      assert.ok(first !== undefined);
      assert.equal(sticky.pick(withCookie(`JSESSIONID=abc${index}`)), first);
      seen.add(first);
    }
    assert.equal(seen.size, 3);
    const appOnly = new StickySession(
      { mode: "CookieConsistentHash", appCookieName: "sid", lbCookieExpire: 1000 },
      list,
    );
    assert.equal(appOnly.setCookie(list[0] as UpstreamServer, withCookie("sid=1")), undefined, "no lbCookieName");
  });
});
