// Pool servers, health checks and JWKS URLs that reach the admin listener are validation errors, placed at their
// file, line and field, whatever spelling of the host they use (the URL parser's, which the gateway connects with).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { networkInterfaces } from "node:os";
import { formatConfigError } from "../../src/config/errors.js";
import { loadConfigText, validateSources } from "../../src/config/load.js";

const ADMIN_PORT = 2381;

/** A pipeline whose one pool has `url` (and a health check at `checkPort`), and a Validator fetching `jwks`. */
function pipeline(options: { url?: string; checkPort?: number; jwks?: string; kind?: "WebSocketProxy" | "Proxy" }) {
  const kind = options.kind ?? "WebSocketProxy";
  const url = options.url ?? (kind === "Proxy" ? "http://127.0.0.1:9095" : "ws://127.0.0.1:9095");
  const check =
    options.checkPort === undefined
      ? ""
      : `
        healthCheck:
          http:
            method: DELETE
            uri: /apis/v2/objects/edge
            port: ${options.checkPort}`;
  const validator =
    options.jwks === undefined
      ? ""
      : `
  - kind: Validator
    name: auth
    jwt:
      algorithm: RS256
      jwksUrl: ${options.jwks}`;
  return `kind: Pipeline
name: p
filters:${validator}
  - kind: ${kind}
    name: proxy
    pools:
      - servers:
          - url: ${url}${check}
`;
}

function errorsOf(text: string, adminAddress?: string): string[] {
  const gateway = adminAddress === undefined ? "" : `kind: Gateway\nname: g\nadminAddress: "${adminAddress}"\n---\n`;
  const result = loadConfigText(`${gateway}${text}`, "config.yaml");
  return result.ok ? [] : result.errors.map(formatConfigError);
}

const SPELLINGS_OF_LOOPBACK = [
  "127.0.0.1",
  "localhost",
  "LOCALHOST",
  "[::1]",
  "[0:0:0:0:0:0:0:1]",
  "[::ffff:127.0.0.1]",
  "0.0.0.0",
  "[::]",
  "0",
  "127.1",
  "127.0.1",
  "127.000.000.001",
  "2130706433",
  "0x7f000001",
  "0x7f.0.0.1",
  "0177.0.0.1",
  "127.0.0.2",
  "127.255.255.254",
];

