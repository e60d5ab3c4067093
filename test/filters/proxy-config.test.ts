// The Proxy filter's configuration: what `validate` accepts and refuses, and the README's nginx and Apache
// replacements, which must validate as written.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { formatConfigError, loadConfigText } from "../../src/config/load.js";

const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");

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

  it("validates the README's nginx and Apache replacements", () => {
    const section = readme.slice(
      readme.indexOf("### From nginx"),
      readme.indexOf("## Health checks and pool selection"),
    );
    const blocks = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1] ?? "");
    assert.equal(blocks.length, 3, "nginx, Apache, Apache with TLS");
    assert.deepEqual(errorsOf(blocks[0] ?? ""), [], "nginx");
    assert.deepEqual(errorsOf(blocks[1] ?? ""), [], "Apache");
    // The TLS variant replaces the HTTPServer of the Apache example; its certificate files are the user's.
    const apachePipelines = (blocks[1] ?? "").slice((blocks[1] ?? "").indexOf("---"));
    const tlsErrors = errorsOf(`${blocks[2] ?? ""}${apachePipelines}`);
    assert.ok(
      tlsErrors.every((error) => /letsencrypt/.test(error)),
      `only the missing certificate files may fail: ${tlsErrors.join("\n")}`,
    );
  });
});
