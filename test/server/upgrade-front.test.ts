// The upgrade front (issue 22): the first head of a connection read by wsgate's own parser when it is a simple
// WebSocket upgrade, everything else given to Node's HTTP server. Differential: each head of a corpus (well-formed
// upgrades and many malformations) goes to a listener with the front and to a plain Node HTTP server; both must answer
// byte for byte the same, and whatever the front served itself must carry exactly what Node's parser would have
// given (method, url, version, rawHeaders, headers, headersDistinct, the bytes after the head).
import assert from "node:assert/strict";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import net, { type AddressInfo, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import tls from "node:tls";
import { UpgradeFront } from "../../src/server/upgrade-front.js";
import { upgradeFrontOnTls } from "../../src/server/tls/upgrade-front-tls.js";
import { TestPki } from "../helpers/certs.js";
import { simpleUpgradeHead } from "../../src/server/upgrade-head.js";
import { exchangeOn, rawExchange, statusOf, type RawExchange } from "../helpers/net.js";

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

function head(lines: string[], requestLine = "GET /chat HTTP/1.1", eol = "\r\n"): string {
  return [requestLine, ...lines].join(eol) + eol + eol;
}

const UPGRADE = ["Host: gw.example", "Upgrade: websocket", "Connection: Upgrade", `Sec-WebSocket-Key: ${KEY}`];
const upgradeWith = (...extra: string[]): string => head([...UPGRADE, ...extra]);
const replacing = (name: string, ...lines: string[]): string =>
  head([...UPGRADE.filter((line) => !line.toLowerCase().startsWith(`${name.toLowerCase()}:`)), ...lines]);

/** Heads the front must serve itself (and Node must read the same way). */
const SIMPLE: Array<[string, string]> = [
  ["a browser's upgrade", upgradeWith("Origin: https://app.example", "Sec-WebSocket-Version: 13")],
  ["lower-case names", head(["host: gw", "upgrade: websocket", "connection: upgrade"])],
  ["Connection as a list", replacing("Connection", "Connection: keep-alive, Upgrade")],
  ["Connection: close, upgrade", replacing("Connection", "Connection: close, upgrade")],
  ["Connection with spaces before a comma", replacing("Connection", "Connection: upgrade ,close")],
  ["Connection list without spaces", replacing("Connection", "Connection: keep-alive,Upgrade")],
  ["a query", head(UPGRADE, "GET /chat?room=1&x=%20y HTTP/1.1")],
  ["the root", head(UPGRADE, "GET / HTTP/1.1")],
  ["dot segments (request-target.ts reads them)", head(UPGRADE, "GET /a/../b/./c HTTP/1.1")],
  ["an encoded slash", head(UPGRADE, "GET /a%2Fb HTTP/1.1")],
  ["a value with a tab inside", upgradeWith("X-Note: a\tb")],
  ["no space after the colon", upgradeWith("X-Note:tight")],
  ["two Host headers (refused later, as today)", upgradeWith("Host: other.example")],
  ["two Authorization headers", upgradeWith("Authorization: a", "Authorization: b")],
  ["duplicate ordinary headers", upgradeWith("Cookie: a=1", "Cookie: b=2", "X-A: 1", "x-a: 2")],
  ["frame bytes right after the head", upgradeWith() + "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"],
  ["a second request pipelined after the head", upgradeWith() + "GET / HTTP/1.1\r\nHost: x\r\n\r\n"],
  ["Upgrade: something else (the handshake refuses it later)", replacing("Upgrade", "Upgrade: h2c")],
  ["200 headers", upgradeWith(...Array.from({ length: 200 }, (_, i) => `X-H${i}: ${i}`))],
];

/** Heads the front must leave to Node: every answer then is Node's own. */
const LEFT_TO_NODE: Array<[string, string]> = [
  ["a plain GET", head(["Host: gw"])],
  ["a POST upgrade", head(UPGRADE, "POST /chat HTTP/1.1")],
  ["lower-case method", head(UPGRADE, "get /chat HTTP/1.1")],
  ["HEAD", head(UPGRADE, "HEAD /chat HTTP/1.1")],
  ["CONNECT", head(["Host: gw:443"], "CONNECT gw:443 HTTP/1.1")],
  ["HTTP/1.0", head(UPGRADE, "GET /chat HTTP/1.0")],
  ["HTTP/2.0", head(UPGRADE, "GET /chat HTTP/2.0")],
  ["lower-case version", head(UPGRADE, "GET /chat http/1.1")],
  ["two spaces before the target", head(UPGRADE, "GET  /chat HTTP/1.1")],
  ["a space after the version", head(UPGRADE, "GET /chat HTTP/1.1 ")],
  ["absolute-form", head(UPGRADE, "GET http://gw.example/chat HTTP/1.1")],
  ["asterisk-form", head(UPGRADE, "GET * HTTP/1.1")],
  ["a fragment", head(UPGRADE, "GET /chat#x HTTP/1.1")],
  ["a backslash", head(UPGRADE, "GET /a\\b HTTP/1.1")],
  ["brackets and braces", head(UPGRADE, "GET /a?x=[1]{2} HTTP/1.1")],
  ["a pipe and a caret", head(UPGRADE, "GET /a|b^c HTTP/1.1")],
  ["UTF-8 in the target", head(UPGRADE, "GET /\xc3\xa4 HTTP/1.1")],
  ["a NUL in the target", head(UPGRADE, "GET /a\x00b HTTP/1.1")],
  ["a tab in the target", head(UPGRADE, "GET /a\tb HTTP/1.1")],
  ["no Host", replacing("Host")],
  ["no Upgrade", replacing("Upgrade")],
  ["no Connection", replacing("Connection")],
  ["Connection: keep-alive", replacing("Connection", "Connection: keep-alive")],
  ["Connection: upgradex", replacing("Connection", "Connection: upgradex")],
  ["Connection: up grade", replacing("Connection", "Connection: up grade")],
  ["Connection with an empty element", replacing("Connection", "Connection: upgrade,,close")],
  ["Connection ending in a comma", replacing("Connection", "Connection: upgrade,")],
  [
    "Connection: a long run of spaces inside an element",
    replacing("Connection", `Connection: a${" ".repeat(6000)}b, upgrade`),
  ],
  ["two Connection headers", upgradeWith("Connection: keep-alive")],
  ["two Upgrade headers", upgradeWith("Upgrade: websocket")],
  ["an empty Upgrade", replacing("Upgrade", "Upgrade:")],
  ["an empty value", upgradeWith("X-Empty:")],
  ["Content-Length: 0", upgradeWith("Content-Length: 0")],
  ["Content-Length with a body", upgradeWith("Content-Length: 5") + "hello"],
  ["two Content-Length", upgradeWith("Content-Length: 5", "Content-Length: 6") + "hello!"],
  ["Transfer-Encoding: chunked", upgradeWith("Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n"],
  ["Transfer-Encoding and Content-Length", upgradeWith("Transfer-Encoding: chunked", "Content-Length: 3")],
  ["obs-fold", upgradeWith("X-Fold: a", " b")],
  ["obs-fold with a tab", upgradeWith("X-Fold: a", "\tb")],
  ["bare LF line ends", head(UPGRADE, "GET /chat HTTP/1.1", "\n")],
  ["one bare LF", `GET /chat HTTP/1.1\r\n${UPGRADE.join("\r\n")}\nX-A: 1\r\n\r\n`],
  ["a bare CR in a value", upgradeWith("X-A: a\rb")],
  ["a CR before the blank line's LF only", `GET /chat HTTP/1.1\r\n${UPGRADE.join("\r\n")}\r\n\r`],
  ["a space before the colon", upgradeWith("X-A : 1")],
  ["a space in a name", upgradeWith("X A: 1")],
  ["a name with '@'", upgradeWith("X@A: 1")],
  ["an empty name", upgradeWith(": 1")],
  ["a line without a colon", upgradeWith("X-A")],
  ["a NUL in a value", upgradeWith("X-A: a\x00b")],
  ["DEL in a value", upgradeWith("X-A: a\x7fb")],
  ["obs-text in a value", upgradeWith("X-A: caf\xe9")],
  ["a value ending in spaces", upgradeWith("X-A: a  ")],
  ["a value ending in a tab", upgradeWith("X-A: a\t")],
  ["a Host ending in a space", replacing("Host", "Host: gw ")],
  ["a head over half of Node's limit", upgradeWith(`X-Big: ${"a".repeat(9000)}`)],
  ["a head over Node's limit (431)", upgradeWith(`X-Big: ${"a".repeat(17000)}`)],
  ["an incomplete head", `GET /chat HTTP/1.1\r\n${UPGRADE.join("\r\n")}\r\n`],
  ["garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"],
  ["an empty line first", `\r\n${upgradeWith()}`],
];

interface Seen {
  via: string;
  method: string | undefined;
  url: string | undefined;
  httpVersion: string;
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
  headersDistinct: NodeJS.Dict<string[]>;
  head: string;
}

function seen(via: string, req: IncomingMessage, head: Buffer): Seen {
  return {
    via,
    method: req.method,
    url: req.url,
    httpVersion: req.httpVersion,
    rawHeaders: req.rawHeaders,
    headers: req.headers,
    headersDistinct: req.headersDistinct,
    head: head.toString("latin1"),
  };
}

/** Answers as a gateway would, describing what it read, so that two servers can be compared by their bytes. */
function describedServer(onSeen: (value: Seen) => void, tlsOptions?: tls.TlsOptions): http.Server {
  const options = { headersTimeout: 1000, requestTimeout: 1000 };
  const server =
    tlsOptions === undefined ? http.createServer(options) : https.createServer({ ...options, ...tlsOptions });
  server.maxHeadersCount = 0;
  server.on("request", (req: IncomingMessage, res: http.ServerResponse) => {
    res.sendDate = false;
    if (req.headers["x-keep"] === undefined) res.shouldKeepAlive = false;
    res.end(JSON.stringify({ request: seen("request", req, Buffer.alloc(0)) }));
  });
  server.on("upgrade", (req: IncomingMessage, socket: Socket, bodyHead: Buffer) =>
    answerUpgrade(onSeen, seen("upgrade", req, bodyHead), socket),
  );
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    socket.end(`HTTP/1.1 400 Bad Request\r\nX-Code: ${error.code ?? ""}\r\nConnection: close\r\n\r\n`);
  });
  return server;
}

