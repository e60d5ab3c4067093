// WebSockets over HTTP/2 (RFC 8441), end to end through `wsgate run`: one TLS port serving h2 and http/1.1 by ALPN,
// extended CONNECT streams going through the router, pipeline and filters as HTTP/1.1 upgrades do, relayed to an
// ordinary HTTP/1.1 WebSocket backend. node:http2's client speaks RFC 8441 by hand (frames as DATA).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http, { type IncomingMessage } from "node:http";
import { constants } from "node:http2";
import net, { type AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { echo, openWss, TestPki, type CertFiles } from "../helpers/certs.js";
import { frame } from "../helpers/frames.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, waitUntil, withTimeout } from "../helpers/net.js";
import { bodyOf, closeFrame, connectH2, FrameReader, openStream, textFrame } from "./h2-websocket-client.js";

const JWT_SECRET = Buffer.from("wsgate-h2-websocket-test-secret-long-enough").toString("hex");

describe("WebSockets over HTTP/2 (http2: true, wsgate run)", () => {
  let pki: TestPki;
  let cert: CertFiles;
  let backend: TestBackend;
  /** Answers every upgrade 403 with a body of its own. */
  let refusing: http.Server;
  /** Accepts connections and never answers: handshakes to it stay pending. */
  let hanging: net.Server;
  let downPort: number;
  let gateway: GatewayProcess;
  let port: number;
  let url: string;
  /** The backend's side of each session, by the path it was opened on. */
  const closes = new Map<string, Promise<number>>();

  before(async () => {
    pki = await TestPki.create();
    cert = await pki.issue({ cn: "localhost", ips: ["127.0.0.1"] });
    backend = await startBackend({
      wsOptions: {
        perMessageDeflate: { threshold: 0 },
        handleProtocols: (offered) => [...offered].at(-1) ?? false,
      },
      onConnection: (socket, req) => {
        closes.set(req.url ?? "", new Promise((resolve) => socket.on("close", (code: number) => resolve(code))));
        socket.on("message", (data, isBinary) => {
          const text = data.toString();
          if (text.startsWith("flood ")) {
            const chunk = Buffer.alloc(16 * 1024, 0x61);
            for (let i = 0; i < Number(text.slice(6)); i++) socket.send(chunk);
            socket.send("flood done");
          } else if (text === "die") socket.terminate();
          else socket.send(data, { binary: isBinary });
        });
      },
    });
    refusing = http.createServer();
    refusing.on("upgrade", (_req: IncomingMessage, socket: net.Socket) => {
      socket.end(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Backend: refusing\r\nContent-Length: 9\r\n\r\ngo away!\n",
      );
    });
    await new Promise<void>((resolve) => refusing.listen(0, "127.0.0.1", resolve));
    hanging = net.createServer((socket) => socket.on("error", () => undefined));
    await new Promise<void>((resolve) => hanging.listen(0, "127.0.0.1", resolve));
    downPort = await freePort();
    port = await freePort();
    url = `https://127.0.0.1:${port}`;
    const pipeline = (name: string, target: string, extra = ""): string => `
---
kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    closeTimeout: 1s${extra}
    pools: [{ servers: [{ url: ${target} }] }]`;
    gateway = await GatewayProcess.start(
      `
kind: HTTPServer
name: h2-server
port: ${port}
address: 127.0.0.1
https: true
http2: true
maxPendingHandshakesPerRoute: 1
certFiles: [{ certFile: ${cert.certFile}, keyFile: ${cert.keyFile} }]
rules:
  - paths:
      - { pathPrefix: /ws, backend: echo }
      - { pathPrefix: /deflate, backend: deflate }
      - { pathPrefix: /auth, backend: auth }
      - { pathPrefix: /origin, backend: origin }
      - { pathPrefix: /one, backend: one }
      - { pathPrefix: /refused, backend: refused }
      - { pathPrefix: /down, backend: down }
      - { pathPrefix: /hanging, backend: hanging }
      - { pathPrefix: /web, backend: web }
${pipeline("echo", backend.url)}
${pipeline("deflate", backend.url, "\n    permessageDeflate: pass")}
${pipeline("origin", backend.url, '\n    originPatterns: ["https://good.example"]')}
${pipeline("one", backend.url, "\n    maxConnections: 1")}
${pipeline("refused", `ws://127.0.0.1:${(refusing.address() as AddressInfo).port}`)}
${pipeline("down", `ws://127.0.0.1:${downPort}`)}
${pipeline("hanging", `ws://127.0.0.1:${(hanging.address() as AddressInfo).port}`, "\n    handshakeTimeout: 30s")}
---
kind: Pipeline
name: auth
flow:
  - filter: validator
    jumpIf: {invalid: END}
  - filter: proxy
filters:
  - kind: Validator
    name: validator
    jwt: { algorithm: HS256, secret: ${JWT_SECRET} }
  - kind: WebSocketProxy
    name: proxy
    pools: [{ servers: [{ url: ${backend.url} }] }]
---
kind: Pipeline
name: web
filters:
  - kind: Proxy
    name: proxy
    pools: [{ servers: [{ url: http://127.0.0.1:${backend.port} }] }]
`,
      { admin: true },
    );
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
    refusing?.close();
    hanging?.close();
    await pki?.cleanup();
  });

  it("advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and echoes frames both ways over an extended CONNECT", async () => {
    const { session, settings } = await connectH2(url, pki.ca.cert);
    try {
      assert.equal(settings.enableConnectProtocol, true);
      const { stream, status } = await openStream(session, "/ws/echo");
      assert.equal(status, 200);
      const reader = new FrameReader(stream);
      for (const text of ["hello over h2", "x".repeat(30_000)]) {
        stream.write(textFrame(text));
        const echoed = await reader.next();
        assert.equal(echoed?.opcode, 1);
        assert.equal(echoed?.payload.toString(), text);
      }
      stream.write(closeFrame(1000, "bye"));
      const close = await reader.next();
      assert.equal(close?.opcode, 8);
      assert.equal(close?.payload.readUInt16BE(0), 1000);
      assert.equal(await withTimeout(closes.get("/ws/echo") ?? Promise.reject(), 5000, "backend close"), 1000);
    } finally {
      session.close();
    }
  });

  it("answers a close frame sent with END_STREAM (as Chromium sends it) with the backend's close, then ends", async () => {
    const { session } = await connectH2(url, pki.ca.cert);
    try {
      const { stream, status } = await openStream(session, "/ws/half-close");
      assert.equal(status, 200);
      const reader = new FrameReader(stream);
      stream.end(closeFrame(1000, "done"));
      const close = await reader.next();
      assert.equal(close?.opcode, 8, "a close frame came back before the stream ended");
      assert.equal(close?.payload.readUInt16BE(0), 1000);
      assert.equal(close?.payload.subarray(2).toString(), "done");
      await withTimeout(
        new Promise<void>((resolve) => (stream.closed ? resolve() : stream.once("close", () => resolve()))),
        5000,
        "the stream's close",
      );
      assert.equal(stream.rstCode, constants.NGHTTP2_NO_ERROR);
    } finally {
      session.close();
    }
  });

  it("gives the backend a handshake of its own (a drawn key; its accept checked) and the client's fields", async () => {
    const { session } = await connectH2(url, pki.ca.cert);
    try {
      const { status } = await openStream(session, "/ws/fields?x=1", { "x-client": "yes", cookie: "a=1" });
      assert.equal(status, 200);
      const seen = backend.upgrades.find((req) => req.url === "/ws/fields?x=1");
      assert.ok(seen, "the backend saw the upgrade");
      assert.equal(seen.headers.upgrade, "websocket");
      assert.equal(seen.headers["sec-websocket-version"], "13");
      assert.match(seen.headers["sec-websocket-key"] ?? "", /^[+/0-9A-Za-z]{21}[AQgw]==$/);
      assert.equal(seen.headers["x-client"], "yes");
      assert.equal(seen.headers.cookie, "a=1");
      assert.ok(!Object.keys(seen.headers).some((name) => name.startsWith(":")), "no pseudo-header reached it");
    } finally {
      session.close();
    }
  });

  it("negotiates a subprotocol end to end (sec-websocket-protocol on the :status 200)", async () => {
    const { session } = await connectH2(url, pki.ca.cert);
    try {
      const { status, headers } = await openStream(session, "/ws/sub", { "sec-websocket-protocol": "chat, superchat" });
      assert.equal(status, 200);
      assert.equal(headers["sec-websocket-protocol"], "superchat");
      assert.equal(headers["sec-websocket-accept"], undefined);
      assert.equal(headers.upgrade, undefined);
      const listed = await waitUntil(
        async () => {
          const list = (await (await fetch(`http://127.0.0.1:${gateway.adminPort}/apis/v2/sessions`)).json()) as Array<
            Record<string, unknown>
          >;
          return list.find((entry) => entry.protocol === "superchat");
        },
        5000,
        "the session in the admin list",
      );
      assert.equal((await listed)?.transport, "h2");
    } finally {
      session.close();
    }
  });

  it("negotiates permessage-deflate end to end with `pass`: compressed frames both ways", async () => {
    const { session } = await connectH2(url, pki.ca.cert);
    try {
      const { stream, status, headers } = await openStream(session, "/deflate/x", {
        "sec-websocket-extensions": "permessage-deflate; client_max_window_bits",
      });
      assert.equal(status, 200);
      assert.match(String(headers["sec-websocket-extensions"]), /^permessage-deflate/);
      const reader = new FrameReader(stream);
      const text = "compressed over h2 ".repeat(20);
      const deflated = deflateRawSync(Buffer.from(text), { finishFlush: 2 /* Z_SYNC_FLUSH */ });
      stream.write(frame({ opcode: 1, rsv: 4, payload: deflated.subarray(0, deflated.length - 4), mask: true }));
      const echoed = await reader.next();
      assert.equal(echoed?.rsv, 4, "the echo came compressed");
      const inflated = inflateRawSync(
        Buffer.concat([echoed?.payload ?? Buffer.alloc(0), Buffer.from([0, 0, 0xff, 0xff])]),
        {
          finishFlush: 2,
        },
      );
      assert.equal(inflated.toString(), text);
    } finally {
      session.close();
    }
  });

  it("keeps HTTP/1.1 WebSockets on the same port (ALPN http/1.1)", async () => {
    const { ws } = await openWss(`wss://127.0.0.1:${port}/ws/h1`, { ca: pki.ca.cert, servername: "localhost" });
    assert.equal(await echo(ws, "hello over h1"), "hello over h1");
    ws.close();
  });

  // Each refusal as HTTP/1.1 gives it, on the stream; the connection carries on (a new stream succeeds after).
  const refusals: Array<{
    what: string;
    path: string;
    headers?: Record<string, string | null>;
    pseudo?: Record<string, string | null>;
    status: number;
    body?: RegExp;
  }> = [
    { what: "no route", path: "/nowhere", status: 404 },
    { what: "no token (Validator)", path: "/auth/x", status: 401 },
    { what: "a bad token", path: "/auth/x", headers: { authorization: "Bearer not.a.token" }, status: 401 },
    { what: "a foreign origin", path: "/origin/x", headers: { origin: "https://evil.example" }, status: 403 },
    { what: "the backend's own refusal, relayed", path: "/refused/x", status: 403, body: /^go away!$/ },
    { what: "a backend that is down", path: "/down/x", status: 502 },
    { what: "no Sec-WebSocket-Version", path: "/ws/v", headers: { "sec-websocket-version": null }, status: 400 },
    { what: "Sec-WebSocket-Version 8", path: "/ws/v", headers: { "sec-websocket-version": "8" }, status: 426 },
    { what: ":protocol other than websocket", path: "/ws/p", pseudo: { ":protocol": "h2c-tunnel" }, status: 400 },
    {
      what: "CONNECT without :protocol (a tunnel)",
      path: "",
      pseudo: { ":protocol": null, ":path": null, ":scheme": null },
      status: 405,
    },
  ];
  for (const refusal of refusals) {
    it(`refuses ${refusal.what} with ${refusal.status} on its stream, the connection going on`, async () => {
      const { session } = await connectH2(url, pki.ca.cert);
      try {
        const { stream, status, headers } = await openStream(session, refusal.path, refusal.headers, refusal.pseudo);
        assert.equal(status, refusal.status);
        const body = await bodyOf(stream);
        if (refusal.body !== undefined) {
          assert.match(body.trim(), refusal.body);
          assert.equal(headers["x-backend"], "refusing");
        }
        const again = await openStream(session, "/ws/after-refusal");
        assert.equal(again.status, 200);
      } finally {
        session.close();
      }
    });
  }

  it("refuses past the filter's maxConnections with 429, and past the route's pending handshakes with 503", async () => {
    const { session } = await connectH2(url, pki.ca.cert);
    try {
      const first = await openStream(session, "/one/a");
      assert.equal(first.status, 200);
      const second = await openStream(session, "/one/b");
      assert.equal(second.status, 429);
      // One handshake hangs on its backend; the next one on the route is shed.
      const pending = openStream(session, "/hanging/a").catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const shed = await openStream(session, "/hanging/b");
      assert.equal(shed.status, 503);
      first.stream.close(constants.NGHTTP2_CANCEL);
      void pending;
    } finally {
      session.destroy();
    }
  });

  it("serves plain requests on the same connection, and never answers an extended CONNECT 405 (node #36977)", async () => {
    const { session } = await connectH2(url, pki.ca.cert);
    try {
      const request = session.request({ ":path": "/web/page" });
      const text = await bodyOf(request);
      assert.equal(text, "plain http\n");
      const { status } = await openStream(session, "/ws/36977");
      assert.equal(status, 200);
    } finally {
      session.close();
    }
  });

  it("holds the backend when the client stops reading (flow control), memory bounded, then delivers every byte", async () => {
    const { session } = await connectH2(url, pki.ca.cert);
    try {
      const { stream, status } = await openStream(session, "/ws/slow-reader");
      assert.equal(status, 200);
      const reader = new FrameReader(stream);
      const pid = gateway.child.pid ?? 0;
      const rssBefore = rssOf(pid);
      stream.pause();
      // 48 MiB from the backend (16 KiB messages, under the default limit) while the client reads nothing.
      stream.write(textFrame("flood 3072"));
      const peer = await waitUntil(() => backend.connections.at(-1), 5000, "the backend's side");
      await waitUntil(() => (peer.bufferedAmount > 16 * 1024 * 1024 ? true : undefined), 15_000, "the backend held");
      await new Promise((resolve) => setTimeout(resolve, 500));
      const grown = rssOf(pid) - rssBefore;
      // 48 MiB sent; what the gateway may hold is its read buffers and one stream window, not the flood.
      assert.ok(grown < 16 * 1024 * 1024, `the gateway grew ${grown} bytes while holding the backend`);
      stream.resume();
      let count = 0;
      for (;;) {
        const next = await reader.next(15_000);
        if (next === undefined) assert.fail(`stream ended early after ${count} (rst ${stream.rstCode})`);
        if (next.opcode === 8)
          assert.fail(`closed ${next.payload.readUInt16BE(0)} ${next.payload.subarray(2).toString()} after ${count}`);
        if (next.payload.length === 16 * 1024) count++;
        else if (next.payload.toString() === "flood done") break;
      }
      assert.equal(count, 3072);
    } finally {
      session.close();
    }
  });

  it("treats a stream reset by the client as a vanished peer: the backend gets 1001", async () => {
    const { session } = await connectH2(url, pki.ca.cert);
    try {
      const { stream, status } = await openStream(session, "/ws/reset");
      assert.equal(status, 200);
      const reader = new FrameReader(stream);
      stream.write(textFrame("ping"));
      await reader.next();
      stream.close(constants.NGHTTP2_CANCEL);
      assert.equal(await withTimeout(closes.get("/ws/reset") ?? Promise.reject(), 5000, "backend close"), 1001);
      // The connection carries on.
      assert.equal((await openStream(session, "/ws/after-reset")).status, 200);
    } finally {
      session.close();
    }
  });

  it("ends the stream with a close frame first when the backend vanishes", async () => {
    const { session } = await connectH2(url, pki.ca.cert);
    try {
      const { stream, status } = await openStream(session, "/ws/backend-dies");
      assert.equal(status, 200);
      const reader = new FrameReader(stream);
      const ended = new Promise<void>((resolve) => stream.once("end", resolve));
      stream.resume();
      stream.write(textFrame("die"));
      const close = await reader.next();
      assert.equal(close?.opcode, 8);
      assert.equal(close?.payload.readUInt16BE(0), 1011);
      stream.end();
      await withTimeout(ended, 5000, "the stream's end");
      assert.equal(stream.rstCode === undefined || stream.rstCode === constants.NGHTTP2_NO_ERROR, true);
    } finally {
      session.close();
    }
  });
});

/** The gateway process's resident memory (bytes), from /proc. */
function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? 0) * 1024;
}
