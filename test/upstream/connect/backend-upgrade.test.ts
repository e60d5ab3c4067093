// The backend handshake without Node's HTTP client: the request head it writes, the 101 parser (every split of the
// bytes, oversized and odd heads), and openBackendHandshake against raw TCP backends, compared answer by answer
// with what Node's http.request (the way it was done before) makes of the same bytes.
import assert from "node:assert/strict";
import http, { type IncomingMessage } from "node:http";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { GatewayError, UpstreamHandshakeTimeoutError } from "../../../src/errors.js";
import { openBackendHandshake } from "../../../src/upstream/connect/backend-upgrade.js";
import { MAX_HEAD_BYTES, parseUpgradeHead, upgradeRequestHead } from "../../../src/websocket/upgrade-response.js";
import { withTimeout } from "../../helpers/net.js";

const ACCEPT = "HSmrc0sMlYUkAGmm5OPpG2HaGWk=";
const PLAIN_101 =
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  `Sec-WebSocket-Accept: ${ACCEPT}\r\nSec-WebSocket-Protocol: chat\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n` +
  "X-Twice: one\r\nx-twice: two\r\nServer: first\r\nServer: second\r\nX-Empty:\r\n\r\n";
const FRAME_AFTER = Buffer.from([0x81, 0x02, 0x68, 0x69]);

const HEADERS: Array<[string, string]> = [
  ["Host", "backend.test:8080"],
  ["Upgrade", "websocket"],
  ["Connection", "Upgrade"],
  ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
  ["Sec-WebSocket-Version", "13"],
  ["Cookie", "x=1; y=2"],
  ["X-Forwarded-For", "10.0.0.1"],
];

describe("upgrade response parser", () => {
  it("reads a plain 101 only once it is whole, split at every byte, and keeps the bytes after it", () => {
    const data = Buffer.concat([Buffer.from(PLAIN_101, "latin1"), FRAME_AFTER]);
    const headLength = PLAIN_101.length;
    for (let length = 0; length < headLength; length++) {
      assert.equal(parseUpgradeHead(data.subarray(0, length)).kind, "incomplete", `prefix of ${length} bytes`);
    }
    for (let length = headLength; length <= data.length; length++) {
      const verdict = parseUpgradeHead(data.subarray(0, length));
      assert.equal(verdict.kind, "upgrade");
      if (verdict.kind !== "upgrade") return;
      assert.equal(verdict.headLength, headLength);
      assert.equal(verdict.response.statusCode, 101);
      assert.equal(verdict.response.statusMessage, "Switching Protocols");
    }
  });

  it("leaves every other answer to Node's parser, as early as it can tell", () => {
    const others = [
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.1 403 Forbidden\r\n\r\n",
      "HTTP/1.0 101 Switching Protocols\r\n\r\n",
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n",
      "HTTP/1.1 1010 Switching\r\n\r\n",
      "http/1.1 101 Switching Protocols\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade websocket\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nBad Name: x\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\n: x\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nX-Folded: a\r\n b\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nX-Trailing: a \r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nX-Tab:\tb\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nX-Latin: \u00e9\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\r\nTransfer-Encoding: chunked\r\n\r\n",
      "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n\r\n\r\n",
      "HTTP/1.1 101 Switching\x01Protocols\r\n\r\n",
      "garbage",
    ];
    for (const answer of others) {
      assert.equal(parseUpgradeHead(Buffer.from(answer, "latin1")).kind, "other", JSON.stringify(answer));
    }
    // A wrong status line is known from its first differing byte.
    assert.equal(parseUpgradeHead(Buffer.from("HTTP/1.1 2", "latin1")).kind, "other");
    assert.equal(parseUpgradeHead(Buffer.from("HTTP/1.1 10", "latin1")).kind, "incomplete");
  });

  it("leaves heads past its size limit to Node's parser, complete or not", () => {
    const big = `HTTP/1.1 101 Switching Protocols\r\nX-Big: ${"a".repeat(MAX_HEAD_BYTES)}\r\n\r\n`;
    assert.equal(parseUpgradeHead(Buffer.from(big, "latin1")).kind, "other");
    const unfinished = Buffer.from(big.slice(0, MAX_HEAD_BYTES), "latin1");
    assert.equal(parseUpgradeHead(unfinished).kind, "other");
    assert.equal(parseUpgradeHead(unfinished.subarray(0, MAX_HEAD_BYTES - 1)).kind, "incomplete");
  });
});