function answerUpgrade(onSeen: (value: Seen) => void, value: Seen, socket: Socket): void {
  onSeen(value);
  const { via: _via, ...fields } = value;
  socket.end(
    `HTTP/1.1 101 Switching Protocols\r\nX-Seen: ${Buffer.from(JSON.stringify(fields)).toString("base64")}\r\n\r\n`,
  );
}

describe("UpgradeFront: the first head read by wsgate's parser, or by Node's", () => {
  let nodePort = 0;
  let frontPort = 0;
  let plain: http.Server;
  let inner: http.Server;
  let listener: net.Server;
  let front: UpgradeFront;
  const servedByFront: Seen[] = [];
  const timedOut: string[] = [];

  before(async () => {
    plain = describedServer(() => undefined);
    await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
    nodePort = (plain.address() as AddressInfo).port;
    inner = describedServer(() => undefined);
    front = new UpgradeFront({
      server: inner,
      upgrade: (req, socket, bodyHead) =>
        answerUpgrade((value) => servedByFront.push(value), seen("front", req, bodyHead), socket),
      timedOut: (error, socket) => {
        timedOut.push(error.code ?? "");
        socket.end("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n");
      },
      headerTimeout: () => 300,
      checkEvery: 50,
    });
    listener = net.createServer({ noDelay: true, allowHalfOpen: true }, front.accept);
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    inner.emit("listening");
    frontPort = (listener.address() as AddressInfo).port;
  });

  after(async () => {
    front.destroyWaiting();
    inner.closeAllConnections();
    inner.close(() => undefined);
    plain.closeAllConnections();
    await new Promise<void>((resolve) => plain.close(() => resolve()));
    await new Promise<void>((resolve) => listener.close(() => resolve()));
  });

  /** Both servers' answers to `request`, sent as one write. */
  const both = (request: string): Promise<[string, string]> => answers(rawExchange, nodePort, frontPort, request);

  it("serves each simple upgrade itself, with what Node's parser would have given, byte for byte", async () => {
    for (const [name, request] of SIMPLE) {
      const before = servedByFront.length;
      const [viaNode, viaFront] = await both(request);
      assert.equal(statusOf(Buffer.from(viaNode, "latin1")), 101, `${name}: Node upgrades it`);
      assert.equal(viaFront, viaNode, `${name}: the same answer`);
      assert.equal(servedByFront.length, before + 1, `${name}: served by the front`);
      assert.ok(simpleUpgradeHead(Buffer.from(request, "latin1"), 8192) !== undefined, name);
    }
  });

  it("leaves every other head to Node, whose answer is the same as without the front", async () => {
    const before = servedByFront.length;
    for (const [name, request] of LEFT_TO_NODE) {
      assert.equal(simpleUpgradeHead(Buffer.from(request, "latin1"), 8192), undefined, `${name}: not simple`);
      const [viaNode, viaFront] = await both(request);
      assert.equal(viaFront, viaNode, `${name}: the same answer`);
    }
    assert.equal(servedByFront.length, before, "none served by the front");
  });

  it("reads a Connection value with a long run of spaces in linear time (no regular expression to backtrack)", () => {
    const request = Buffer.from(replacing("Connection", `Connection: a${" ".repeat(7000)}b, upgrade`), "latin1");
    const started = process.cpuUsage();
    for (let i = 0; i < 50; i++) assert.equal(simpleUpgradeHead(request, 8192), undefined);
    const { user, system } = process.cpuUsage(started);
    assert.ok(user + system < 1_000_000, `50 reads took ${(user + system) / 1000} ms of CPU`);
  });

  it("a head sent in two pieces goes to Node whole, and Node upgrades it", async () => {
    const request = upgradeWith("X-Split: yes");
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(frontPort, "127.0.0.1");
      const chunks: Buffer[] = [];
      socket.on("data", (chunk: Buffer) => chunks.push(chunk));
      socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
      socket.write(request.slice(0, 20));
      setTimeout(() => socket.write(request.slice(20)), 50);
    });
    assert.equal(statusOf(Buffer.from(answer, "latin1")), 101);
    assert.match(answer, /X-Seen: /);
  });

  it("keep-alive requests after a plain first request stay with Node, an upgrade among them included", async () => {
    const before = servedByFront.length;
    const request = head(["Host: gw", "X-Keep: 1"], "GET /first HTTP/1.1") + upgradeWith();
    const [viaNode, viaFront] = await both(request);
    assert.equal(viaFront, viaNode);
    assert.match(viaFront, /X-Seen: /, "the second request upgraded");
    assert.equal(servedByFront.length, before, "by Node's parser");
  });

  it("answers a connection that sends nothing with the header timeout's answer, as Node would", async () => {
    const answer = await rawExchange(frontPort, Buffer.alloc(0), 3000);
    assert.ok(answer.closed, "closed");
    assert.equal(statusOf(answer.received), 408);
    assert.deepEqual(timedOut, ["ERR_HTTP_REQUEST_TIMEOUT"]);
  });
});

