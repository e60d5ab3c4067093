// Plain requests over HTTP/2 through `wsgate run` (http2: true, TLS with ALPN): the Proxy filter sends them to an
// HTTP/1.1 backend that records exactly what reached it. Connection-specific fields go neither way, `:authority` is
// the Host, bodies stream both ways under backpressure, and routing, path normalisation, owned headers, refusals and
// the access line are what HTTP/1.1 gets.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { TestPki, type CertFiles } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { Flag, FrameType, H2Error, RawH2, h2frame, headerBlock, settingsFrame } from "../helpers/h2-frames.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { startRecordingBackend, type RecordingBackend } from "../helpers/recording-backend.js";

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** One request on an h2 session; the body written (if any) is a buffer or a stream of chunks. */
function h2request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer | Buffer[],
): Promise<Answer> {
  return withTimeout(
    new Promise<Answer>((resolve, reject) => {
      const stream = session.request(headers, { endStream: body === undefined });
      const chunks: Buffer[] = [];
      let head: http2.IncomingHttpHeaders = {};
      stream.on("response", (h) => (head = h));
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => resolve({ status: Number(head[":status"]), headers: head, body: Buffer.concat(chunks) }));
      stream.on("error", reject);
      if (Array.isArray(body)) {
        void (async () => {
          for (const chunk of body) if (!stream.write(chunk)) await new Promise((r) => stream.once("drain", r));
          stream.end();
        })();
      } else if (body !== undefined) {
        stream.end(body);
      }
    }),
    20000,
    `h2 ${String(headers[":method"] ?? "GET")} ${String(headers[":path"])}`,
  );
}

/** The same request over HTTP/1.1 on the same port (ALPN http/1.1). */
function h1request(port: number, ca: string, path: string): Promise<{ status: number; body: string }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = https.request({ host: "127.0.0.1", port, path, ca, servername: "localhost", agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on("error", reject);
      req.end();
    }),
    10000,
    `h1 GET ${path}`,
  );
}

/** Backend answers with connection-specific fields an h2 answer cannot carry, named by the request's `?v=`. */
const HOP_VARIANTS: Record<string, string[]> = {
  connection: ["Connection", "close"],
  "connection-names": ["Connection", "X-Private, keep-alive", "X-Private", "secret"],
  "keep-alive": ["Keep-Alive", "timeout=5, max=100"],
  upgrade: ["Upgrade", "h2c"],
  "proxy-connection": ["Proxy-Connection", "keep-alive"],
  "te-gzip": ["TE", "gzip"],
  "te-trailers": ["TE", "trailers"],
  trailer: ["Trailer", "X-Checksum"],
  "http2-settings": ["HTTP2-Settings", "AAMAAABkAAQAAP__"],
  "double-content-type": ["Content-Type", "text/plain", "Content-Type", "text/html"],
  "double-location": ["Location", "/a", "Location", "/b"],
  "all-at-once": [
    "Connection",
    "Upgrade, X-Private",
    "Upgrade",
    "websocket",
    "Keep-Alive",
    "timeout=5",
    "Proxy-Connection",
    "close",
    "X-Private",
    "secret",
    "HTTP2-Settings",
    "x",
  ],
};

const FORBIDDEN_IN_H2 = [
  "connection",
  "keep-alive",
  "upgrade",
  "proxy-connection",
  "te",
  "transfer-encoding",
  "http2-settings",
  "trailer",
  "x-private",
];