describe("upgrade request head", () => {
  it("is byte for byte what Node's http.request writes for the same headers", async () => {
    const written = upgradeRequestHead("/chat?room=1", HEADERS);
    assert.equal(written, await requestNodeWrites("/chat?room=1", HEADERS));
  });

  it("is left to Node's client where Node would check, refuse or add something", () => {
    assert.equal(upgradeRequestHead("/a b", HEADERS), undefined);
    assert.equal(upgradeRequestHead("", HEADERS), undefined);
    assert.equal(upgradeRequestHead("/", [...HEADERS, ["Bad Name", "x"]]), undefined);
    assert.equal(upgradeRequestHead("/", [...HEADERS, ["X-Line", "a\r\nInjected: 1"]]), undefined);
    assert.equal(upgradeRequestHead("/", [...HEADERS, ["X-Latin", "\u00e9"]]), undefined);
    assert.equal(upgradeRequestHead("/", [...HEADERS, ["Content-Length", "0"]]), undefined);
    assert.equal(upgradeRequestHead("/", [...HEADERS, ["Transfer-Encoding", "chunked"]]), undefined);
    assert.equal(upgradeRequestHead("/", [...HEADERS, ["Expect", "100-continue"]]), undefined);
    assert.equal(
      upgradeRequestHead(
        "/",
        HEADERS.filter(([name]) => name !== "Connection"),
      ),
      undefined,
    );
  });
});

/** A backend that answers each connection with the next scripted answer, written in the given pieces. */
class ScriptedBackend {
  private readonly server = net.createServer({ noDelay: true });
  port = 0;
  /** What the next connection gets: pieces written a few ms apart, then an end (or not). */
  next: { pieces: Buffer[]; end: boolean } = { pieces: [], end: true };
  /** What each connection sent, once it ended. */
  readonly requests: Buffer[] = [];
  private readonly sockets = new Set<net.Socket>();

  async start(): Promise<void> {
    this.server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => socket.destroy());
      const script = this.next;
      const received: Buffer[] = [];
      let answered = false;
      socket.on("data", (chunk: Buffer) => {
        received.push(chunk);
        if (answered || !Buffer.concat(received).includes("\r\n\r\n")) return;
        answered = true;
        this.requests.push(Buffer.concat(received));
        void (async () => {
          for (const piece of script.pieces) {
            if (socket.destroyed) return;
            socket.write(piece);
            await new Promise((resolve) => setTimeout(resolve, 3));
          }
          if (script.end) socket.end();
        })();
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** What a handshake came to, in terms both ways of asking can be compared in. */
interface Outcome {
  kind: "upgrade" | "answer" | "error";
  statusCode?: number | undefined;
  statusMessage?: string | undefined;
  headers?: unknown;
  rawHeaders?: string[];
  /** Bytes after the 101 head, with what the socket delivers next (within a short wait). */
  after?: string;
  body?: string;
  error?: string;
}

function readBody(response: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    response.on("data", (chunk: Buffer) => chunks.push(chunk));
    response.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
    response.on("error", () => resolve(`${Buffer.concat(chunks).toString("latin1")}<error>`));
    response.resume();
  });
}

/** The head bytes plus whatever else the socket delivers within 30 ms. */
function afterHead(socket: net.Socket, head: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const chunks = [head];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.resume();
    setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString("latin1"));
    }, 30);
  });
}

const backend = new ScriptedBackend();

