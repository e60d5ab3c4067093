// The Proxy filter's configuration: what `validate` accepts and refuses, and the nginx and Apache replacements in
// docs/, which must validate as written.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { formatConfigError, loadConfigText } from "../../src/config/load.js";

const guides = ["nginx", "apache"].map((name) =>
  readFileSync(new URL(`../../../docs/migrating-from-${name}.md`, import.meta.url), "utf8"),
);

function errorsOf(text: string): string[] {
  const result = loadConfigText(text, "gateway.yaml");
  return result.ok ? [] : result.errors.map(formatConfigError);
}

function pipeline(proxy: string, flow = ""): string {
  return `
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
${flow}
filters:
  - kind: Proxy
    name: pages
${proxy}
  - kind: WebSocketProxy
    name: websocket
    pools:
      - servers:
          - url: ws://127.0.0.1:3000
`;
}

describe("Proxy configuration", () => {
  it("accepts http and https servers with the shared pool fields", () => {
    const errors = errorsOf(
      pipeline(`    responseTimeout: 2s
    failureCodes: [502, 503]
    pools:
      - servers:
          - url: http://127.0.0.1:3000
            weight: 2
          - url: https://backend.example.com
        loadBalance:
          policy: leastConnections
        healthCheck:
          interval: 5s
          http:
            uri: /healthz`),
    );
    assert.deepEqual(errors, []);
  });

  it("refuses ws:// servers and server URLs with a path", () => {
    const errors = errorsOf(
      pipeline(`    pools:
      - servers:
          - url: ws://127.0.0.1:3000
          - url: http://127.0.0.1:3000/app`),
    );
    assert.equal(errors.length, 2, errors.join("\n"));
    assert.match(errors[0] ?? "", /pools\[0\]\.servers\[0\]\.url: unsupported URL scheme 'ws'.*expected http or https/);
    assert.match(errors[1] ?? "", /pools\[0\]\.servers\[1\]\.url: .*has a path or query/);
  });

  it("accepts jumpIf on its results and refuses others", () => {
    const pools = `    pools:
      - servers:
          - url: http://127.0.0.1:3000`;
    const ok = `flow:
  - filter: pages
    jumpIf: { failureCode: END, serverError: END, clientError: END }
  - filter: websocket`;
    assert.deepEqual(errorsOf(pipeline(pools, ok)), []);
    const bad = `flow:
  - filter: pages
    jumpIf: { invalid: END }
  - filter: websocket`;
    const errors = errorsOf(pipeline(pools, bad));
    assert.equal(errors.length, 1, errors.join("\n"));
    assert.match(errors[0] ?? "", /invalid/);
  });

  it("validates the nginx and Apache replacements in docs/ as written", () => {
    const blocks = guides.flatMap((guide) =>
      [...guide.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1] ?? ""),
    );
    assert.ok(blocks.length >= 6, `${blocks.length} examples`);
    for (const block of blocks) assert.deepEqual(errorsOf(block), [], block);
    assert.ok(
      blocks.some((block) => /kind: Proxy/.test(block) && /kind: WebSocketProxy/.test(block)),
      "pages and WebSocket on one port",
    );
  });
});
