// The life of an HTTP/2 connection across reloads and shutdown, through `wsgate run`: a reload that keeps the listener
// keeps the connection and its WebSockets (as HTTP/1.1 keeps its sockets); a reload that removes the server sends
// GOAWAY, then 1001 to its WebSockets over their drain window, then closes; shutdown does the same in that order.
import assert from "node:assert/strict";
import type { ClientHttp2Session } from "node:http2";
import { after, before, describe, it } from "node:test";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { TestPki, type CertFiles } from "../helpers/certs.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { startRecordingBackend, type RecordingBackend } from "../helpers/recording-backend.js";
import { closeFrame, connectH2, FrameReader, openStream, textFrame } from "./h2-websocket-client.js";

function serverYaml(name: string, port: number, cert: CertFiles, paths: string): string {
  return `
kind: HTTPServer
name: ${name}
port: ${port}
address: 127.0.0.1
https: true
http2: true
certFiles: [{ certFile: ${cert.certFile}, keyFile: ${cert.keyFile} }]
rules:
  - paths:
${paths}
`;
}

function pipelinesYaml(wsBackend: TestBackend, api: RecordingBackend): string {
  return `
kind: Pipeline
name: echo
filters:
  - kind: WebSocketProxy
    name: proxy
    drainWindow: 500ms
    pools: [{ servers: [{ url: ${wsBackend.url} }] }]
---
kind: Pipeline
name: api
filters:
  - kind: Proxy
    name: proxy
    pools: [{ servers: [{ url: ${api.url} }] }]
`;
}

const BASE_PATHS = `      - { pathPrefix: /ws, backend: echo }
      - { pathPrefix: /api, backend: api }`;

async function get(session: ClientHttp2Session, path: string): Promise<number> {
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

/** An h2 WebSocket that echoes once, with what happens to it and its session recorded in order. */
async function liveWebSocket(
  url: string,
  ca: string,
): Promise<{ session: ClientHttp2Session; reader: FrameReader; events: string[]; closed: Promise<void> }> {
  const { session } = await connectH2(url, ca);
  const events: string[] = [];
  session.on("goaway", (code: number) => events.push(`goaway ${code}`));
  const closed = new Promise<void>((resolve) =>
    session.once("close", () => {
      events.push("session closed");
      resolve();
    }),
  );
  const { stream, status } = await openStream(session, "/ws/life");
  assert.equal(status, 200);
  const reader = new FrameReader(stream);
  stream.write(textFrame("before"));
  assert.equal((await reader.next())?.payload.toString(), "before");
  return { session, reader, events, closed };
}

/** Waits for the server's close frame on `reader` and records its code; answers it as a client does. */
async function awaitClose(live: { reader: FrameReader; events: string[] }, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const frame = await live.reader.next(Math.max(1, deadline - Date.now()));
    if (frame === undefined) throw new Error("stream ended without a close frame");
    if (frame.opcode !== 8) continue;
    const code = frame.payload.readUInt16BE(0);
    live.events.push(`close ${code}`);
    live.reader.stream.end(closeFrame(code));
    return code;
  }
}

const isReloadOutcome = (line: LogLine): boolean =>
  line.event === "config_applied" || line.event === "config_rejected" || line.event === "config_failed";

describe("HTTP/2 connections across reloads and shutdown (wsgate run)", () => {
  let pki: TestPki;
  let cert: CertFiles;
  let wsBackend: TestBackend;
  let api: RecordingBackend;
  let gateway: GatewayProcess;
  let keepPort: number;
  let gonePort: number;

  before(async () => {
    pki = await TestPki.create();
    cert = await pki.issue({ cn: "localhost", ips: ["127.0.0.1"] });
    wsBackend = await startBackend();
    api = await startRecordingBackend();
    keepPort = await freePort();
    gonePort = await freePort();
    gateway = await GatewayProcess.start(
      [
        serverYaml("keep", keepPort, cert, BASE_PATHS),
        serverYaml("gone", gonePort, cert, BASE_PATHS),
        pipelinesYaml(wsBackend, api),
      ].join("---\n"),
      { servers: 2 },
    );
  });

  after(async () => {
    await gateway?.stop();
    await wsBackend?.close();
    await api?.close();
    await pki?.cleanup();
  });

  it("a reload keeps a kept server's h2 connection and WebSocket; a removed server's get GOAWAY, then 1001, then close", async () => {
    const kept = await liveWebSocket(`https://127.0.0.1:${keepPort}`, pki.ca.cert);
    const removed = await liveWebSocket(`https://127.0.0.1:${gonePort}`, pki.ca.cert);
    assert.equal(await get(kept.session, "/api/before"), 200);
    assert.equal(await get(kept.session, "/new/x"), 404);

    const seen = gateway.logs.filter(isReloadOutcome).length;
    gateway.rewriteConfig(
      [
        serverYaml("keep", keepPort, cert, `${BASE_PATHS}\n      - { pathPrefix: /new, backend: api }`),
        pipelinesYaml(wsBackend, api),
      ].join("---\n"),
    );
    gateway.sighup();
    const outcome = (await gateway.logsMatching(isReloadOutcome, seen + 1, 8000))[seen];
    assert.equal(outcome?.event, "config_applied", JSON.stringify(outcome));

    // The removed server's connection: GOAWAY first, then its WebSocket's 1001 within the drain window, then closed.
    assert.equal(await awaitClose(removed, 5000), 1001);
    await withTimeout(removed.closed, 5000, "the removed server's connection to close");
    assert.deepEqual(removed.events, ["goaway 0", "close 1001", "session closed"]);

    // The kept server's connection: the same session serves the new route, its WebSocket still echoes.
    assert.equal(await get(kept.session, "/new/x"), 200);
    kept.reader.stream.write(textFrame("after"));
    assert.equal((await kept.reader.next())?.payload.toString(), "after");
    assert.deepEqual(kept.events, []);
    assert.equal(kept.session.destroyed, false);
    kept.session.close();
  });

  it("shutdown: GOAWAY first, then 1001 to the live h2 WebSocket, then the connection closes", async () => {
    const live = await liveWebSocket(`https://127.0.0.1:${keepPort}`, pki.ca.cert);
    const stopping = gateway.stop();
    assert.equal(await awaitClose(live, 8000), 1001);
    await withTimeout(live.closed, 8000, "the connection to close");
    await stopping;
    assert.deepEqual(live.events, ["goaway 0", "close 1001", "session closed"]);
  });
});
