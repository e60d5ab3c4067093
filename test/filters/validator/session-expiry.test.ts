// The Validator's and WebSocketProxy's session-end settings: what config accepts and refuses (with the field named),
// how a renewal message's token is found (nothing parsed unless it is a JSON object), and a lifetime's jitter range.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatConfigError, loadConfigText } from "../../../src/config/load.js";
import { tokenAtPath } from "../../../src/filters/validator/session-expiry.js";
import { lifetimeDeadline } from "../../../src/filters/websocket-proxy/session-lifetime.js";

function errorsOf(filters: string): string[] {
  const text = `
kind: HTTPServer
name: server
port: 8080
rules:
  - paths:
      - pathPrefix: /
        backend: app
---
kind: Pipeline
name: app
filters:
${filters}`;
  const result = loadConfigText(text, "gateway.yaml");
  return result.ok ? [] : result.errors.map(formatConfigError);
}

const PROXY = `  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:3000
`;

function validator(fields: string): string {
  return `  - kind: Validator
    name: auth
${fields}${PROXY}`;
}

describe("session-end settings in config", () => {
  it("accepts every documented form", () => {
    assert.deepEqual(
      errorsOf(
        validator(`    expiryCloseCode: 4001
    expiryWarning: {before: 30s, text: soon}
    maxSessionDuration: 8h
    clientCertificate: {}
    jwt:
      algorithm: HS256
      secret: '0011'
      renewal: {tokenField: auth.token}
`),
      ),
      [],
    );
    assert.deepEqual(
      errorsOf(validator(`    expiryWarning: {before: 1s, binary: AAEC}\n    clientCertificate: {}\n`)),
      [],
    );
    assert.deepEqual(errorsOf(PROXY.replace("    pools:", "    maxSessionDuration: 1h\n    pools:")), []);
    assert.deepEqual(
      errorsOf(
        PROXY.replace("    pools:", "    maxSessionDuration: {duration: 5s, jitter: 0.2, closeCode: 1012}\n    pools:"),
      ),
      [],
    );
  });

  const refused: Array<[string, string, RegExp]> = [
    [
      "a reserved close code",
      validator("    expiryCloseCode: 1006\n    clientCertificate: {}\n"),
      /expiryCloseCode.*close code/,
    ],
    [
      "a warning with text and binary",
      validator("    expiryWarning: {before: 1s, text: a, binary: AA==}\n    clientCertificate: {}\n"),
      /exactly one of 'text' or 'binary'/,
    ],
    ["a warning without before", validator("    expiryWarning: {text: a}\n    clientCertificate: {}\n"), /before/],
    [
      "jitter over 100%",
      PROXY.replace("    pools:", "    maxSessionDuration: {duration: 5s, jitter: 120%}\n    pools:"),
      /between 0 and 1/,
    ],
    [
      "a duration without unit",
      PROXY.replace("    pools:", "    maxSessionDuration: 5\n    pools:"),
      /maxSessionDuration/,
    ],
    [
      "an empty token path segment",
      validator("    jwt:\n      algorithm: HS256\n      secret: '0011'\n      renewal: {tokenField: 'a..b'}\n"),
      /tokenField/,
    ],
  ];
  for (const [name, filters, error] of refused) {
    it(`refuses ${name}, naming the field`, () => {
      const errors = errorsOf(filters);
      assert.ok(
        errors.some((text) => error.test(text)),
        errors.join("\n"),
      );
    });
  }
});

describe("renewal message", () => {
  const path = ["auth", "token"];
  const rows: Array<[string, string | undefined]> = [
    ['{"auth":{"token":"abc"}}', "abc"],
    ['  \n{"auth":{"token":"abc"},"x":1}', "abc"],
    ['{"auth":{"token":1}}', undefined],
    ['{"auth":"token"}', undefined],
    ['{"auth":[{"token":"abc"}]}', undefined],
    ['{"auth":{"token":"abc"}', undefined],
    ['["auth"]', undefined],
    ["hello", undefined],
    ["", undefined],
  ];
  for (const [message, token] of rows) {
    it(`${JSON.stringify(message)} → ${String(token)}`, () => {
      assert.equal(tokenAtPath(Buffer.from(message), path), token);
    });
  }
});

describe("lifetime jitter", () => {
  it("draws each deadline in [d*(1-j), d], spread over the range", () => {
    const now = 1_000_000;
    const spec = { duration: 5000, jitter: 0.2, closeCode: 1001 };
    const offsets = Array.from({ length: 2000 }, () => (lifetimeDeadline(spec, now)?.at ?? 0) - now);
    assert.ok(Math.min(...offsets) >= 4000);
    assert.ok(Math.max(...offsets) <= 5000);
    const buckets = [0, 0, 0, 0, 0];
    for (const offset of offsets) buckets[Math.min(4, Math.floor((offset - 4000) / 200))]! += 1;
    assert.ok(
      buckets.every((count) => count > 250),
      buckets.join(","),
    );
    assert.equal(lifetimeDeadline({ duration: 0, jitter: 0, closeCode: 1001 }, now), undefined);
    assert.equal(lifetimeDeadline(undefined, now), undefined);
  });
});
