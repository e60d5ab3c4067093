// WebSockets over HTTP/2 (RFC 8441), end to end through `wsgate run`: one TLS port serving h2 and http/1.1 by ALPN,
// extended CONNECT streams relayed to an ordinary HTTP/1.1 WebSocket backend, with node:http2's client by hand.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { echo, openWss, TestPki, type CertFiles } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort } from "../helpers/net.js";
import { bodyOf, connectH2, FrameReader, openStream, textFrame, closeFrame } from "./h2-websocket-client.js";

describe("WebSockets over HTTP/2 (http2: true, wsgate run)", () => {
  let pki: TestPki;
  let cert: CertFiles;
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let url: string;

  before(async () => {
    pki = await TestPki.create();
    cert = await pki.issue({ cn: "localhost", ips: ["127.0.0.1"] });
    backend = await startBackend({ wsOptions: { handleProtocols: (offered) => [...offered].at(-1) ?? false } });
    port = await freePort();
    url = `https://127.0.0.1:${port}`;
    gateway = await GatewayProcess.start(`
kind: HTTPServer
name: h2-server
port: ${port}
address: 127.0.0.1
https: true
http2: true
certFiles: [{ certFile: ${cert.certFile}, keyFile: ${cert.keyFile} }]
rules:
  - paths:
      - { pathPrefix: /ws, backend: echo }
---
kind: Pipeline
name: echo
filters:
  - kind: WebSocketProxy
    name: proxy
    pools: [{ servers: [{ url: ${backend.url} }] }]
`);
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
    await pki?.cleanup();
  });

  it("advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and echoes frames both ways over an extended CONNECT", async () => {
    const { session, settings } = await connectH2(url, pki.ca.cert);
    try {
      assert.equal(settings.enableConnectProtocol, true);
      const { stream, status } = await openStream(session, "/ws/echo");
      assert.equal(status, 200);
      const reader = new FrameReader(stream);
      stream.write(textFrame("hello over h2"));
      const echoed = await reader.next();
      assert.equal(echoed?.opcode, 1);
      assert.equal(echoed?.payload.toString(), "hello over h2");
      stream.write(closeFrame(1000, "bye"));
      const close = await reader.next();
      assert.equal(close?.opcode, 8);
      assert.equal(close?.payload.readUInt16BE(0), 1000);
    } finally {
      session.close();
    }
  });

  it("keeps HTTP/1.1 WebSockets on the same port (ALPN http/1.1)", async () => {
    const { ws } = await openWss(`wss://127.0.0.1:${port}/ws/h1`, { ca: pki.ca.cert, servername: "localhost" });
    assert.equal(await echo(ws, "hello over h1"), "hello over h1");
    ws.close();
  });

  it("refuses an unrouted path with 404 on its stream, the connection going on", async () => {
    const { session } = await connectH2(url, pki.ca.cert);
    try {
      const { stream, status } = await openStream(session, "/nowhere");
      assert.equal(status, 404);
      await bodyOf(stream);
      const again = await openStream(session, "/ws/after");
      assert.equal(again.status, 200);
    } finally {
      session.close();
    }
  });
});