async function throughGateway(pieces: Buffer[], end = true): Promise<Outcome> {
  backend.next = { pieces, end };
  const handshake = openBackendHandshake({
    url: new URL(`ws://127.0.0.1:${backend.port}`),
    label: `127.0.0.1:${backend.port}`,
    target: "/ws",
    headers: HEADERS,
    dialTimeout: 2000,
    handshakeTimeout: 2000,
  });
  try {
    const result = await withTimeout(handshake.result, 4000, "the gateway's handshake");
    if (result.kind === "answered") {
      const { statusCode, statusMessage, headers, rawHeaders } = result.response;
      return { kind: "answer", statusCode, statusMessage, headers, rawHeaders, body: await readBody(result.response) };
    }
    assert.ok(result.socket instanceof net.Socket, "the session gets the backend's own socket");
    const { statusCode, statusMessage, headers, rawHeaders } = result.response;
    const after = await afterHead(result.socket, result.head);
    return { kind: "upgrade", statusCode, statusMessage, headers: { ...headers }, rawHeaders, after };
  } catch (error) {
    assert.ok(error instanceof GatewayError, String(error));
    return { kind: "error", error: error.message };
  }
}

/** The same through Node's http.request, as the gateway did before, with its errors worded as the gateway's. */
function throughNodeClient(pieces: Buffer[], end = true): Promise<Outcome> {
  backend.next = { pieces, end };
  return withTimeout(
    new Promise<Outcome>((resolve) => {
      const flat = HEADERS.flat();
      const req = http.request({
        host: "127.0.0.1",
        port: backend.port,
        path: "/ws",
        headers: flat,
        setHost: false,
        agent: false,
      });
      req.on("upgrade", (response: IncomingMessage, socket: net.Socket, head: Buffer) => {
        socket.pause();
        const { statusCode, statusMessage, headers, rawHeaders } = response;
        void afterHead(socket, head).then((after) =>
          resolve({ kind: "upgrade", statusCode, statusMessage, headers: { ...headers }, rawHeaders, after }),
        );
      });
      req.on("response", (response: IncomingMessage) => {
        const { statusCode, statusMessage, headers, rawHeaders } = response;
        void readBody(response).then((body) =>
          resolve({ kind: "answer", statusCode, statusMessage, headers, rawHeaders, body }),
        );
      });
      req.on("error", (error: NodeJS.ErrnoException) =>
        resolve({
          kind: "error",
          error: `backend 127.0.0.1:${backend.port} closed the connection during the handshake: ${error.code ?? error.message}`,
        }),
      );
      req.end();
    }),
    4000,
    "Node's handshake",
  );
}

/** Node's http.request's view of a raw answer (for the parser's header semantics). */
async function throughNode(answer: string): Promise<Outcome> {
  return throughNodeClient([Buffer.from(answer, "latin1")]);
}

/** The head Node's http.request writes for these headers. */
function requestNodeWrites(target: string, headers: Array<[string, string]>): Promise<string> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => {
      const chunks: Buffer[] = [];
      socket.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        const text = Buffer.concat(chunks).toString("latin1");
        if (!text.includes("\r\n\r\n")) return;
        socket.destroy();
        server.close();
        resolve(text);
      });
    });
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      const req = http.request({
        host: "127.0.0.1",
        port,
        path: target,
        headers: headers.flat(),
        setHost: false,
        agent: false,
      });
      req.on("error", () => undefined);
      req.end();
    });
    server.on("error", reject);
  });
}

const CHUNKED_403 =
  "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nX-Reason: origin\r\n\r\n" +
  "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";

