// HTTP/2 listeners beyond the TLS one (wsgate run): `h2c` (plaintext, prior knowledge) beside HTTP/1.1 on one port,
// a plaintext server without it left as it was, `http2WebSockets: false` not advertising RFC 8441, and shutdown:
// GOAWAY on the connection, then 1001 to the WebSockets it carries.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { TestPki, type CertFiles } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, rawExchange, statusOf, withTimeout } from "../helpers/net.js";
import { bodyOf, closeFrame, connectH2, FrameReader, openStream, textFrame } from "./h2-websocket-client.js";

function server(name: string, port: number, fields: string): string {
  return `
---
kind: HTTPServer
name: ${name}
port: ${port}
address: 127.0.0.1${fields}
rules:
  - paths:
      - { pathPrefix: /ws, backend: echo }
      - { pathPrefix: /web, backend: web }`;
}

function pipelines(backend: TestBackend): string {
  return `
---
kind: Pipeline
name: echo
filters:
  - kind: WebSocketProxy
    name: proxy
    closeTimeout: 1s
    pools: [{ servers: [{ url: ${backend.url} }] }]
---
kind: Pipeline
name: web
filters:
  - kind: Proxy
    name: proxy
    pools: [{ servers: [{ url: http://127.0.0.1:${backend.port} }] }]
`;
}

function openWs(url: string): Promise<WebSocket> {
  return withTimeout(
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
    }),
    5000,
    `a WebSocket to ${url}`,
  );
}

describe("h2c, http2WebSockets: false, and plaintext servers without h2c (wsgate run)", () => {
  let pki: TestPki;
  let cert: CertFiles;
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let h2cPort: number;
  let plainPort: number;
  let noWsPort: number;

  before(async () => {
    pki = await TestPki.create();
    cert = await pki.issue({ cn: "localhost", ips: ["127.0.0.1"] });
    backend = await startBackend();
    [h2cPort, plainPort, noWsPort] = [await freePort(), await freePort(), await freePort()];
    const tls = `\nhttps: true\ncertFiles: [{ certFile: ${cert.certFile}, keyFile: ${cert.keyFile} }]`;
    gateway = await GatewayProcess.start(
      server("h2c", h2cPort, "\nh2c: true") +
        server("plain", plainPort, "") +
        server("no-ws", noWsPort, `${tls}\nhttp2: true\nhttp2WebSockets: false`) +
        pipelines(backend),
      { servers: 3 },
    );
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
    await pki?.cleanup();
  });

  it("h2c: a connection opening with the preface speaks HTTP/2, WebSockets and plain requests alike", async () => {
    const { session, settings } = await connectH2(`http://127.0.0.1:${h2cPort}`);
    try {
      assert.equal(settings.enableConnectProtocol, true);
      const { stream, status } = await openStream(session, "/ws/h2c", {}, { ":scheme": "http" });
      assert.equal(status, 200);
      const reader = new FrameReader(stream);
      stream.write(textFrame("over h2c"));
      assert.equal((await reader.next())?.payload.toString(), "over h2c");
      stream.write(closeFrame(1000));
      assert.equal((await reader.next())?.opcode, 8);
      const page = session.request({ ":path": "/web/page" });
      assert.equal(await bodyOf(page), "plain http\n");
    } finally {
      session.close();
    }
  });

  it("h2c: HTTP/1.1 on the same port is served as before (WebSocket upgrade and plain request)", async () => {
    const ws = await openWs(`ws://127.0.0.1:${h2cPort}/ws/h1`);
    const echoed = new Promise<string>((resolve) => ws.once("message", (data: Buffer) => resolve(data.toString())));
    ws.send("over h1");
    assert.equal(await withTimeout(echoed, 5000, "the echo"), "over h1");
    ws.close();
    const answer = await rawExchange(h2cPort, "GET /web/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    assert.equal(statusOf(answer.received), 200);
  });

  it("a plaintext server without h2c answers the HTTP/2 preface as it always did (no HTTP/2)", async () => {
    const answer = await rawExchange(plainPort, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert.match(answer.received.toString("latin1"), /^HTTP\/1\.1 4\d\d /);
  });

  it("http2WebSockets: false keeps h2 for pages but does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL", async () => {
    const { session, settings } = await connectH2(`https://127.0.0.1:${noWsPort}`, pki.ca.cert);
    try {
      assert.notEqual(settings.enableConnectProtocol, true);
      const page = session.request({ ":path": "/web/page" });
      assert.equal(await bodyOf(page), "plain http\n");
    } finally {
      session.close();
    }
  });
});

describe("shutdown with WebSockets over HTTP/2 (wsgate run)", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess | undefined;

  before(async () => {
    backend = await startBackend();
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  it("sends GOAWAY, then closes each WebSocket stream with 1001 and ends it", async () => {
    const port = await freePort();
    gateway = await GatewayProcess.start(server("h2c", port, "\nh2c: true") + pipelines(backend));
    const { session } = await connectH2(`http://127.0.0.1:${port}`);
    const goaway = new Promise<void>((resolve) => session.once("goaway", () => resolve()));
    const { stream, status } = await openStream(session, "/ws/drain", {}, { ":scheme": "http" });
    assert.equal(status, 200);
    const reader = new FrameReader(stream);
    stream.write(textFrame("before"));
    assert.equal((await reader.next())?.payload.toString(), "before");
    const stopped = gateway.stop();
    await withTimeout(goaway, 10_000, "GOAWAY");
    const close = await reader.next(10_000);
    assert.equal(close?.opcode, 8);
    assert.equal(close?.payload.readUInt16BE(0), 1001);
    stream.end(closeFrame(1001));
    await withTimeout(
      new Promise<void>((resolve) => (reader.ended ? resolve() : stream.once("close", () => resolve()))),
      10_000,
      "the stream's end",
    );
    await stopped;
    gateway = undefined;
    session.destroy();
  });
});
