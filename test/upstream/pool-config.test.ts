// The configuration of pools: candidate pools, filters, sticky sessions, passive health and draining, as users
// write them, with every mistake reported at its line.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatConfigError, loadConfigText } from "../../src/config/load.js";
import { yaml } from "../config/temp-config.js";

const FILE = "pools.yaml";

function errors(text: string): string[] {
  const result = loadConfigText(text, FILE);
  if (result.ok) throw new Error("expected the configuration to be rejected");
  return result.errors.map(formatConfigError);
}

describe("pool configuration", () => {
  it("accepts candidate pools with filters, sticky sessions, cookieHash, passive health and drainSessions", () => {
    const result = loadConfigText(
      yaml`
        kind: Pipeline
        name: ws
        filters:
        - kind: WebSocketProxy
          name: proxy
          pools:
          - servers: [{ url: ws://127.0.0.1:9001 }]
            filter:
              matchAllHeaders: true
              headers:
                X-Canary: { exact: "yes" }
                X-Legacy: { empty: true }
              urls:
              - methods: [GET]
                url: { regex: "^/ws/v[0-9]+" }
          - servers: [{ url: ws://127.0.0.1:9002 }]
            filter: { policy: random, permil: 50 }
          - servers: [{ url: ws://127.0.0.1:9003 }, { url: ws://127.0.0.1:9004 }]
            loadBalance:
              policy: cookieHash
              cookieHashKey: JSESSIONID
              stickySession: { mode: CookieConsistentHash, lbCookieName: wsgate_lb, lbCookieExpire: 30m }
            passiveHealth: { baseEjectionTime: 2s }
            healthCheck:
              interval: 5s
              passes: 2
              http: { uri: /health }
              drainSessions: { after: 1s }
      `,
      FILE,
    );
    assert.ok(result.ok, result.ok ? "" : result.errors.map(formatConfigError).join("\n"));
    const proxy = result.config.pipelines[0]?.filters[0];
    assert.equal(proxy?.kind, "WebSocketProxy");
    const [candidate, random, main] = proxy.pools;
    assert.deepEqual(candidate?.filter, {
      policy: "general",
      matchAllHeaders: true,
      headers: { "X-Canary": { exact: "yes" }, "X-Legacy": { empty: true } },
      urls: [{ methods: ["GET"], url: { regex: "^/ws/v[0-9]+" } }],
      permil: 0,
    });
    assert.equal(random?.filter?.permil, 50);
    assert.equal(main?.filter, undefined);
    assert.deepEqual(main?.loadBalance.stickySession, {
      mode: "CookieConsistentHash",
      lbCookieName: "wsgate_lb",
      lbCookieExpire: 1_800_000,
    });
    assert.deepEqual(main?.passiveHealth, { enabled: true, baseEjectionTime: 2000, maxEjectionTime: 300_000 });
    assert.equal(main?.healthCheck?.pass, 2);
    assert.deepEqual(main?.healthCheck?.drainSessions, { after: 1000, over: 30_000 });
  });

  it("needs exactly one main pool", () => {
    const pools = (a: string, b: string) => yaml`
      kind: Pipeline
      name: ws
      filters:
      - kind: WebSocketProxy
        name: proxy
        pools:
        - servers: [{ url: ws://127.0.0.1:9001 }]${a}
        - servers: [{ url: ws://127.0.0.1:9002 }]${b}
    `;
    const filter = "\n          filter: { headers: { X-A: { exact: b } } }";
    assert.deepEqual(errors(pools(filter, filter)), [
      `${FILE}:7 pipeline ws filter proxy pools: one pool must have no 'filter': the main pool, which takes what no candidate pool matches`,
    ]);
    assert.deepEqual(errors(pools("", "")), [
      `${FILE}:8 pipeline ws filter proxy pools[1]: pools[0] is already the main pool (the one without 'filter'); give this pool a 'filter'`,
    ]);
  });

  it("reports every mistake in filters, sticky sessions, cookieHash and passive health at its line", () => {
    assert.deepEqual(
      errors(yaml`
        kind: Pipeline
        name: ws
        filters:
        - kind: WebSocketProxy
          name: proxy
          pools:
          - servers: [{ url: ws://127.0.0.1:9001 }]
            filter: { policy: general }
          - servers: [{ url: ws://127.0.0.1:9002 }]
            filter:
              policy: headerHash
              headers:
                X-A: { exact: a, empty: true }
                X-B: {}
                X-C: { regex: "(" }
          - servers: [{ url: ws://127.0.0.1:9003 }]
            loadBalance:
              policy: cookieHash
              stickySession: { mode: DurationBased, lbCookieName: "bad name" }
            passiveHealth: { baseEjectionTime: 1m, maxEjectionTime: 10s }
      `),
      [
        `${FILE}:8 pipeline ws filter proxy pools[0].filter: policy general needs 'headers' or 'urls'`,
        `${FILE}:11 pipeline ws filter proxy pools[1].filter.permil: policy headerHash needs permil (1–1000, the share of connections this pool takes)`,
        `${FILE}:11 pipeline ws filter proxy pools[1].filter.headerHashKey: required when policy is headerHash`,
        `${FILE}:13 pipeline ws filter proxy pools[1].filter.headers.X-A: 'empty' cannot be combined with 'exact', 'prefix' or 'regex'`,
        `${FILE}:14 pipeline ws filter proxy pools[1].filter.headers.X-B: needs one of 'exact', 'prefix', 'regex' or 'empty: true'`,
        `${FILE}:15 pipeline ws filter proxy pools[1].filter.headers.X-C.regex: invalid regular expression '(': Unterminated group`,
        `${FILE}:18 pipeline ws filter proxy pools[2].loadBalance.cookieHashKey: required when policy is cookieHash`,
        `${FILE}:19 pipeline ws filter proxy pools[2].loadBalance.stickySession.mode: expected 'CookieConsistentHash', got 'DurationBased'`,
        `${FILE}:19 pipeline ws filter proxy pools[2].loadBalance.stickySession.lbCookieName: invalid cookie name 'bad name' (letters, digits and !#$%&'*+-.^_\`|~)`,
        `${FILE}:20 pipeline ws filter proxy pools[2].passiveHealth.maxEjectionTime: must not be shorter than baseEjectionTime`,
      ],
    );
  });
});