describe("backend handshake over raw sockets, against Node's client", () => {
  before(() => backend.start());
  after(() => backend.close());

  const cases: Array<{ name: string; answer: string | Buffer; end?: boolean }> = [
    { name: "a plain 101 with a frame behind it", answer: Buffer.concat([Buffer.from(PLAIN_101), FRAME_AFTER]) },
    { name: "a 403 with a chunked body", answer: CHUNKED_403 },
    { name: "a 200 with Content-Length", answer: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" },
    { name: "a 502 with a body until close", answer: "HTTP/1.1 502 Bad Gateway\r\n\r\nbody until close" },
    {
      name: "an interim 100 before the 101",
      answer: `HTTP/1.1 100 Continue\r\n\r\n${PLAIN_101}\u0081\u0000`,
      end: false,
    },
    { name: "a 101 with a folded header", answer: `HTTP/1.1 101 Switching Protocols\r\nX-A: 1\r\n 2\r\n\r\n` },
    { name: "a 101 with trailing spaces", answer: `HTTP/1.1 101 Switching Protocols\r\nX-A: 1  \r\n\r\n` },
    { name: "a bad status line", answer: "HTTP/1.1 OK\r\n\r\n" },
    { name: "garbage", answer: "\u0000\u0001garbage\r\n\r\n" },
    {
      name: "a header past Node's limit",
      answer: `HTTP/1.1 101 Switching Protocols\r\nX-Big: ${"b".repeat(20_000)}\r\n\r\n`,
    },
    { name: "a 101 cut short", answer: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs" },
    { name: "nothing at all", answer: "" },
  ];
  for (const { name, answer, end } of cases) {
    it(`${name}: the same outcome`, async () => {
      const bytes = Buffer.isBuffer(answer) ? answer : Buffer.from(answer, "latin1");
      const pieces = bytes.length === 0 ? [] : [bytes];
      const ours = await throughGateway(pieces, end ?? true);
      const node = await throughNodeClient(pieces, end ?? true);
      assert.deepEqual(ours, node);
    });
  }

  it("a 101 and a 403 split in two at every byte: the same outcome as in one piece", async () => {
    for (const answer of [Buffer.concat([Buffer.from(PLAIN_101), FRAME_AFTER]), Buffer.from(CHUNKED_403)]) {
      const whole = await throughNodeClient([answer]);
      for (let split = 1; split < answer.length; split += 1) {
        const ours = await throughGateway([answer.subarray(0, split), answer.subarray(split)]);
        assert.deepEqual(ours, whole, `split at ${split}`);
      }
    }
  });

  it("gives the headers as Node's IncomingMessage does (repeats joined, dropped or listed)", async () => {
    const verdict = parseUpgradeHead(Buffer.from(PLAIN_101, "latin1"));
    assert.equal(verdict.kind, "upgrade");
    if (verdict.kind !== "upgrade") return;
    const node = await throughNode(PLAIN_101);
    assert.equal(node.kind, "upgrade");
    assert.deepEqual(verdict.response.headers, node.headers);
    assert.deepEqual(verdict.response.rawHeaders, node.rawHeaders);
    assert.equal(verdict.response.statusMessage, node.statusMessage);
  });

  it("writes the request head Node's client would", async () => {
    backend.requests.length = 0;
    await throughGateway([Buffer.from(PLAIN_101)]);
    await throughNodeClient([Buffer.from(PLAIN_101)]);
    assert.equal(backend.requests.length, 2);
    assert.equal(backend.requests[0]?.toString("latin1"), backend.requests[1]?.toString("latin1"));
  });

  it("times out a backend that never answers, and gives up when aborted", async () => {
    backend.next = { pieces: [], end: false };
    const silent = openBackendHandshake({
      url: new URL(`ws://127.0.0.1:${backend.port}`),
      label: "silent",
      target: "/ws",
      headers: HEADERS,
      dialTimeout: 2000,
      handshakeTimeout: 50,
    });
    await assert.rejects(withTimeout(silent.result, 2000, "the timeout"), /silent/);
    backend.next = { pieces: [], end: false };
    // One timer serves both deadlines: the dial's, due first here, must wait out the handshake's, not end it early.
    const started = Date.now();
    const slow = openBackendHandshake({
      url: new URL(`ws://127.0.0.1:${backend.port}`),
      label: "slow",
      target: "/ws",
      headers: HEADERS,
      dialTimeout: 40,
      handshakeTimeout: 300,
    });
    await assert.rejects(withTimeout(slow.result, 3000, "the handshake timeout"), UpstreamHandshakeTimeoutError);
    assert.ok(Date.now() - started >= 280, `timed out after ${Date.now() - started} ms, before the handshake's 300`);
    backend.next = { pieces: [], end: false };
    const left = openBackendHandshake({
      url: new URL(`ws://127.0.0.1:${backend.port}`),
      label: "left",
      target: "/ws",
      headers: HEADERS,
      dialTimeout: 2000,
      handshakeTimeout: 2000,
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    left.abort();
    await assert.rejects(withTimeout(left.result, 2000, "the abort"), /ECONNRESET/);
  });
});
