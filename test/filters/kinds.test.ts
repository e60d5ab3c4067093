// The filter registry holds one self-describing kind per filter, declared in the kind's own folder.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { proxyKind } from "../../src/filters/proxy/kind.js";
import { rateLimiterKind } from "../../src/filters/rate-limiter/kind.js";
import { filterKinds, filterRegistry, filterResults, isFilterKind } from "../../src/filters/registry.js";
import { validatorKind } from "../../src/filters/validator/kind.js";
import { webSocketProxyKind } from "../../src/filters/websocket-proxy/kind.js";
import { webSocketUpgradeCheckKind } from "../../src/filters/websocket-upgrade-check/kind.js";

describe("filter kinds", () => {
  it("registers each folder's kind under its own name, in the reference doc's order", () => {
    const declared = [webSocketProxyKind, proxyKind, webSocketUpgradeCheckKind, validatorKind, rateLimiterKind];
    assert.deepEqual(filterKinds, ["WebSocketProxy", "Proxy", "WebSocketUpgradeCheck", "Validator", "RateLimiter"]);
    for (const kind of declared) {
      assert.equal(filterRegistry[kind.name], kind, `${kind.name} is the object its folder declares`);
      assert.ok(isFilterKind(kind.name));
    }
    assert.equal(isFilterKind("toString"), false, "an inherited property is no kind");
  });

  it("each kind's schema takes its own name as `kind` and no other", () => {
    for (const name of filterKinds) {
      const { schema } = filterRegistry[name];
      const kindIssues = (kind: string): unknown[] => {
        const parsed = schema.safeParse({ kind, name: "f" });
        return parsed.success ? [] : parsed.error.issues.filter((issue) => issue.path[0] === "kind");
      };
      assert.deepEqual(kindIssues(name), [], `${name} accepts kind: ${name}`);
      const other = filterKinds.find((kind) => kind !== name) ?? "";
      assert.notDeepEqual(kindIssues(other), [], `${name} refuses kind: ${other}`);
    }
  });

  it("each kind says what it does and lists its results (no empty or repeated result; '' means go on)", () => {
    for (const name of filterKinds) {
      const kind = filterRegistry[name];
      assert.ok(kind.description.length > 20, `${name} has a description`);
      assert.ok(kind.results.length > 0, `${name} has results`);
      assert.equal(new Set(kind.results).size, kind.results.length, `${name}: no result twice`);
      assert.ok(!kind.results.includes(""), `${name}: "" is not a result`);
      assert.deepEqual(filterResults(name), kind.results);
    }
    assert.deepEqual(filterResults("Validator"), ["invalid"]);
    assert.deepEqual(filterResults("RateLimiter"), ["rateLimited"]);
    assert.deepEqual(filterResults("Proxy"), ["clientError", "serverError", "failureCode"]);
    assert.deepEqual(filterResults("WebSocketProxy"), ["clientError", "serverError"]);
    assert.deepEqual(filterResults("WebSocketUpgradeCheck"), ["invalid"]);
  });

  it("only kinds that carry state across a reload declare inherit", () => {
    const inheriting = filterKinds.filter((name) => filterRegistry[name].inherit !== undefined);
    assert.deepEqual(inheriting, ["RateLimiter"]);
  });
});