describe("plain requests over HTTP/2 through the Proxy filter (wsgate run)", () => {
  let pki: TestPki;
  let cert: CertFiles;
  let backend: RecordingBackend;
  let streaming: http.Server;
  /** Bytes the streaming backend's download got written into its socket, and whether it finished. */
  let download = { written: 0, done: false };
  let gateway: GatewayProcess;
  let port: number;
  let url: string;
  let session: http2.ClientHttp2Session;

  before(async () => {
    pki = await TestPki.create();
    cert = await pki.issue({ cn: "localhost", ips: ["127.0.0.1"] });
    backend = await startRecordingBackend({
      respond: (request, res) => {
        const variant = new URL(request.url, "http://x").searchParams.get("v");
        const extra = variant === null ? [] : (HOP_VARIANTS[variant] ?? []);
        if (request.url.startsWith("/api/status/")) {
          res.writeHead(Number(request.url.slice("/api/status/".length)), "Custom Reason", ["X-Status", "yes"]);
          res.end();
          return;
        }
        const body = request.url.startsWith("/api/upload")
          ? `${request.body.length} ${createHash("sha256").update(request.body).digest("hex")}`
          : `${request.method} ${request.url}`;
        res.writeHead(200, ["Content-Type", "text/plain", "X-Keep", "kept", ...extra]);
        res.end(body);
      },
    });
    // A download of 64 MiB, written as fast as the gateway takes it.
    streaming = http.createServer((_req, res) => {
      download = { written: 0, done: false };
      res.writeHead(200, { "Content-Type": "application/octet-stream" });
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = (): void => {
        while (download.written < 64 * 1024 * 1024) {
          download.written += chunk.length;
          if (!res.write(chunk)) {
            res.once("drain", pump);
            return;
          }
        }
        download.done = true;
        res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => streaming.listen(0, "127.0.0.1", resolve));
    const streamingPort = (streaming.address() as AddressInfo).port;
    port = await freePort();
    url = `https://127.0.0.1:${port}`;
    const deadPort = await freePort();
    gateway = await GatewayProcess.start(`
kind: HTTPServer
name: h2-http
port: ${port}
address: 127.0.0.1
https: true
http2: true
clientMaxBodySize: 67108864
certFiles: [{ certFile: ${cert.certFile}, keyFile: ${cert.keyFile} }]
accessLog:
  target: stdout
rules:
  - paths:
      - { pathPrefix: /api, backend: api }
      - { path: /stream, backend: stream }
      - { path: /dead, backend: dead }
      - { path: /small, backend: api, clientMaxBodySize: 10 }
---
kind: Pipeline
name: api
filters:
  - kind: Proxy
    name: proxy
    pools: [{ servers: [{ url: ${backend.url} }] }]
---
kind: Pipeline
name: stream
filters:
  - kind: Proxy
    name: proxy
    pools: [{ servers: [{ url: http://127.0.0.1:${streamingPort} }] }]
---
kind: Pipeline
name: dead
filters:
  - kind: Proxy
    name: proxy
    pools: [{ servers: [{ url: http://127.0.0.1:${deadPort} }] }]
`);
    session = http2.connect(url, { ca: pki.ca.cert, servername: "localhost" });
    session.on("error", () => undefined);
  });

  after(async () => {
    session?.close();
    await gateway?.stop();
    await backend?.close();
    streaming?.closeAllConnections();
    streaming?.close();
    await pki?.cleanup();
  });

  it("sends :authority as the Host, X-Forwarded-* of the gateway's own, no pseudo-header field, cookies joined", async () => {
    const before = backend.requests.length;
    const answer = await h2request(session, {
      ":path": "/api/who?x=1",
      ":authority": "app.example:8443",
      cookie: ["a=1", "b=2"],
      "x-forwarded-for": "6.6.6.6",
      "x-forwarded-host": "evil.example",
      "x-forwarded-proto": "gopher",
      "x-real-ip": "6.6.6.6",
      te: "trailers",
      "x-custom": "yes",
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), "GET /api/who?x=1");
    const [seen] = (await backend.waitFor(before + 1)).slice(before);
    assert.ok(seen !== undefined);
    const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase());
    assert.ok(!names.some((name) => name.startsWith(":")), `pseudo-header fields reached the backend: ${names}`);
    assert.equal(names.filter((name) => name === "host").length, 1);
    assert.equal(seen.headers.host, `127.0.0.1:${backend.port}`);
    assert.equal(seen.headers["x-forwarded-host"], "app.example:8443");
    assert.equal(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert.equal(seen.headers["x-forwarded-proto"], "https");
    assert.equal(seen.headers["x-real-ip"], undefined);
    assert.equal(seen.headers.te, undefined);
    assert.equal(names.filter((name) => name === "cookie").length, 1);
    assert.equal(seen.headers.cookie, "a=1; b=2");
    assert.equal(seen.headers["x-custom"], "yes");
    assert.equal(seen.headers["transfer-encoding"], undefined);
    assert.equal(seen.headers["content-length"], undefined);
  });

  for (const variant of Object.keys(HOP_VARIANTS)) {
    it(`a backend answer with ${variant}: relayed whole, without what HTTP/2 forbids`, async () => {
      const answer = await h2request(session, { ":path": `/api/hop?v=${variant}` });
      assert.equal(answer.status, 200);
      assert.equal(answer.body.toString(), `GET /api/hop?v=${variant}`);
      assert.equal(answer.headers["x-keep"], "kept");
      for (const name of FORBIDDEN_IN_H2) assert.equal(answer.headers[name], undefined, `${name} reached the client`);
      assert.equal(answer.headers["content-type"], "text/plain");
      if (variant === "double-location") assert.equal(answer.headers.location, "/a");
    });
  }

  it("relays a backend status with its reason phrase dropped (HTTP/2 has none), the connection going on", async () => {
    for (const status of [204, 404, 418, 503]) {
      const answer = await h2request(session, { ":path": `/api/status/${status}` });
      assert.equal(answer.status, status);
      assert.equal(answer.headers["x-status"], "yes");
    }
    assert.equal(session.destroyed, false);
  });

  it("streams a 32 MiB upload of unknown length (chunked to the backend) and one with Content-Length", async () => {
    const chunks = Array.from({ length: 512 }, (_, i) => Buffer.alloc(64 * 1024, i % 251));
    const whole = Buffer.concat(chunks);
    const digest = createHash("sha256").update(whole).digest("hex");
    const before = backend.requests.length;
    const chunked = await h2request(session, { ":method": "POST", ":path": "/api/upload" }, chunks);
    assert.equal(chunked.status, 200);
    assert.equal(chunked.body.toString(), `${whole.length} ${digest}`);
    const sized = await h2request(
      session,
      { ":method": "PUT", ":path": "/api/upload", "content-length": String(whole.length) },
      chunks,
    );
    assert.equal(sized.body.toString(), `${whole.length} ${digest}`);
    const seen = (await backend.waitFor(before + 2)).slice(before);
    assert.equal(seen[0]?.headers["transfer-encoding"], "chunked");
    assert.equal(seen[0]?.headers["content-length"], undefined);
    assert.equal(seen[1]?.headers["content-length"], String(whole.length));
    assert.equal(seen[1]?.headers["transfer-encoding"], undefined);
  });

  it("a download the client stops reading holds the backend back (flow control is the backpressure), then completes", async () => {
    const stream = session.request({ ":path": "/stream" });
    let received = 0;
    stream.on("data", (chunk: Buffer) => (received += chunk.length));
    await new Promise((resolve) => stream.once("response", resolve));
    stream.pause();
    // The client reads nothing for a while: the backend must stall far short of the 64 MiB.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const stalledAt = download.written;
    assert.equal(download.done, false);
    assert.ok(stalledAt < 24 * 1024 * 1024, `the backend wrote ${stalledAt} bytes to a client that reads nothing`);
    stream.resume();
    await withTimeout(new Promise((resolve) => stream.on("end", resolve)), 30000, "the whole download");
    assert.equal(received, 64 * 1024 * 1024);
  });

  it("normalises the path as on HTTP/1.1: the same status and the same target at the backend", async () => {
    const targets = [
      "/api/a/../b",
      "/api/a/./b",
      "/api//double",
      "/api/%2e%2e/x",
      "/api/a%2Fb",
      "/api/a\\b",
      "/api/a;p=1",
      "/api/%7Euser",
      "/api/..",
      "/nope",
      "/api/q?x=%00",
    ];
    for (const target of targets) {
      const before = backend.requests.length;
      const h1 = await h1request(port, pki.ca.cert, target);
      const h1seen = (await backend.waitFor(before + 1, h1.status === 200 ? 2000 : 100)).slice(before);
      const h2 = await h2request(session, { ":path": target });
      const h2seen = (await backend.waitFor(before + 1 + h1seen.length, h2.status === 200 ? 2000 : 100)).slice(
        before + h1seen.length,
      );
      assert.equal(h2.status, h1.status, `${target}: h2 ${h2.status}, h1 ${h1.status}`);
      assert.deepEqual(
        h2seen.map((r) => r.url),
        h1seen.map((r) => r.url),
        target,
      );
    }
  });

  it("answers the gateway's refusals with HTTP/1.1's statuses: 502 unreachable backend, 413 body too large, 404", async () => {
    const dead = await h2request(session, { ":path": "/dead" });
    assert.equal(dead.status, (await h1request(port, pki.ca.cert, "/dead")).status);
    assert.equal(dead.status, 502);
    const big = await h2request(
      session,
      { ":method": "POST", ":path": "/small", "content-length": "11" },
      Buffer.from("hello world"),
    );
    assert.equal(big.status, 413);
    const bigUnknown = await h2request(session, { ":method": "POST", ":path": "/small" }, [
      Buffer.alloc(6),
      Buffer.alloc(6),
    ]).catch((error: Error) => ({ status: -1, error }));
    // A body of unknown length found too large on its way: 413 when the answer has not started, else the stream is cut.
    assert.ok(bigUnknown.status === 413 || bigUnknown.status === -1, `status ${bigUnknown.status}`);
    const none = await h2request(session, { ":path": "/nowhere" });
    assert.equal(none.status, 404);
    assert.equal(none.headers.connection, undefined);
    assert.equal(session.destroyed, false);
    // Node warns (once, on stderr) when an h2 answer is given a connection-specific field: none was.
    assert.doesNotMatch(gateway.stderr, /connection header is not valid|Status message is not supported/);
  });

  it("writes the access line of an h2 request as of an HTTP/1.1 one (status, path, client)", async () => {
    await h2request(session, { ":path": "/api/logged?x=1" });
    const line = await gateway.nextLog((entry) => String(entry.path ?? entry.url ?? "").startsWith("/api/logged"));
    assert.equal(line.status, 200);
    assert.ok(JSON.stringify(line).includes("127.0.0.1"));
  });

  it("connection-specific fields in an h2 request: that stream is refused, nothing reaches the backend", async () => {
    const variants: Array<[string, string]> = [
      ["connection", "keep-alive"],
      ["keep-alive", "timeout=5"],
      ["upgrade", "websocket"],
      ["proxy-connection", "keep-alive"],
      ["transfer-encoding", "chunked"],
      ["te", "gzip"],
    ];
    const raw = await RawH2.connect(port, { tls: true });
    try {
      const before = backend.requests.length;
      let id = 1;
      for (const [name, value] of variants) {
        const fields: Array<[string, string]> = [
          [":method", "GET"],
          [":scheme", "https"],
          [":path", `/api/conn-${name}`],
          [":authority", "localhost"],
          [name, value],
        ];
        raw.write(h2frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, id, headerBlock(fields)));
        id += 2;
      }
      const last = id;
      raw.write(
        h2frame(
          FrameType.HEADERS,
          Flag.END_HEADERS | Flag.END_STREAM,
          last,
          headerBlock([
            [":method", "GET"],
            [":scheme", "https"],
            [":path", "/api/fine"],
            [":authority", "localhost"],
          ]),
        ),
      );
      await raw.until(() => raw.frames.some((f) => f.type === FrameType.DATA && f.stream === last), 5000, "/api/fine");
      const resets = raw.resets();
      assert.equal(resets.length, variants.length, JSON.stringify(resets));
      assert.ok(resets.every((r) => r.code === H2Error.PROTOCOL_ERROR));
      const seen = (await backend.waitFor(before + 1)).slice(before).map((r) => r.url);
      assert.deepEqual(seen, ["/api/fine"]);
    } finally {
      raw.close();
    }
  });

  it("the gateway's SETTINGS carry http2Limits' defaults", async () => {
    const raw = await RawH2.connect(port, { tls: true });
    try {
      await raw.until(() => raw.frames.some((f) => f.type === FrameType.SETTINGS && f.flags === 0), 5000, "SETTINGS");
      const payload =
        raw.frames.find((f) => f.type === FrameType.SETTINGS && f.flags === 0)?.payload ?? Buffer.alloc(0);
      const settings = new Map<number, number>();
      for (let i = 0; i + 6 <= payload.length; i += 6)
        settings.set(payload.readUInt16BE(i), payload.readUInt32BE(i + 2));
      assert.equal(settings.get(3), 100);
      assert.equal(settings.get(6), 16384);
      raw.write(settingsFrame());
    } finally {
      raw.close();
    }
  });
});