/** Node's and the front's answers to `request`, sent as one write to each over `exchange` (TCP or TLS). */
async function answers(
  exchange: (port: number, request: Buffer, ms: number) => Promise<RawExchange>,
  nodePort: number,
  frontPort: number,
  request: string,
): Promise<[string, string]> {
  const bytes = Buffer.from(request, "latin1");
  const [viaNode, viaFront] = await Promise.all([exchange(nodePort, bytes, 1500), exchange(frontPort, bytes, 1500)]);
  return [viaNode.received.toString("latin1"), viaFront.received.toString("latin1")];
}

/** rawExchange over TLS: `request` written once the handshake is done; what came back until close or `ms`. */
function tlsExchange(port: number, request: Buffer, ms: number): Promise<RawExchange> {
  const socket = tls.connect({ port, host: "127.0.0.1", servername: "gw.test", rejectUnauthorized: false });
  return exchangeOn(socket, request, ms, "secureConnect");
}

describe("UpgradeFront on a TLS listener: after the handshake, in place of Node's HTTP/1.1 listener", () => {
  let pki: TestPki;
  let nodePort = 0;
  let frontPort = 0;
  let plain: http.Server;
  let withFront: http.Server;
  let front: UpgradeFront;
  const servedByFront: Seen[] = [];

  before(async () => {
    pki = await TestPki.create();
    const pair = await pki.issue({ cn: "gw.test", dns: ["gw.test"] });
    const tlsOptions = { cert: pair.cert, key: pair.key, minVersion: "TLSv1.3" as const };
    plain = describedServer(() => undefined, tlsOptions);
    await new Promise<void>((resolve) => plain.listen(0, "127.0.0.1", resolve));
    nodePort = (plain.address() as AddressInfo).port;
    withFront = describedServer(() => undefined, tlsOptions);
    front = upgradeFrontOnTls(withFront as https.Server, {
      upgrade: (req, socket, bodyHead) =>
        answerUpgrade((value) => servedByFront.push(value), seen("front", req, bodyHead), socket),
      timedOut: (_error, socket) => socket.end("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n"),
      headerTimeout: () => 300,
      checkEvery: 50,
    });
    await new Promise<void>((resolve) => withFront.listen(0, "127.0.0.1", resolve));
    frontPort = (withFront.address() as AddressInfo).port;
  });

  after(async () => {
    front.destroyWaiting();
    for (const server of [plain, withFront]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await pki.cleanup();
  });

  const both = (request: string): Promise<[string, string]> => answers(tlsExchange, nodePort, frontPort, request);

  it("serves each simple upgrade itself, with what Node's parser would have given, byte for byte", async () => {
    for (const [name, request] of SIMPLE) {
      const before = servedByFront.length;
      const [viaNode, viaFront] = await both(request);
      assert.equal(statusOf(Buffer.from(viaNode, "latin1")), 101, `${name}: Node upgrades it`);
      assert.equal(viaFront, viaNode, `${name}: the same answer`);
      assert.equal(servedByFront.length, before + 1, `${name}: served by the front`);
    }
  });

  it("gives every other head back to Node's HTTP/1.1 listener on the TLS socket, whose answer is the same", async () => {
    const before = servedByFront.length;
    for (const [name, request] of LEFT_TO_NODE) {
      const [viaNode, viaFront] = await both(request);
      assert.equal(viaFront, viaNode, `${name}: the same answer`);
    }
    const keepAlive = head(["Host: gw", "X-Keep: 1"], "GET /first HTTP/1.1") + upgradeWith();
    const [viaNode, viaFront] = await both(keepAlive);
    assert.equal(viaFront, viaNode, "keep-alive, then an upgrade");
    assert.match(viaFront, /X-Seen: /, "the second request upgraded");
    assert.equal(servedByFront.length, before, "none served by the front");
  });

  it("answers a TLS connection that sends nothing with the header timeout's answer", async () => {
    const answer = await tlsExchange(frontPort, Buffer.alloc(0), 3000);
    assert.ok(answer.closed, "closed");
    assert.equal(statusOf(answer.received), 408);
  });
});
