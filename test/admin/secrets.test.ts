// The secret marks on the schemas: which fields the admin API redacts, found from the schemas alone, so a field
// marked secret in any kind (or filter) is redacted without touching the admin code.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { REDACTED, redactSecrets } from "../../src/admin/secrets.js";
import { isObjectMediaType } from "../../src/admin/request-guard.js";

const pool = (password: string) => ({
  servers: [{ url: "http://127.0.0.1:9" }],
  healthCheck: { http: { username: "u", password } },
});

describe("secret fields", () => {
  it("redacts every marked field of every kind, and nothing else; the stored data is not changed", () => {
    const cases: [string, Record<string, unknown>, string[]][] = [
      [
        "Gateway",
        { kind: "Gateway", name: "g", adminToken: "t".repeat(20), adminAddress: "127.0.0.1:1" },
        ["adminToken"],
      ],
      [
        "HTTPServer",
        {
          kind: "HTTPServer",
          name: "s",
          port: 1,
          certBase64: "CERT",
          keyBase64: "KEY",
          certs: { a: "CERT" },
          keys: { a: "KEY", b: "KEY" },
        },
        ["keyBase64", "keys.a", "keys.b"],
      ],
      [
        "Pipeline",
        {
          kind: "Pipeline",
          name: "p",
          filters: [
            { kind: "Validator", name: "v", jwt: { algorithm: "HS256", secret: "aa", issuer: "iss" } },
            { kind: "Proxy", name: "http", pools: [pool("P1")] },
            { kind: "WebSocketProxy", name: "ws", pools: [pool("P2"), pool("P3")] },
            { kind: "Unknown", name: "x", secret: "stays" },
          ],
        },
        [
          "filters.0.jwt.secret",
          "filters.1.pools.0.healthCheck.http.password",
          "filters.2.pools.0.healthCheck.http.password",
          "filters.2.pools.1.healthCheck.http.password",
        ],
      ],
    ];
    for (const [kind, data, paths] of cases) {
      const before = JSON.stringify(data);
      const shown = redactSecrets(kind, data);
      assert.equal(JSON.stringify(data), before, `${kind}: stored data changed`);
      const redacted: string[] = [];
      const walk = (value: unknown, path: string[]): void => {
        if (value === REDACTED) redacted.push(path.join("."));
        else if (typeof value === "object" && value !== null) {
          for (const [key, item] of Object.entries(value)) walk(item, [...path, key]);
        }
      };
      walk(shown, []);
      assert.deepEqual(redacted, paths, kind);
    }
  });

  it("media types a write may declare", () => {
    const accepted = [
      "application/json",
      "Application/Json; Charset=utf-8",
      'text/yaml;charset="UTF-8"',
      "application/x-yaml; x=y",
    ];
    const refused = [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=a",
      "application/json; charset=latin1",
      "application/json;;",
      "application/json x",
      "json",
      "",
    ];
    for (const type of accepted) assert.equal(isObjectMediaType(type), true, type);
    for (const type of refused) assert.equal(isObjectMediaType(type), false, type);
  });
});