describe("URLs that reach the admin listener are validation errors", () => {
  it("pool servers: every spelling of loopback at the admin port, ws/wss/http/https, both proxy kinds", () => {
    const cases = SPELLINGS_OF_LOOPBACK.flatMap((host) => [
      { url: `ws://${host}:${ADMIN_PORT}`, kind: "WebSocketProxy" as const },
      { url: `http://${host}:${ADMIN_PORT}/`, kind: "WebSocketProxy" as const },
      { url: `wss://${host}:${ADMIN_PORT}`, kind: "WebSocketProxy" as const },
      { url: `http://${host}:${ADMIN_PORT}`, kind: "Proxy" as const },
      { url: `https://${host}:${ADMIN_PORT}`, kind: "Proxy" as const },
    ]);
    assert.ok(cases.length >= 90);
    for (const { url, kind } of cases) {
      const errors = errorsOf(pipeline({ url, kind }));
      assert.deepEqual(
        errors,
        [
          `config.yaml:8 pipeline p filter proxy pools[0].servers[0].url: '${url}' points at this gateway's admin API (127.0.0.1:${ADMIN_PORT}); it must not (the admin API is not a backend)`,
        ],
        url,
      );
    }
  });

  it("the default ports: an admin listener on 80 or 443 is reached by a URL without a port", () => {
    assert.equal(errorsOf(pipeline({ url: "ws://localhost" }), "127.0.0.1:80").length, 1);
    assert.equal(errorsOf(pipeline({ url: "wss://localhost" }), "127.0.0.1:443").length, 1);
    assert.equal(errorsOf(pipeline({ url: "ws://localhost" }), "127.0.0.1:443").length, 0);
  });

  it("health checks: a check port that reaches the admin listener, at the check's port field", () => {
    for (const host of ["127.0.0.1", "localhost", "[::1]", "2130706433"]) {
      const errors = errorsOf(pipeline({ url: `ws://${host}:9095`, checkPort: ADMIN_PORT }));
      assert.deepEqual(errors.length, 1, host);
      assert.match(errors[0] ?? "", /^config\.yaml:13 pipeline p filter proxy pools\[0\]\.healthCheck\.http\.port: /);
      assert.match(errors[0] ?? "", /health check of 'ws:\/\/.*:9095' at port 2381 points at this gateway's admin API/);
    }
    assert.deepEqual(errorsOf(pipeline({ url: "ws://127.0.0.1:9095", checkPort: 9096 })), []);
    assert.deepEqual(errorsOf(pipeline({ url: "ws://10.1.2.3:9095", checkPort: ADMIN_PORT })), []);
  });

  it("JWKS URLs, at the Validator's jwksUrl field", () => {
    for (const host of ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "127.000.000.001", "2130706433"]) {
      const url = `http://${host}:${ADMIN_PORT}/apis/v2/objects`;
      const errors = errorsOf(pipeline({ jwks: url }));
      assert.equal(errors.length, 1, url);
      assert.match(
        errors[0] ?? "",
        /^config\.yaml:8 pipeline p filter auth jwt\.jwksUrl: '.*' points at this gateway's admin API/,
      );
    }
    assert.deepEqual(errorsOf(pipeline({ jwks: `https://idp.example/.well-known/jwks.json` })), []);
  });

  it("what is not the admin listener passes: other ports, other hosts, names that are not localhost", () => {
    for (const url of [
      `ws://127.0.0.1:${ADMIN_PORT + 1}`,
      "ws://127.0.0.1:80",
      `ws://10.0.0.1:${ADMIN_PORT}`,
      `ws://admin.example:${ADMIN_PORT}`,
      `ws://localhost.example:${ADMIN_PORT}`,
    ]) {
      assert.deepEqual(errorsOf(pipeline({ url })), [], url);
    }
  });

  it("the admin address comes from the Gateway object (or 127.0.0.1:2381 by default; none when off)", () => {
    assert.equal(errorsOf(pipeline({ url: "ws://127.0.0.1:7000" }), "127.0.0.1:7000").length, 1);
    assert.equal(errorsOf(pipeline({ url: "ws://localhost:7000" }), "localhost:7000").length, 1);
    assert.equal(errorsOf(pipeline({ url: "ws://[::1]:7000" }), "[::1]:7000").length, 1);
    assert.equal(errorsOf(pipeline({ url: `ws://127.0.0.1:${ADMIN_PORT}` }), "127.0.0.1:7000").length, 0);
    assert.equal(errorsOf(pipeline({ url: `ws://127.0.0.1:${ADMIN_PORT}` }), "off").length, 0);
    // A wildcard bind is reached through every local address.
    const local = Object.values(networkInterfaces())
      .flatMap((list) => list ?? [])
      .filter((info) => info.family === "IPv4");
    for (const info of local) {
      assert.equal(errorsOf(pipeline({ url: `ws://${info.address}:7000` }), "0.0.0.0:7000").length, 1, info.address);
    }
    // A listener on a non-loopback address is not reached through loopback.
    assert.equal(errorsOf(pipeline({ url: "ws://127.0.0.1:7000" }), "10.9.8.7:7000").length, 0);
    assert.equal(errorsOf(pipeline({ url: "ws://10.9.8.7:7000" }), "10.9.8.7:7000").length, 1);
  });

  it("the admin listener given by the caller (the flag, the bound address) wins over the Gateway object", () => {
    const result = validateSources([{ file: "x.yaml", text: pipeline({ url: "ws://localhost:45678" }) }], {
      adminListeners: [{ host: "127.0.0.1", port: 45678 }],
    });
    assert.equal(result.ok, false);
    const none = validateSources([{ file: "x.yaml", text: pipeline({ url: `ws://127.0.0.1:${ADMIN_PORT}` }) }], {
      adminListeners: [],
    });
    assert.equal(none.ok, true);
  });
});
