// Issue 22: through the real gateway, a client that closes the way the bench's Go generator and `ws` do (its close
// frame, then it waits for ours, then for the gateway to close TCP) sees the echo, our close frame, then a FIN: the
// gateway's one close() of the connection (no shutdown() first) must never turn into a reset.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Opcode } from "../../src/websocket/protocol.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { closePayload, frame } from "../helpers/frames.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { RawWebSocket } from "../helpers/raw-client.js";

let backend: TestBackend;
let gateway: GatewayProcess;
let port: number;

function yaml(): string {
  return `
kind: HTTPServer
name: fin-server
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
    closeTimeout: 5s
    pools:
      - servers: [{ url: ${backend.url} }]
`;
}

before(async () => {
  backend = await startBackend();
  port = await freePort();
  gateway = await GatewayProcess.start(yaml());
});

after(async () => {
  await gateway.stop();
  await backend.close();
});

describe("relay: the client's connection ends with a FIN after the close handshake (issue 22)", () => {
  it("echo, close frame, then FIN (not a reset), 20 sessions in a row", async () => {
    for (let i = 0; i < 20; i++) {
      const raw = await RawWebSocket.connect(port, `/fin/${i}`);
      // Half-open: the client ends its side itself, after it saw ours, as the Go generator does.
      raw.socket.allowHalfOpen = true;
      let ending = "open";
      raw.socket.on("end", () => (ending = ending === "open" ? "fin" : ending));
      raw.socket.on("error", (error: NodeJS.ErrnoException) => (ending = error.code ?? error.message));
      const sawEnd = new Promise<void>((resolve) => {
        raw.socket.on("end", resolve);
        raw.socket.on("error", () => resolve());
      });
      try {
        raw.send(frame({ opcode: Opcode.Text, payload: `hello ${i}`, mask: true }));
        await raw.waitForFrame((f) => f.opcode === Opcode.Text, 5000);
        raw.send(frame({ opcode: Opcode.Close, payload: closePayload(1000, "done"), mask: true }));
        await raw.waitForFrame((f) => f.opcode === Opcode.Close, 5000);
        await withTimeout(sawEnd, 5000, "the gateway to close TCP");
        assert.equal(ending, "fin", `session ${i}: a FIN, not a reset`);
        const frames = raw.frames();
        assert.deepEqual(
          frames.map((f) => f.opcode),
          [Opcode.Text, Opcode.Close],
        );
        assert.equal(frames[1]?.payload.readUInt16BE(0), 1000);
        raw.socket.end();
        await withTimeout(raw.closed, 5000, "the client's connection to close");
      } finally {
        raw.socket.destroy();
      }
    }
  });
});
