// End to end, byte for byte: the upgrade request a backend receives (a raw TCP backend records its head exactly), and
// the 101 a raw client receives when the backend's 101 has odd header casing, repeated headers, irregular spacing,
// hop-by-hop headers, a subprotocol and an extension. The client's 101 is what it was before the backend's answer was
// scanned once instead of parsed into header objects; the backend's key is the client's own (as nginx and HAProxy).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

const CLIENT_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
/** RFC 6455 §1.3's accept value for CLIENT_KEY. */
const CLIENT_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

function acceptFor(key: string): string {
  return createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
}

/** A backend that records each upgrade request's head as bytes and answers with `answer(path, accept)`. */
interface RawBackend {
  port: number;
  heads: string[];
  close(): Promise<void>;
}

function startRawBackend(answer: (path: string, accept: string) => string): Promise<RawBackend> {
  const heads: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    let text = "";
    const onData = (chunk: Buffer): void => {
      text += chunk.toString("latin1");
      const end = text.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      const head = text.slice(0, end + 4);
      heads.push(head);
      const path = head.slice(4, head.indexOf(" ", 4));
      const key = /\r\nSec-WebSocket-Key: ([^\r]*)\r\n/i.exec(head)?.[1] ?? "";
      socket.write(answer(path, acceptFor(key)), "latin1");
    };
    socket.on("data", onData);
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        heads,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}

/** Sends a raw upgrade request and resolves with the answer's head (through the blank line) as bytes. */
function rawHead(port: number, request: string): Promise<string> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1");
      let text = "";
      socket.on("error", reject);
      socket.on("data", (chunk: Buffer) => {
        text += chunk.toString("latin1");
        const end = text.indexOf("\r\n\r\n");
        if (end === -1) return;
        socket.destroy();
        resolve(text.slice(0, end + 4));
      });
      socket.on("close", () => reject(new Error(`closed before a complete answer: ${JSON.stringify(text)}`)));
      socket.write(request, "latin1");
    }),
    5000,
    "the answer's head",
  );
}

/** The backend's 101 for /odd: casing, repeats, spacing and hop-by-hop headers a plain WebSocket server would not send. */
function oddAnswer(accept: string, latin = false): string {
  return (
    "HTTP/1.1 101 Switching Protocols\r\n" +
    "upgrade: WebSocket\r\n" +
    "CONNECTION: upgrade\r\n" +
    `sec-websocket-accept: ${accept}\r\n` +
    "Set-Cookie: a=1\r\n" +
    "set-cookie: b=2; Path=/\r\n" +
    "X-Multi: 1\r\n" +
    "x-multi:2\r\n" +
    "Server:   spaced\r\n" +
    "X-Empty:\r\n" +
    "Keep-Alive: timeout=5\r\n" +
    "sec-websocket-protocol: chat.v2\r\n" +
    "Sec-WebSocket-Extensions: x-custom; p=1\r\n" +
    (latin ? "X-Latin: caf\u00e9\r\n" : "") +
    "\r\n"
  );
}

describe("the backend handshake, byte for byte (wsgate run, raw backend and client)", () => {
  let backend: RawBackend;
  let gateway: GatewayProcess;
  let port: number;
  let backendPort: number;

  before(async () => {
    backend = await startRawBackend((path, accept) => {
      if (path.startsWith("/odd")) return oddAnswer(accept);
      if (path.startsWith("/latin")) return oddAnswer(accept, true);
      if (path.startsWith("/twice"))
        return (
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`
        );
      if (path.startsWith("/unoffered"))
        return (
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: chat.v9\r\n\r\n`
        );
      return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${accept}\r\n\r\n`
      );
    });
    backendPort = backend.port;
    port = await freePort();
    gateway = await GatewayProcess.start(`
kind: HTTPServer
name: bytes-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /
        backend: bytes-pipeline
---
kind: Pipeline
name: bytes-pipeline
flow:
  - filter: proxy
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backendPort}
`);
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  function upgradeRequest(path: string, extra = ""): string {
    return (
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${CLIENT_KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`
    );
  }

  it("sends the backend exactly this head: its Host, the upgrade, the client's key, the client's headers, X-Forwarded-*", async () => {
    const before = backend.heads.length;
    const head = await rawHead(
      port,
      upgradeRequest(
        "/plain?q=1",
        "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\nX-Trace: abc\r\nx-lower: v\r\n" +
          "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-custom; p=1\r\n",
      ),
    );
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.equal(backend.heads.length, before + 1);
    assert.equal(
      backend.heads.at(-1),
      `GET /plain?q=1 HTTP/1.1\r\n` +
        `Host: 127.0.0.1:${backendPort}\r\n` +
        "Upgrade: websocket\r\n" +
        "Connection: Upgrade\r\n" +
        `Sec-WebSocket-Key: ${CLIENT_KEY}\r\n` +
        "Sec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n" +
        "X-Trace: abc\r\n" +
        "x-lower: v\r\n" +
        // permessageDeflate: strip (the default) takes the compression offer out, other extensions pass.
        "Sec-WebSocket-Extensions: x-custom; p=1\r\n" +
        "X-Forwarded-For: 127.0.0.1\r\n" +
        `X-Forwarded-Host: 127.0.0.1:${port}\r\n` +
        "X-Forwarded-Proto: http\r\n" +
        "\r\n",
    );
  });

  it("gives the client the backend's headers as they came (casing, repeats), minus hop-by-hop ones, with its accept", async () => {
    const head = await rawHead(
      port,
      upgradeRequest("/odd", "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\nSec-WebSocket-Extensions: x-custom; p=1\r\n"),
    );
    assert.equal(
      head,
      "HTTP/1.1 101 Switching Protocols\r\n" +
        "Upgrade: websocket\r\n" +
        "Connection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${CLIENT_ACCEPT}\r\n` +
        "Set-Cookie: a=1\r\n" +
        "set-cookie: b=2; Path=/\r\n" +
        "X-Multi: 1\r\n" +
        "x-multi: 2\r\n" +
        "Server: spaced\r\n" +
        "X-Empty: \r\n" +
        "sec-websocket-protocol: chat.v2\r\n" +
        "Sec-WebSocket-Extensions: x-custom; p=1\r\n" +
        "\r\n",
    );
  });

  it("refuses with 502 a 101 whose Sec-WebSocket-Accept is repeated, or whose subprotocol was not offered", async () => {
    for (const path of ["/twice", "/unoffered"]) {
      const head = await rawHead(port, upgradeRequest(path, "Sec-WebSocket-Protocol: chat.v1\r\n"));
      assert.match(head, /^HTTP\/1\.1 502 /, path);
    }
  });

  it("leaves a 101 with a byte Node's parser must judge (a non-ASCII value) to Node: still the client's 101", async () => {
    // X-Latin's é makes the scan hand the head to Node's parser; the answer is the same kind.
    const head = await rawHead(
      port,
      upgradeRequest("/latin", "Sec-WebSocket-Protocol: chat.v2\r\nSec-WebSocket-Extensions: x-custom\r\n"),
    );
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, /\r\nX-Latin: caf\u00e9\r\n/);
  });
});
