// Header bytes outside ASCII, end to end (wsgate run, a raw TCP backend and client): HTTP carries header values as
// bytes (obs-text), and the gateway must hand the backend's 101 or refusal to the client byte for byte, not
// re-encoded as UTF-8 (which turned one 0xE9 into 0xC3 0xA9).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, rawExchange, statusOf } from "../helpers/net.js";
import { answer101, RawBackend, upgradeRequest } from "../fuzz/raw-peers.js";

// "café" in ISO-8859-1: the last byte is 0xE9.
const VALUE = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
const HEADER_LINE = Buffer.concat([Buffer.from("X-Name: ", "latin1"), VALUE, Buffer.from("\r\n", "latin1")]);

let backend: RawBackend;
let gateway: GatewayProcess;
let port: number;

before(async () => {
  backend = await RawBackend.start((socket, head) => {
    if (head.startsWith("GET /refuse")) {
      socket.end(
        Buffer.concat([
          Buffer.from("HTTP/1.1 403 Forbidden\r\n", "latin1"),
          HEADER_LINE,
          Buffer.from("Content-Length: 0\r\n\r\n"),
        ]),
      );
      return;
    }
    answer101(socket, head, HEADER_LINE);
  });
  port = await freePort();
  gateway = await GatewayProcess.start(`
kind: HTTPServer
name: bytes-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /
        backend: bytes
---
kind: Pipeline
name: bytes
filters:
  - kind: WebSocketProxy
    name: proxy
    pools: [{ servers: [{ url: ${backend.url} }] }]
`);
});

after(async () => {
  await gateway?.stop();
  await backend?.close();
});

describe("header bytes outside ASCII (wsgate run)", () => {
  it("relays a 101 header value with a byte above 0x7F unchanged", async () => {
    const answer = await rawExchange(port, upgradeRequest(port, "/ws"), 800);
    assert.equal(statusOf(answer.received), 101, answer.received.toString("latin1"));
    assert.ok(answer.received.includes(HEADER_LINE), answer.received.toString("latin1"));
  });

  it("relays a refusal's header value with a byte above 0x7F unchanged", async () => {
    const answer = await rawExchange(port, upgradeRequest(port, "/refuse"));
    assert.equal(statusOf(answer.received), 403, answer.received.toString("latin1"));
    assert.ok(answer.received.includes(HEADER_LINE), answer.received.toString("latin1"));
  });
});
