// Issue 16: a bad frame must not drop what was already on its way. A client sends a valid message and, right
// behind it, a frame that breaks the protocol. A `ws` server talking to it directly echoes the message and then
// closes with 1002; through the gateway the client must see the same: the echo first, then its 1002. The gateway
// closes toward the backend first (1001), keeps relaying the backend's frames to the client until the backend's
// close is back, and only then closes the client. (Before, the client got 1002 at once and the echo was dropped.)
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type WebSocket from "ws";
import { Opcode } from "../../src/websocket/protocol.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { frame, type DecodedFrame } from "../helpers/frames.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, waitUntil, withTimeout } from "../helpers/net.js";
import { RawWebSocket } from "../helpers/raw-client.js";

interface BackendClose {
  path: string;
  code: number;
  reason: string;
}

let backend: TestBackend;
let gateway: GatewayProcess;
let port: number;
const backendCloses: BackendClose[] = [];

function onBackendConnection(socket: WebSocket, path: string): void {
  socket.on("close", (code, reason) => backendCloses.push({ path, code, reason: reason.toString() }));
  socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
}

function yaml(): string {
  return `
kind: HTTPServer
name: order-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /
        backend: relay
---
kind: Pipeline
name: relay
filters:
  - kind: WebSocketProxy
    name: proxy
    closeTimeout: 2s
    pools:
      - servers: [{ url: ${backend.url} }]
`;
}

/** The bad frames the issue names, each sent by the client right behind a valid masked text message. */
const badFrames: Array<{ name: string; bytes: Buffer; reason: string }> = [
  {
    name: "reserved bits",
    bytes: frame({ opcode: Opcode.Text, rsv: 0b010, payload: "rsv2", mask: true }),
    reason: "RSV bits not negotiated",
  },
  { name: "a reserved opcode", bytes: frame({ opcode: 0x3, payload: "?", mask: true }), reason: "reserved opcode" },
  {
    name: "a continuation with nothing to continue",
    bytes: frame({ opcode: Opcode.Continuation, payload: "orphan", mask: true }),
    reason: "continuation without a message",
  },
];

/** What a client can see of a session's end: data frames and the close code, in order. */
function shape(frames: DecodedFrame[]): string[] {
  return frames.map((f) =>
    f.opcode === Opcode.Close ? `close ${f.payload.readUInt16BE(0)}` : `${f.opcode}:${f.payload.toString()}`,
  );
}

/** Sends the valid message and the bad frame in one write; resolves with what came back up to the close. */
async function misbehave(connectPort: number, path: string, bad: Buffer): Promise<string[]> {
  const raw = await RawWebSocket.connect(connectPort, path);
  try {
    raw.send(Buffer.concat([frame({ opcode: Opcode.Text, payload: "hello", mask: true }), bad]));
    await raw.waitForFrame((f) => f.opcode === Opcode.Close, 5000);
    await withTimeout(raw.closed, 5000, "the client's connection to close");
    return shape(raw.frames());
  } finally {
    raw.socket.destroy();
  }
}

before(async () => {
  backend = await startBackend({ onConnection: (socket, req) => onBackendConnection(socket, req.url ?? "") });
  port = await freePort();
  gateway = await GatewayProcess.start(yaml());
});

after(async () => {
  await gateway.stop();
  await backend.close();
});

describe("relay: close order after a bad frame (issue 16)", () => {
  for (const [index, bad] of badFrames.entries()) {
    it(`a valid message then ${bad.name}: the echo, then 1002, as from a direct server`, async () => {
      const direct = await misbehave(backend.port, `/direct/${index}`, bad.bytes);
      assert.deepEqual(direct, ["1:hello", "close 1002"], "what a ws server shows when talked to directly");

      const path = `/through/${index}`;
      const through = await misbehave(port, path, bad.bytes);
      assert.deepEqual(through, direct, "through the gateway: the same frames, in the same order");

      const seen = await waitUntil(() => backendCloses.find((c) => c.path === path), 5000, "the backend's close");
      assert.deepEqual({ code: seen.code, reason: seen.reason }, { code: 1001, reason: `client: ${bad.reason}` });
      const line = await gateway.nextLog((l) => l.event === "websocket_session" && l.path === path);
      assert.equal(line.closedBy, "gateway");
      assert.equal(line.closeCode, 1002);
      assert.equal(line.closeReason, `client: ${bad.reason}`);
      assert.equal(line.backendMessages, 1, "the echo was relayed");
    });
  }
});
