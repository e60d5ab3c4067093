// End to end (wsgate run, a real `ws` echo backend): issue 18's per-message observability. Messages of known sizes
// (one of them in 3 fragments) land in exact buckets of wsgate_websocket_message_size_bytes and _message_frames each
// way; pings, pongs and closes are counted per direction; the session's length is in
// wsgate_websocket_session_duration_seconds under its close code; its access line has the largest message each way.
// And a pool's `backendCloseCodes.lost`: a backend that dies mid-session gives its clients that code, not 1011.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { admin, runCli } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, waitUntil, withTimeout } from "../helpers/net.js";

function config(port: number, backendPort: number, lostPort: number): string {
  return `kind: HTTPServer
name: edge
port: ${port}
address: 127.0.0.1
accessLog:
  target: stdout
rules:
  - paths:
      - path: /ws
        backend: echo
      - path: /lost
        backend: lost
---
kind: Pipeline
name: echo
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backendPort}
---
kind: Pipeline
name: lost
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${lostPort}
        backendCloseCodes:
          lost: 1012
          drained: 1013
`;
}

/** The value of the sample `name{...labels}` in a metrics text (labels in any order), or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    const match = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = new Map([...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => have.get(key) === value)) return Number(match[3]);
  }
  return undefined;
}

function open(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  ws.on("error", () => {});
  return withTimeout(
    new Promise((resolve, reject) => {
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
    }),
    5000,
    "the upgrade",
  );
}

describe("per-message metrics and the session line", () => {
  let backend: TestBackend;
  let lost: TestBackend;
  let gateway: GatewayProcess;
  let port: number;

  before(async () => {
    backend = await startBackend();
    lost = await startBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(config(port, backend.port, lost.port), { admin: true });
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
    await lost?.close();
  });

  it("puts messages of known sizes and fragments in exact buckets, counts control frames and the session", async () => {
    const ws = await open(`ws://127.0.0.1:${port}/ws`);
    const echoes: number[] = [];
    ws.on("message", (data: Buffer) => echoes.push(data.length));
    const sizes = [10, 64, 65, 300, 5000];
    for (const size of sizes) ws.send(Buffer.alloc(size, 0x61));
    // One message of 300 bytes in 3 frames.
    ws.send(Buffer.alloc(100, 0x62), { fin: false });
    ws.send(Buffer.alloc(100, 0x62), { fin: false });
    ws.send(Buffer.alloc(100, 0x62), { fin: true });
    const pong = new Promise((resolve) => ws.once("pong", resolve));
    ws.ping("hi");
    await withTimeout(pong, 5000, "the pong");
    await waitUntil(() => (echoes.length === 6 ? true : undefined), 5000, "6 echoes");
    const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
    ws.close(1000);
    assert.equal(await withTimeout(closed, 5000, "the close"), 1000);

    const line = await waitUntil(
      () =>
        gateway.logs.find(
          (entry) => entry["event"] === "websocket_session" && entry["route"] === "*/ws" && "status" in entry,
        ),
      5000,
      "the session's access line",
    );
    assert.deepEqual(
      [line["messagesIn"], line["messagesOut"], line["largestIn"], line["largestOut"]],
      [6, 6, 5000, 5000],
    );

    const text = (await admin(gateway.adminPort, "GET", "/metrics")).text;
    const size = "wsgate_websocket_message_size_bytes";
    for (const direction of ["client_to_backend", "backend_to_client"]) {
      const at = (le: string): number | undefined =>
        sample(text, `${size}_bucket`, { server: "edge", route: "*/ws", direction, le });
      // 10 and 64 | 65 | 300 and 3 x 100 | - | 5000
      assert.deepEqual(
        ["64", "256", "1024", "4096", "16384", "+Inf"].map(at),
        [2, 3, 5, 5, 6, 6],
        `${direction}: cumulative size buckets`,
      );
      assert.equal(sample(text, `${size}_sum`, { route: "*/ws", direction }), 10 + 64 + 65 + 300 + 5000 + 300);
      assert.equal(sample(text, `${size}_count`, { route: "*/ws", direction }), 6);
    }
    const frames = (direction: string, le: string): number | undefined =>
      sample(text, "wsgate_websocket_message_frames_bucket", { route: "*/ws", direction, le });
    assert.deepEqual(
      ["1", "2", "4", "+Inf"].map((le) => frames("client_to_backend", le)),
      [5, 5, 6, 6],
    );
    assert.deepEqual(
      ["1", "+Inf"].map((le) => frames("backend_to_client", le)),
      [6, 6],
    );
    assert.equal(
      sample(text, "wsgate_websocket_message_frames_sum", { route: "*/ws", direction: "client_to_backend" }),
      8,
    );

    const control = (direction: string, kind: string): number | undefined =>
      sample(text, "wsgate_websocket_control_frames_total", { route: "*/ws", direction, kind });
    assert.deepEqual(
      [control("client_to_backend", "ping"), control("backend_to_client", "pong")],
      [1, 1],
      "the client's ping and the backend's pong",
    );
    assert.deepEqual([control("client_to_backend", "close"), control("backend_to_client", "close")], [1, 1]);
    assert.equal(sample(text, "wsgate_websocket_session_duration_seconds_count", { server: "edge", code: "1000" }), 1);
    assert.equal(
      sample(text, "wsgate_websocket_session_duration_seconds_bucket", { server: "edge", code: "1000", le: "+Inf" }),
      1,
    );
  });

  it("gives the clients of a backend that dies mid-session the pool's backendCloseCodes.lost (1012)", async () => {
    const ws = await open(`ws://127.0.0.1:${port}/lost`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on("close", (code, reason) => resolve({ code, reason: String(reason) })),
    );
    await waitUntil(() => (lost.connections.length === 1 ? true : undefined), 5000, "the backend's connection");
    lost.connections[0]?.terminate();
    assert.deepEqual(await withTimeout(closed, 5000, "the client's close"), {
      code: 1012,
      reason: "backend connection lost",
    });
  });

  it("wsgate drain closes with the pool's backendCloseCodes.drained (1013) and says so", async () => {
    const ws = await open(`ws://127.0.0.1:${port}/lost`);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on("close", (code, reason) => resolve({ code, reason: String(reason) })),
    );
    const run = await runCli([
      "drain",
      `127.0.0.1:${lost.port}`,
      "--over",
      "0",
      "--server",
      `127.0.0.1:${gateway.adminPort}`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      `127.0.0.1:${lost.port} in lost/proxy/pools[0] draining: 1 session(s) closed with 1013 at once\n`,
    );
    assert.deepEqual(await withTimeout(closed, 5000, "the client's close"), { code: 1013, reason: "backend draining" });
  });

  it("keeps 1011 for a pool without backendCloseCodes", async () => {
    const ws = await open(`ws://127.0.0.1:${port}/ws`);
    const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
    await waitUntil(() => (backend.connections.length === 2 ? true : undefined), 5000, "the backend's connection");
    backend.connections[1]?.terminate();
    assert.equal(await withTimeout(closed, 5000, "the client's close"), 1011);
  });
});
