// HTTP/2 limits on the real gateway (wsgate run, TLS + ALPN h2), attacked with raw frames: a rapid reset and a PING
// flood each close the attacking connection with GOAWAY ENHANCE_YOUR_CALM and a log line, while a connection opened
// before keeps working; maxConnectionsPerIP counts h2 streams (requests in flight, WebSockets), not the connection.
import assert from "node:assert/strict";
import type { ClientHttp2Session } from "node:http2";
import { after, before, describe, it } from "node:test";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { TestPki, type CertFiles } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { Flag, FrameType, H2Error, RawH2, h2frame, headerBlock, ping, rstStream } from "../helpers/h2-frames.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { startRecordingBackend, type RecordingBackend } from "../helpers/recording-backend.js";
import { connectH2, openStream } from "./h2-websocket-client.js";

function get(session: ClientHttp2Session, path: string): Promise<number> {
  const stream = session.request({ ":path": path });
  stream.resume();
  return withTimeout(
    new Promise<number>((resolve, reject) => {
      let status = 0;
      stream.on("response", (headers) => (status = Number(headers[":status"])));
      stream.on("end", () => resolve(status));
      stream.on("error", reject);
    }),
    5000,
    `GET ${path}`,
  );
}

describe("HTTP/2 limits on the gateway (raw frames, wsgate run)", () => {
  let pki: TestPki;
  let cert: CertFiles;
  let api: RecordingBackend;
  let wsBackend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let url: string;

  before(async () => {
    pki = await TestPki.create();
    cert = await pki.issue({ cn: "localhost", ips: ["127.0.0.1"] });
    api = await startRecordingBackend();
    wsBackend = await startBackend();
    port = await freePort();
    url = `https://127.0.0.1:${port}`;
    gateway = await GatewayProcess.start(`
kind: HTTPServer
name: h2-limits
port: ${port}
address: 127.0.0.1
https: true
http2: true
maxConnectionsPerIP: 3
certFiles: [{ certFile: ${cert.certFile}, keyFile: ${cert.keyFile} }]
http2Limits:
  maxResets: 50
  maxPings: 30
rules:
  - paths:
      - { pathPrefix: /api, backend: api }
      - { pathPrefix: /ws, backend: echo }
---
kind: Pipeline
name: api
filters:
  - kind: Proxy
    name: proxy
    pools: [{ servers: [{ url: ${api.url} }] }]
---
kind: Pipeline
name: echo
filters:
  - kind: WebSocketProxy
    name: proxy
    pools: [{ servers: [{ url: ${wsBackend.url} }] }]
`);
  });

  after(async () => {
    await gateway?.stop();
    await api?.close();
    await wsBackend?.close();
    await pki?.cleanup();
  });

  const request = (id: number): Buffer =>
    h2frame(
      FrameType.HEADERS,
      Flag.END_HEADERS | Flag.END_STREAM,
      id,
      headerBlock([
        [":method", "GET"],
        [":scheme", "https"],
        [":path", `/api/r${id}`],
        [":authority", "localhost"],
      ]),
    );

  const floods = [
    { flood: "resets", frame: (i: number) => Buffer.concat([request(1 + 2 * i), rstStream(1 + 2 * i)]) },
    { flood: "pings", frame: (i: number) => ping(i) },
  ];
  for (const { flood, frame } of floods) {
    it(`${flood} flood: GOAWAY ENHANCE_YOUR_CALM and a log line; another connection is untouched`, async () => {
      const { session: bystander } = await connectH2(url, pki.ca.cert);
      try {
        assert.equal(await get(bystander, "/api/before"), 200);
        const attacker = await RawH2.connect(port, { tls: true });
        const sent = await attacker.flood(5000, frame, 25, 5);
        await attacker.untilClosed(10000);
        assert.equal(attacker.goaway()?.code, H2Error.ENHANCE_YOUR_CALM);
        assert.ok(sent < 5000, `all ${sent} frames taken`);
        const line = await gateway.nextLog((entry) => entry.event === "h2_flood" && entry.flood === flood);
        assert.equal(line.client, "127.0.0.1");
        assert.equal(await get(bystander, "/api/after"), 200);
        assert.equal(bystander.destroyed, false);
      } finally {
        bystander.close();
      }
    });
  }

  it("maxConnectionsPerIP counts h2 streams: WebSockets on one connection take places, the next one gets 429", async () => {
    const { session } = await connectH2(url, pki.ca.cert);
    try {
      const held = [];
      for (let i = 0; i < 3; i++) {
        const answer = await openStream(session, `/ws/${i}`);
        assert.equal(answer.status, 200);
        held.push(answer.stream);
      }
      assert.equal((await openStream(session, "/ws/over")).status, 429);
      assert.equal(await get(session, "/api/over"), 429);
      held[0]?.close();
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(await get(session, "/api/again"), 200);
    } finally {
      session.close();
    }
  });
});
