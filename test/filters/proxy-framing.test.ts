// The Proxy's request framing and header list, on requests parsed by Node's real HTTP server from raw bytes: a
// generated table of Connection lists (every name alone and every pair) x body framings x a filter-set header. Whatever
// a client lists in Connection, the gateway's own headers (Host, X-Forwarded-*, the framing it writes, headers filters
// set) are each sent exactly once, and the client's framing headers never pass on their own.
import assert from "node:assert/strict";
import http, { type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { UnframableBodyError } from "../../src/filters/proxy/errors.js";
import { requestFraming, type BodyFraming } from "../../src/filters/proxy/framing.js";
import { proxyRequestHeaders } from "../../src/filters/proxy/headers.js";
import { UpstreamServer } from "../../src/upstream/server.js";
import { OwnedHeaders } from "../../src/pipeline/owned-headers.js";
import { endToEndHeaders } from "../../src/websocket/handshake.js";
import { withTimeout } from "../helpers/net.js";

/** Names a client could list in Connection to strip a header on its way to the backend. */
const LISTABLE = [
  "content-length",
  "Content-Length",
  "transfer-encoding",
  "host",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-proto",
  "x-user",
  "expect",
  "authorization",
  "upgrade",
  "x-custom",
];

const BODY = "0123456789";

const FRAMINGS = [
  { name: "no body", lines: [] as string[], payload: "", expected: { kind: "none" } },
  {
    name: "length",
    lines: [`Content-Length: ${BODY.length}`],
    payload: BODY,
    expected: { kind: "length", length: 10 },
  },
  { name: "empty length", lines: ["Content-Length: 0"], payload: "", expected: { kind: "length", length: 0 } },
  {
    name: "chunked",
    lines: ["Transfer-Encoding: chunked"],
    payload: `a\r\n${BODY}\r\n0\r\n\r\n`,
    expected: { kind: "chunked" },
  },
] as const;

function connectionLists(): string[] {
  const lists = [...LISTABLE];
  LISTABLE.forEach((first, i) => LISTABLE.slice(i + 1).forEach((second) => lists.push(`${first}, ${second}`)));
  return lists;
}

describe("Proxy request framing and headers (real parser)", () => {
  let server: http.Server;
  let port: number;
  /** The next request the server parses goes to this waiter. */
  let waiting: ((req: IncomingMessage) => void) | undefined;

  before(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => res.end());
      waiting?.(req);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );

  /** Sends `raw` on its own connection and resolves with the request as Node parsed it. */
  function parsed(raw: string): Promise<IncomingMessage> {
    return withTimeout(
      new Promise<IncomingMessage>((resolve) => {
        waiting = resolve;
        const socket = net.connect(port, "127.0.0.1", () => socket.end(raw));
        socket.on("error", () => undefined);
        socket.resume();
      }),
      2000,
      "the parsed request",
    );
  }

  it("sends each gateway header once and frames the body itself, whatever Connection lists", async () => {
    const upstream = new UpstreamServer({ url: "http://10.0.0.9:8080", weight: 1, keepHost: false, tags: [] });
    // A filter sets X-User: the gateway owns that name, as the pipeline would make it.
    const ownedByFilter = new OwnedHeaders();
    ownedByFilter.own("X-User");
    let rows = 0;
    for (const list of connectionLists()) {
      for (const framing of FRAMINGS) {
        const row = `Connection: ${list}; ${framing.name}`;
        const req = await parsed(
          "POST /x HTTP/1.1\r\nHost: gw.test\r\nX-Forwarded-For: 10.1.1.1\r\nX-User: forged\r\nX-Custom: c\r\n" +
            `Expect: 100-continue\r\nAuthorization: Bearer t\r\nConnection: ${list}\r\n` +
            framing.lines.map((line) => `${line}\r\n`).join("") +
            `\r\n${framing.payload}`,
        );
        // Hop-by-hop removal itself (shared with WebSocketProxy and responses) keeps Host and Content-Length.
        const kept = endToEndHeaders(req.rawHeaders, req.headers).map(([name]) => name.toLowerCase());
        assert.ok(kept.includes("host"), row);
        assert.equal(kept.includes("content-length"), req.headers["content-length"] !== undefined, row);
        const bodyFraming = requestFraming(req);
        assert.deepEqual(bodyFraming, framing.expected, row);
        const headers = proxyRequestHeaders({
          req,
          server: upstream,
          clientIp: "127.0.0.1",
          secure: false,
          framing: bodyFraming as BodyFraming,
          extra: [["X-User", "from-filter"]],
          owned: ownedByFilter,
        });
        const values = (name: string): string[] =>
          headers.filter(([header]) => header.toLowerCase() === name).map(([, value]) => value);
        assert.deepEqual(values("host"), ["10.0.0.9:8080"], row);
        // Its value is the client-address rules' business; here only that there is one.
        assert.equal(values("x-forwarded-for").length, 1, row);
        assert.deepEqual(values("x-forwarded-host"), ["gw.test"], row);
        assert.deepEqual(values("x-forwarded-proto"), ["http"], row);
        assert.deepEqual(values("x-user"), ["from-filter"], row);
        assert.deepEqual(values("expect"), [], row);
        assert.deepEqual(values("connection"), [], row);
        const length = framing.expected.kind === "length" ? [String(framing.expected.length)] : [];
        assert.deepEqual(values("content-length"), length, row);
        assert.deepEqual(values("transfer-encoding"), framing.expected.kind === "chunked" ? ["chunked"] : [], row);
        // A header the client named in Connection, and that the gateway does not set, is hop-by-hop: dropped.
        if (list.includes("x-custom")) assert.deepEqual(values("x-custom"), [], row);
        else assert.deepEqual(values("x-custom"), ["c"], row);
        rows++;
      }
    }
    assert.ok(rows >= 300, `${rows} rows`);
  });

  it("refuses framings it cannot send on exactly as read: codings other than chunked, lengths past 2^53", async () => {
    const refused = [
      "Transfer-Encoding: gzip, chunked",
      "Transfer-Encoding: Gzip,Chunked",
      "Transfer-Encoding: deflate, chunked",
      "Content-Length: 9007199254740993",
      "Content-Length: 18446744073709551615",
    ];
    for (const line of refused) {
      const req = await parsed(`POST /x HTTP/1.1\r\nHost: gw.test\r\n${line}\r\n\r\n`);
      const framing = requestFraming(req);
      assert.ok(framing instanceof UnframableBodyError, line);
      assert.equal(framing.status, 400, line);
      assert.equal(framing.code, "WSG_UNFRAMABLE_BODY", line);
    }
    const accepted = ["Transfer-Encoding: chunked", "Transfer-Encoding: CHUNKED", "Transfer-Encoding:  chunked "];
    for (const line of accepted) {
      const req = await parsed(`POST /x HTTP/1.1\r\nHost: gw.test\r\n${line}\r\n\r\n0\r\n\r\n`);
      assert.deepEqual(requestFraming(req), { kind: "chunked" }, line);
    }
  });
});
