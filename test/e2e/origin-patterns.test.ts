// originPatterns end to end (issue 15 item 11): each Origin variant either reaches the recording backend (101) or is
// refused with 403 before any backend sees it. Regressions: `chrome-extension://good.example` passed `good.example`;
// an Origin equal to the requested Host passed whatever the patterns (DNS rebinding).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, rawExchange, statusOf } from "../helpers/net.js";
import { startRecordingBackend, type RecordingBackend } from "../helpers/recording-backend.js";

let backend: RecordingBackend;
let gateway: GatewayProcess;
let port: number;

before(async () => {
  backend = await startRecordingBackend();
  port = await freePort();
  gateway = await GatewayProcess.start(`
kind: HTTPServer
name: origin-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - { pathPrefix: /, backend: origin }
---
kind: Pipeline
name: origin
filters:
  - kind: WebSocketProxy
    name: proxy
    originPatterns: ["good.example", "https://*.apps.example", "https://pinned.example:8443"]
    pools: [{ servers: [{ url: ${backend.url} }] }]
`);
});

after(async () => {
  await gateway?.stop();
  await backend?.close();
});

// [Origin header (undefined: none), Host header, allowed]
const CASES: Array<[string | undefined, string, boolean]> = [
  [undefined, "gw.test", true],
  ["https://good.example", "gw.test", true],
  ["http://good.example:8080", "gw.test", true],
  ["https://GOOD.example", "gw.test", true],
  ["https://a.apps.example", "gw.test", true],
  ["https://a.b.apps.example", "gw.test", true],
  ["https://pinned.example:8443", "gw.test", true],
  ["chrome-extension://good.example", "gw.test", false],
  ["file://good.example", "gw.test", false],
  ["null", "gw.test", false],
  ["https://good.example/", "gw.test", false],
  ["https://user@good.example", "gw.test", false],
  ["https://good.example.evil.com", "gw.test", false],
  ["https://evilgood.example", "gw.test", false],
  ["http://a.apps.example", "gw.test", false],
  ["https://apps.example", "gw.test", false],
  ["https://pinned.example", "gw.test", false],
  ["https://pinned.example:8444", "gw.test", false],
  // DNS rebinding: the attacker's page is served under its own name, now resolving to the gateway.
  ["http://rebind.attacker.test", "rebind.attacker.test", false],
  ["http://127.0.0.1:8080", "127.0.0.1:8080", false],
  ["https://gw.test", "gw.test", false],
];

describe("originPatterns through the gateway", () => {
  it(`${CASES.length} Origin variants: allowed ones reach the backend, the others get 403 and reach nothing`, async () => {
    const wrong: string[] = [];
    for (const [index, [origin, host, allowed]] of CASES.entries()) {
      const before = backend.requests.length;
      const answer = await rawExchange(
        port,
        `GET /case/${index} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
          (origin === undefined ? "" : `Origin: ${origin}\r\n`) +
          "\r\n",
        allowed ? 300 : 2000,
      );
      const status = statusOf(answer.received);
      const reached = backend.requests.slice(before).some((request) => request.url === `/case/${index}`);
      if (status !== (allowed ? 101 : 403) || reached !== allowed) {
        wrong.push(`${String(origin)} (Host ${host}): ${status}, ${reached ? "reached" : "did not reach"} the backend`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});
