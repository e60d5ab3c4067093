import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  PROXY_V2_MAX_LENGTH,
  parseProxyHeader,
  proxyV2Header,
  type ProxyHeaderVerdict,
} from "../../src/util/net/proxy-protocol.js";

const SIG = "0d0a0d0a000d0a515549540a";

function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ""), "hex");
}

function v1(line: string): Buffer {
  return Buffer.from(line, "latin1");
}

function header(verdict: ProxyHeaderVerdict): Extract<ProxyHeaderVerdict, { kind: "header" }>["header"] {
  assert.equal(verdict.kind, "header", JSON.stringify(verdict));
  if (verdict.kind !== "header") throw new Error("unreachable");
  return verdict.header;
}

/** v2 PROXY TCP over IPv4 from 192.0.2.1:51000 to 198.51.100.2:443. */
const V2_TCP4 = hex(`${SIG} 21 11 000c c0000201 c6336402 c738 01bb`);

describe("PROXY protocol v1", () => {
  it("TCP4: source and destination, header length, rest untouched", () => {
    const bytes = v1("PROXY TCP4 192.0.2.1 198.51.100.2 51000 443\r\nGET / HTTP/1.1\r\n");
    const parsed = header(parseProxyHeader(bytes));
    assert.deepEqual(parsed.source, { address: "192.0.2.1", port: 51000 });
    assert.deepEqual(parsed.destination, { address: "198.51.100.2", port: 443 });
    assert.equal(bytes.subarray(parsed.length).toString(), "GET / HTTP/1.1\r\n");
  });

  it("TCP6: addresses in canonical form", () => {
    const parsed = header(parseProxyHeader(v1("PROXY TCP6 2001:DB8:0:0::1 2001:db8::2 1 65535\r\n")));
    assert.deepEqual(parsed.source, { address: "2001:db8::1", port: 1 });
    assert.deepEqual(parsed.destination, { address: "2001:db8::2", port: 65535 });
  });

  it("UNKNOWN (with or without addresses): no source, the connection's own peer stands", () => {
    for (const line of ["PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff:f...f ffff:f...f 65535 65535\r\n"]) {
      const parsed = header(parseProxyHeader(v1(line)));
      assert.equal(parsed.source, undefined);
      assert.equal(parsed.length, line.length);
    }
  });

  it("the longest allowed line (107 bytes) parses", () => {
    const line = `PROXY UNKNOWN ${"x".repeat(107 - 16)}\r\n`;
    assert.equal(line.length, 107);
    assert.equal(header(parseProxyHeader(v1(line))).length, 107);
  });

  it("prefixes of a valid header are incomplete, not invalid", () => {
    const full = v1("PROXY TCP4 192.0.2.1 198.51.100.2 51000 443\r\n");
    for (let length = 1; length < full.length; length++) {
      assert.equal(parseProxyHeader(full.subarray(0, length)).kind, "incomplete", `first ${length} bytes`);
    }
  });

  const malformed: Array<[string, string]> = [
    ["lowercase keyword", "proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n"],
    ["two spaces", "PROXY  TCP4 192.0.2.1 198.51.100.2 1 2\r\n"],
    ["unknown protocol", "PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n"],
    ["TCP4 with IPv6", "PROXY TCP4 ::1 ::1 1 2\r\n"],
    ["TCP6 with IPv4", "PROXY TCP6 192.0.2.1 198.51.100.2 1 2\r\n"],
    ["leading zero in address", "PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n"],
    ["host name", "PROXY TCP4 example.com 198.51.100.2 1 2\r\n"],
    ["port over 65535", "PROXY TCP4 192.0.2.1 198.51.100.2 65536 2\r\n"],
    ["port with leading zero", "PROXY TCP4 192.0.2.1 198.51.100.2 0443 2\r\n"],
    ["negative port", "PROXY TCP4 192.0.2.1 198.51.100.2 -1 2\r\n"],
    ["missing port", "PROXY TCP4 192.0.2.1 198.51.100.2 1\r\n"],
    ["extra field", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2 3\r\n"],
    ["trailing space", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2 \r\n"],
    ["zone id", "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"],
    ["tab separator", "PROXY\tTCP4 192.0.2.1 198.51.100.2 1 2\r\n"],
    ["bare LF", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\nGET / HTTP/1.1\r\n"],
    ["NUL inside", "PROXY TCP4 192.0.2.1\u0000 198.51.100.2 1 2\r\n"],
    ["non-ASCII", "PROXY TCP4 192.0.2.1 198.51.100.2 1 2\u00e9\r\n"],
    ["no CRLF within 107 bytes", `PROXY UNKNOWN ${"x".repeat(120)}\r\n`],
    ["HTTP request instead", "GET / HTTP/1.1\r\nHost: a\r\n\r\n"],
    ["TLS ClientHello instead", "\u0016\u0003\u0001\u0002\u0000\u0001"],
    ["blank lines", "\r\n\r\n\r\n"],
  ];
  for (const [name, line] of malformed) {
    it(`invalid: ${name}`, () => assert.equal(parseProxyHeader(v1(line)).kind, "invalid"));
  }
});

describe("PROXY protocol v2", () => {
  it("PROXY TCP over IPv4", () => {
    const parsed = header(parseProxyHeader(Buffer.concat([V2_TCP4, v1("rest")])));
    assert.equal(parsed.version, 2);
    assert.equal(parsed.length, 28);
    assert.deepEqual(parsed.source, { address: "192.0.2.1", port: 51000 });
    assert.deepEqual(parsed.destination, { address: "198.51.100.2", port: 443 });
    assert.deepEqual(parsed.tlvs, []);
  });

  it("PROXY TCP over IPv6, IPv4-mapped source read as IPv4", () => {
    const bytes = hex(`${SIG} 21 21 0024 20010db8000000000000000000000001 00000000000000000000ffffc0000201 0050 01bb`);
    const parsed = header(parseProxyHeader(bytes));
    assert.deepEqual(parsed.source, { address: "2001:db8::1", port: 80 });
    assert.deepEqual(parsed.destination, { address: "192.0.2.1", port: 443 });
  });

  it("LOCAL (a balancer's health check): no source; its address block is skipped", () => {
    const parsed = header(parseProxyHeader(hex(`${SIG} 20 11 000c c0000201 c6336402 c738 01bb`)));
    assert.equal(parsed.source, undefined);
    assert.equal(parsed.length, 28);
    assert.equal(header(parseProxyHeader(hex(`${SIG} 20 00 0000`))).length, 16);
  });

  it("UNSPEC family and UNIX family: no source", () => {
    assert.equal(header(parseProxyHeader(hex(`${SIG} 21 00 0000`))).source, undefined);
    const unix = Buffer.concat([hex(`${SIG} 21 31 00d8`), Buffer.alloc(216)]);
    assert.equal(header(parseProxyHeader(unix)).source, undefined);
  });

  it("TLVs after the addresses are read in order (ALPN, AWS VPC endpoint, NOOP padding)", () => {
    const tlvs = "01 0002 6832  ea 0005 0176706365  04 0000";
    const length = (12 + hex(tlvs).length).toString(16).padStart(4, "0");
    const parsed = header(parseProxyHeader(hex(`${SIG} 21 11 ${length} c0000201 c6336402 c738 01bb ${tlvs}`)));
    assert.deepEqual(
      parsed.tlvs.map((tlv) => [tlv.type, tlv.value.toString("latin1")]),
      [
        [0x01, "h2"],
        [0xea, "\u0001vpce"],
        [0x04, ""],
      ],
    );
  });

  it("every prefix of a header is incomplete", () => {
    for (let length = 1; length < V2_TCP4.length; length++) {
      assert.equal(parseProxyHeader(V2_TCP4.subarray(0, length)).kind, "incomplete", `first ${length} bytes`);
    }
  });

  it("an oversize length is refused at once, before its bytes arrive", () => {
    assert.equal(parseProxyHeader(hex(`${SIG} 21 11 ffff`)).kind, "invalid");
    const justOver = (PROXY_V2_MAX_LENGTH - 15).toString(16).padStart(4, "0");
    assert.equal(parseProxyHeader(hex(`${SIG} 21 11 ${justOver}`)).kind, "invalid");
  });

  const malformed: Array<[string, string]> = [
    ["wrong signature (one byte off)", `0d0a0d0a000d0a515549540b 21 11 000c c0000201 c6336402 c738 01bb`],
    ["version 1 in the binary header", `${SIG} 11 11 000c c0000201 c6336402 c738 01bb`],
    ["version 3", `${SIG} 31 11 000c c0000201 c6336402 c738 01bb`],
    ["command 2", `${SIG} 22 11 000c c0000201 c6336402 c738 01bb`],
    ["family 4", `${SIG} 21 41 000c c0000201 c6336402 c738 01bb`],
    ["DGRAM transport", `${SIG} 21 12 000c c0000201 c6336402 c738 01bb`],
    ["transport 3", `${SIG} 21 13 000c c0000201 c6336402 c738 01bb`],
    ["length shorter than IPv4 addresses", `${SIG} 21 11 000b c0000201 c6336402 c738 01`],
    ["length shorter than IPv6 addresses", `${SIG} 21 21 000c c0000201 c6336402 c738 01bb`],
    ["TLV running past the header", `${SIG} 21 11 0010 c0000201 c6336402 c738 01bb 01 0005 6832`],
    ["TLV header cut short", `${SIG} 21 11 000e c0000201 c6336402 c738 01bb 01 00`],
  ];
  for (const [name, bytes] of malformed) {
    it(`invalid: ${name}`, () => assert.equal(parseProxyHeader(hex(bytes)).kind, "invalid"));
  }

  it("truncated headers stay incomplete (the listener's deadline ends them)", () => {
    assert.equal(parseProxyHeader(hex(`${SIG} 21 11 000c c0000201`)).kind, "incomplete");
    assert.equal(parseProxyHeader(hex(`${SIG} 21 21 0024 20010db8`)).kind, "incomplete");
    assert.equal(parseProxyHeader(hex(SIG.slice(0, 10))).kind, "incomplete");
  });
});

describe("PROXY v2 header the gateway sends", () => {
  const cases: Array<[string, string, string]> = [
    ["IPv4", "192.0.2.1", "198.51.100.2"],
    ["IPv6", "2001:db8::1", "2001:db8:0:0:1::2"],
    ["IPv4 to IPv6 (as IPv4-mapped)", "192.0.2.1", "::1"],
    ["loopback", "127.0.0.2", "127.0.0.1"],
    ["all zeros", "::", "::"],
  ];
  for (const [name, source, destination] of cases) {
    it(`round-trips through the parser: ${name}`, () => {
      const bytes = proxyV2Header({ address: source, port: 40000 }, { address: destination, port: 8080 });
      const parsed = header(parseProxyHeader(bytes));
      assert.equal(parsed.length, bytes.length);
      assert.deepEqual(parsed.source, { address: source === "::" ? "::" : source, port: 40000 });
      const expected = destination === "2001:db8:0:0:1::2" ? "2001:db8::1:0:0:2" : destination;
      assert.equal(parsed.destination?.address, expected);
    });
  }

  it("is byte for byte the specification's layout", () => {
    const bytes = proxyV2Header({ address: "192.0.2.1", port: 51000 }, { address: "198.51.100.2", port: 443 });
    assert.equal(bytes.toString("hex"), V2_TCP4.toString("hex"));
  });
});
