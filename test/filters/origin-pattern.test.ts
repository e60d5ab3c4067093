// originPatterns (issue 15 item 11): a pattern matches scheme, host and port, and nothing but a serialized origin.
// Regression: `chrome-extension://good.example` passed `good.example`, and the requested host was exempt (DNS rebinding).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  compileOriginPatterns,
  originAllowed,
  parseOriginPattern,
} from "../../src/filters/websocket-proxy/origin-pattern.js";

/** [patterns, origin, allowed] */
const TABLE: Array<[string[], string, boolean]> = [];
const add = (patterns: string[], rows: Array<[string, boolean]>): void => {
  for (const [origin, allowed] of rows) TABLE.push([patterns, origin, allowed]);
};

// A bare host: http and https on any port, nothing else.
add(
  ["good.example"],
  [
    ["https://good.example", true],
    ["http://good.example", true],
    ["https://good.example:8443", true],
    ["HTTPS://GOOD.EXAMPLE", true],
    ["https://Good.Example", true],
    ["chrome-extension://good.example", false],
    ["moz-extension://good.example", false],
    ["ws://good.example", false],
    ["wss://good.example", false],
    ["ftp://good.example", false],
    ["file://good.example", false],
    ["file:///etc/passwd", false],
    ["null", false],
    ["NULL", false],
    ["", false],
    ["good.example", false],
    ["//good.example", false],
    ["https://good.example/", false],
    ["https://good.example/path", false],
    ["https://good.example?x=1", false],
    ["https://good.example#x", false],
    ["https://user@good.example", false],
    ["https://user:pw@good.example", false],
    ["https://evil.com@good.example", false],
    ["https://good.example@evil.com", false],
    ["https://good.example.evil.com", false],
    ["https://evilgood.example", false],
    ["https://good.examplex", false],
    ["https://sub.good.example", false],
    ["https://good.example.", false],
    ["https://good.example:443", false],
    ["https://good%2eexample", false],
    ["https://good.example\\@evil.com", false],
    ["https://good.example, https://evil.com", false],
    ["https://evil.com, https://good.example", false],
    [" https://good.example", false],
  ],
);

// A wildcard: one or more whole labels, never the bare domain, never a suffix trick.
add(
  ["https://*.example.com"],
  [
    ["https://a.example.com", true],
    ["https://a.b.example.com", true],
    ["https://A.B.EXAMPLE.COM", true],
    ["https://example.com", false],
    ["http://a.example.com", false],
    ["https://a.example.com:8443", false],
    ["https://.example.com", false],
    ["https://a.example.com.evil.com", false],
    ["https://aexample.com", false],
    ["https://a-example.com", false],
    ["https://example.com.a.example.org", false],
    ["chrome-extension://a.example.com", false],
  ],
);

// Ports: a scheme without a port means its default port; `:*` any; a number exactly (default ports normalised).
add(
  ["https://good.example:8443", "http://plain.example", "https://any.example:*"],
  [
    ["https://good.example:8443", true],
    ["https://good.example", false],
    ["https://good.example:8444", false],
    ["https://good.example:08443", false],
    ["http://good.example:8443", false],
    ["http://plain.example", true],
    ["http://plain.example:8080", false],
    ["https://plain.example", false],
    ["https://any.example", true],
    ["https://any.example:1", true],
    ["http://any.example:1", false],
  ],
);
add(
  ["https://default.example:443", "example.org:8443"],
  [
    ["https://default.example", true],
    ["http://default.example:443", false],
    ["https://example.org:8443", true],
    ["http://example.org:8443", true],
    ["https://example.org", false],
    ["chrome-extension://example.org:8443", false],
  ],
);

// Other schemes only when named; IDN compared in punycode, as browsers send it; IP literals.
add(
  ["chrome-extension://abcdefghijklmnop", "https://bücher.example", "http://127.0.0.1:3000", "http://[::1]:3000"],
  [
    ["chrome-extension://abcdefghijklmnop", true],
    ["chrome-extension://abcdefghijklmnopq", false],
    ["https://abcdefghijklmnop", false],
    ["https://xn--bcher-kva.example", true],
    ["https://bücher.example", false],
    ["http://127.0.0.1:3000", true],
    ["http://127.0.0.1", false],
    ["http://127.0.0.2:3000", false],
    ["http://2130706433:3000", false],
    ["http://[::1]:3000", true],
    ["http://[::2]:3000", false],
  ],
);

describe("originPatterns", () => {
  it(`a table of ${TABLE.length} Origin values: scheme, host and port must all match`, () => {
    const failures: string[] = [];
    for (const [patterns, origin, allowed] of TABLE) {
      if (originAllowed(origin, compileOriginPatterns(patterns)) !== allowed) {
        failures.push(
          `${JSON.stringify(origin)} against ${patterns.join(", ")}: expected ${allowed ? "allowed" : "refused"}`,
        );
      }
    }
    assert.deepEqual(failures, []);
  });

  it("a malformed pattern is a config error that names it", () => {
    for (const bad of [
      "https://",
      "https://good.example/path",
      "user@good.example",
      "good.example:99999",
      "://x",
      "a b",
    ]) {
      const parsed = parseOriginPattern(bad);
      assert.equal(typeof parsed, "string", bad);
      assert.match(parsed as string, /origin pattern|host name|port/, bad);
    }
  });
});
