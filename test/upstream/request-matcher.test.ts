// A candidate pool's `filter` (Easegress's RequestMatcher): which requests it takes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createRequestMatcher,
  fnv1,
  type MatchRequest,
  type RequestMatcherSpec,
} from "../../src/upstream/request-matcher.js";
import { seededRandom } from "./fixtures.js";

function spec(extra: Partial<RequestMatcherSpec>): RequestMatcherSpec {
  return { policy: "general", headers: {}, urls: [], matchAllHeaders: false, permil: 0, ...extra };
}

function request(extra: Partial<MatchRequest> = {}): MatchRequest {
  return { method: "GET", path: "/ws", headers: {}, clientIp: "192.0.2.1", ...extra };
}

describe("request matcher: general", () => {
  it("matches header values exactly, by prefix, by regex, and absent or empty values with empty", () => {
    const matcher = createRequestMatcher(
      spec({
        headers: {
          "X-Canary": { exact: "yes" },
          "X-Tenant": { prefix: "acme-" },
          "X-Version": { regex: "^v2\\." },
          "X-Legacy": { empty: true },
        },
      }),
    );
    const with_ = (headers: Record<string, string[]>) => matcher.matches(request({ headers }));
    // X-Legacy is absent in these requests, which `empty` matches: any one header rule is enough.
    assert.equal(with_({}), true);
    const strict = createRequestMatcher(spec({ headers: { "X-Canary": { exact: "yes" } } }));
    assert.equal(strict.matches(request({ headers: { "x-canary": ["yes"] } })), true);
    assert.equal(strict.matches(request({ headers: { "x-canary": ["no"] } })), false);
    assert.equal(strict.matches(request()), false);
    const prefix = createRequestMatcher(spec({ headers: { "X-Tenant": { prefix: "acme-" } } }));
    assert.equal(prefix.matches(request({ headers: { "x-tenant": ["acme-eu"] } })), true);
    assert.equal(prefix.matches(request({ headers: { "x-tenant": ["globex"] } })), false);
    const regex = createRequestMatcher(spec({ headers: { "X-Version": { regex: "^v2\\." } } }));
    assert.equal(regex.matches(request({ headers: { "x-version": ["v2.1"] } })), true);
    assert.equal(regex.matches(request({ headers: { "x-version": ["v3.0"] } })), false);
    const empty = createRequestMatcher(spec({ headers: { "X-Legacy": { empty: true } } }));
    assert.equal(empty.matches(request({ headers: { "x-legacy": [""] } })), true);
    assert.equal(empty.matches(request({ headers: { "x-legacy": ["1"] } })), false);
  });

  it("needs one matching header by default and every header with matchAllHeaders; a repeated header matches by any value", () => {
    const headers = { "X-A": { exact: "1" }, "X-B": { exact: "2" } };
    const any = createRequestMatcher(spec({ headers }));
    const all = createRequestMatcher(spec({ headers, matchAllHeaders: true }));
    const one = request({ headers: { "x-a": ["1"] } });
    const both = request({ headers: { "x-a": ["0", "1"], "x-b": ["2"] } });
    assert.equal(any.matches(one), true);
    assert.equal(all.matches(one), false);
    assert.equal(all.matches(both), true);
    assert.equal(any.matches(request({ headers: { "x-a": ["0"] } })), false);
  });

  it("also needs one of the urls (method and path) to match when urls are given", () => {
    const matcher = createRequestMatcher(
      spec({
        headers: { "X-Canary": { exact: "yes" } },
        urls: [{ methods: ["GET"], url: { prefix: "/chat/" } }],
      }),
    );
    const canary = { "x-canary": ["yes"] };
    assert.equal(matcher.matches(request({ path: "/chat/room1", headers: canary })), true);
    assert.equal(matcher.matches(request({ path: "/feed", headers: canary })), false);
    assert.equal(matcher.matches(request({ path: "/chat/room1", method: "POST", headers: canary })), false);
    assert.equal(matcher.matches(request({ path: "/chat/room1" })), false);
    const urlsOnly = createRequestMatcher(spec({ urls: [{ methods: [], url: { exact: "/beta" } }] }));
    assert.equal(urlsOnly.matches(request({ path: "/beta" })), true);
    assert.equal(urlsOnly.matches(request({ path: "/beta/x" })), false);
  });
});

describe("request matcher: permil policies", () => {
  it("hashes like Easegress (32-bit FNV-1)", () => {
    assert.equal(fnv1(""), 0x811c9dc5);
    assert.equal(fnv1("a"), 0x050c5d7e);
    assert.equal(fnv1("foobar"), 0x31f0b262);
  });

  it("headerHash takes a stable share of header values, about permil of them", () => {
    const matcher = createRequestMatcher(spec({ policy: "headerHash", permil: 250, headerHashKey: "X-User" }));
    const users = Array.from({ length: 4000 }, (_, index) => `user-${index}`);
    const taken = users.filter((user) => matcher.matches(request({ headers: { "x-user": [user] } })));
    assert.ok(taken.length > 850 && taken.length < 1150, `${taken.length} of 4000 at 250 permil`);
    for (const user of users.slice(0, 200)) {
      const first = matcher.matches(request({ headers: { "x-user": [user] } }));
      assert.equal(matcher.matches(request({ headers: { "x-user": [user] } })), first);
      assert.equal(first, fnv1(user) % 1000 < 250);
    }
  });

  it("ipHash decides by client address (IPv4-mapped as plain IPv4); random by chance", () => {
    const ip = createRequestMatcher(spec({ policy: "ipHash", permil: 500 }));
    const addresses = Array.from({ length: 2000 }, (_, index) => `10.1.${index >> 8}.${index & 255}`);
    const taken = addresses.filter((address) => ip.matches(request({ clientIp: address })));
    assert.ok(taken.length > 850 && taken.length < 1150, `${taken.length} of 2000 at 500 permil`);
    for (const address of addresses.slice(0, 100)) {
      assert.equal(ip.matches(request({ clientIp: `::ffff:${address}` })), ip.matches(request({ clientIp: address })));
    }
    const all = createRequestMatcher(spec({ policy: "random", permil: 1000 }), seededRandom(1));
    const some = createRequestMatcher(spec({ policy: "random", permil: 100 }), seededRandom(2));
    let count = 0;
    for (let i = 0; i < 5000; i++) {
      assert.equal(all.matches(request()), true);
      if (some.matches(request())) count++;
    }
    assert.ok(count > 400 && count < 600, `${count} of 5000 at 100 permil`);
  });
});
