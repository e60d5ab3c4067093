// The HTTP/2 entry points that read what a peer sends before any pipeline: the preface sniff of `h2c` listeners,
// the extended CONNECT's verdict (RFC 8441 §4-5), and the spec fields' pairing with `https`. Tables of variants.
import assert from "node:assert/strict";
import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import { describe, it } from "node:test";
import { httpServerSchema } from "../../src/server/spec.js";
import { H2_PREFACE, opensWithH2Preface } from "../../src/server/h2/preface.js";
import { judgeExtendedConnect, upgradeVerdict } from "../../src/websocket/handshake.js";

describe("opensWithH2Preface (h2c prior knowledge)", () => {
  const cases: Array<[string, Buffer, boolean]> = [
    ["the whole preface", H2_PREFACE, true],
    ["the preface and a SETTINGS frame", Buffer.concat([H2_PREFACE, Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]), true],
    ["a first read of 'PRI '", Buffer.from("PRI "), true],
    ["a first read of 16 preface bytes", H2_PREFACE.subarray(0, 16), true],
    ["'P' alone (could be POST or PUT)", Buffer.from("P"), false],
    ["'PRI' without its space", Buffer.from("PRI"), false],
    ["a GET", Buffer.from("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), false],
    ["a PUT", Buffer.from("PUT / HTTP/1.1\r\n"), false],
    ["'PRI * HTTP/1.1'", Buffer.from("PRI * HTTP/1.1\r\n\r\n"), false],
    ["the preface with its last byte changed", Buffer.concat([H2_PREFACE.subarray(0, 23), Buffer.from("X")]), false],
    ["lower-case 'pri * http/2.0'", Buffer.from("pri * http/2.0\r\n\r\nSM\r\n\r\n"), false],
    ["a TLS ClientHello", Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), false],
    ["nothing", Buffer.alloc(0), false],
  ];
  for (const [what, bytes, expected] of cases) {
    it(`${expected ? "takes" : "leaves"} ${what}`, () => assert.equal(opensWithH2Preface(bytes), expected));
  }
});

function connectRequest(headers: Record<string, string>): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = "GET";
  req.url = "/ws";
  const lines = Object.entries(headers).flat();
  (req as unknown as { _addHeaderLines(lines: string[], n: number): void })._addHeaderLines(lines, lines.length);
  return req;
}

describe("judgeExtendedConnect (RFC 8441 verdict)", () => {
  const cases: Array<{
    what: string;
    protocol: string;
    headers: Record<string, string>;
    kind: string;
    status?: number;
  }> = [
    { what: "version 13", protocol: "websocket", headers: { "sec-websocket-version": "13" }, kind: "websocket" },
    {
      what: ":protocol in capitals",
      protocol: "WebSocket",
      headers: { "sec-websocket-version": "13" },
      kind: "websocket",
    },
    { what: "no version", protocol: "websocket", headers: {}, kind: "invalid", status: 400 },
    {
      what: "version 8",
      protocol: "websocket",
      headers: { "sec-websocket-version": "8" },
      kind: "invalid",
      status: 426,
    },
    {
      what: "version '13, 8'",
      protocol: "websocket",
      headers: { "sec-websocket-version": "13, 8" },
      kind: "invalid",
      status: 426,
    },
    {
      what: "a body by length",
      protocol: "websocket",
      headers: { "sec-websocket-version": "13", "content-length": "5" },
      kind: "invalid",
      status: 400,
    },
    {
      what: ":protocol h2c",
      protocol: "h2c",
      headers: { "sec-websocket-version": "13" },
      kind: "other-protocol",
      status: 400,
    },
    {
      what: "an empty :protocol",
      protocol: "",
      headers: { "sec-websocket-version": "13" },
      kind: "other-protocol",
      status: 400,
    },
  ];
  for (const { what, protocol, headers, kind, status } of cases) {
    it(`${what}: ${kind}${status === undefined ? "" : ` (${status})`}`, () => {
      const req = connectRequest(headers);
      const verdict = judgeExtendedConnect(req, protocol);
      assert.equal(verdict.kind, kind);
      // The pipeline and the filters read the same verdict, never judging the request as an HTTP/1.1 one.
      assert.equal(upgradeVerdict(req, true), verdict);
      if (verdict.kind === "websocket") {
        assert.match(verdict.upgrade.key, /^[+/0-9A-Za-z]{21}[AQgw]==$/);
      } else {
        assert.equal(verdict.error.status, status);
      }
    });
  }

  it("draws a fresh key for each stream, and carries the offered subprotocols and extensions", () => {
    const headers = {
      "sec-websocket-version": "13",
      "sec-websocket-protocol": "chat, superchat",
      "sec-websocket-extensions": "permessage-deflate; client_max_window_bits, x-other",
    };
    const first = judgeExtendedConnect(connectRequest(headers), "websocket");
    const second = judgeExtendedConnect(connectRequest(headers), "websocket");
    assert.ok(first.kind === "websocket" && second.kind === "websocket");
    assert.notEqual(first.upgrade.key, second.upgrade.key);
    assert.deepEqual(first.upgrade.protocols, ["chat", "superchat"]);
    assert.deepEqual(first.upgrade.extensionNames, ["permessage-deflate", "x-other"]);
  });
});

describe("HTTPServer http2 / h2c / http2WebSockets", () => {
  const base = { kind: "HTTPServer", name: "s", port: 8443 };
  const tls = { https: true, certBase64: "eA==", keyBase64: "eA==" };
  it("defaults: no HTTP/2, WebSockets over HTTP/2 on when it is", () => {
    const spec = httpServerSchema.parse(base);
    assert.deepEqual([spec.http2, spec.h2c, spec.http2WebSockets], [false, false, true]);
  });
  const refused: Array<[string, Record<string, unknown>, string]> = [
    ["http2 without https", { http2: true }, "http2 needs https"],
    ["h2c with https", { ...tls, h2c: true }, "h2c is plaintext HTTP/2"],
  ];
  for (const [what, fields, message] of refused) {
    it(`refuses ${what}, naming the field`, () => {
      const result = httpServerSchema.safeParse({ ...base, ...fields });
      assert.equal(result.success, false);
      assert.ok(
        result.error?.issues.some((issue) => issue.message.startsWith(message)),
        JSON.stringify(result.error?.issues),
      );
    });
  }
});
