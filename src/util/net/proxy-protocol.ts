// The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): the header an L4 balancer (AWS NLB, HAProxy
// in TCP mode) puts before a connection's first byte to say whom it came from. Pure: bytes in, a verdict out.
import { isIP } from "node:net";
import { canonicalIp } from "./ip-address.js";

export interface ProxyEndpoint {
  address: string;
  port: number;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** The header's length in bytes: what follows is the client's own stream. */
  length: number;
  /** The client's address; absent for LOCAL (v2), UNKNOWN (v1) and families other than TCP over IPv4/IPv6. */
  source?: ProxyEndpoint;
  destination?: ProxyEndpoint;
  /** v2 type-length-value extensions, in order (e.g. 0x01 ALPN, 0x02 authority, 0xEA AWS VPC endpoint). */
  tlvs: Array<{ type: number; value: Buffer }>;
}

export type ProxyHeaderVerdict =
  { kind: "incomplete" } | { kind: "invalid"; reason: string } | { kind: "header"; header: ProxyHeader };

/** The v2 signature: CR LF CR LF NUL CR LF "QUIT" LF. */
export const PROXY_V2_SIGNATURE = Buffer.from("0d0a0d0a000d0a515549540a", "hex");
const V1_PREFIX = Buffer.from("PROXY ", "latin1");
/** Longest v1 line, CRLF included (the specification's 107 bytes). */
export const PROXY_V1_MAX_LENGTH = 107;
/** Largest v2 header taken, the 16 fixed bytes included: addresses and modest TLVs, never a buffer's worth. */
export const PROXY_V2_MAX_LENGTH = 4096;

const INCOMPLETE: ProxyHeaderVerdict = { kind: "incomplete" };

function invalid(reason: string): ProxyHeaderVerdict {
  return { kind: "invalid", reason };
}

/** `bytes` so far is a prefix of `expected` (or the other way round): nothing can be decided yet. */
function startsLike(bytes: Buffer, expected: Buffer): boolean {
  const length = Math.min(bytes.length, expected.length);
  return bytes.subarray(0, length).equals(expected.subarray(0, length));
}

/**
 * Reads a PROXY header at the start of `bytes`: `incomplete` while more bytes could still make one, `invalid` as
 * soon as they cannot (a connection that does not start with one, a malformed one, one over the size limits).
 */
export function parseProxyHeader(bytes: Buffer): ProxyHeaderVerdict {
  if (startsLike(bytes, PROXY_V2_SIGNATURE)) {
    return bytes.length < PROXY_V2_SIGNATURE.length ? INCOMPLETE : parseV2(bytes);
  }
  if (startsLike(bytes, V1_PREFIX)) return bytes.length < V1_PREFIX.length ? INCOMPLETE : parseV1(bytes);
  return invalid("no PROXY protocol header");
}

const PORT = /^(?:0|[1-9]\d{0,4})$/;

function v1Endpoint(address: string, port: string, family: 4 | 6): ProxyEndpoint | undefined {
  if (isIP(address) !== family || !PORT.test(port) || Number(port) > 65535) return undefined;
  const canonical = canonicalIp(address);
  return canonical === undefined ? undefined : { address: canonical, port: Number(port) };
}

/** `PROXY TCP4|TCP6 src dst sport dport\r\n` or `PROXY UNKNOWN ...\r\n`, single spaces, at most 107 bytes. */
function parseV1(bytes: Buffer): ProxyHeaderVerdict {
  const searched = bytes.subarray(0, PROXY_V1_MAX_LENGTH);
  const end = searched.indexOf("\r\n", 0, "latin1");
  if (end < 0) return bytes.length >= PROXY_V1_MAX_LENGTH ? invalid("PROXY v1 line too long") : INCOMPLETE;
  const line = searched.toString("latin1", 0, end);
  const length = end + 2;
  if (!/^[\x20-\x7e]*$/.test(line)) return invalid("PROXY v1 line has control or non-ASCII bytes");
  const fields = line.split(" ");
  const protocol = fields[1];
  if (protocol === "UNKNOWN") return { kind: "header", header: { version: 1, length, tlvs: [] } };
  if ((protocol !== "TCP4" && protocol !== "TCP6") || fields.length !== 6) {
    return invalid("malformed PROXY v1 line");
  }
  const family = protocol === "TCP4" ? 4 : 6;
  const [, , src = "", dst = "", sport = "", dport = ""] = fields;
  const source = v1Endpoint(src, sport, family);
  const destination = v1Endpoint(dst, dport, family);
  if (source === undefined || destination === undefined) return invalid("malformed PROXY v1 address or port");
  return { kind: "header", header: { version: 1, length, source, destination, tlvs: [] } };
}

const COMMAND_LOCAL = 0x0;
const COMMAND_PROXY = 0x1;
const FAMILY_UNSPEC = 0x0;
const FAMILY_INET = 0x1;
const FAMILY_INET6 = 0x2;
const FAMILY_UNIX = 0x3;
const TRANSPORT_UNSPEC = 0x0;
const TRANSPORT_STREAM = 0x1;
/** Address block sizes by family: two addresses and two ports, or two 108-byte UNIX paths. */
const ADDRESS_LENGTH: Readonly<Record<number, number>> = {
  [FAMILY_UNSPEC]: 0,
  [FAMILY_INET]: 12,
  [FAMILY_INET6]: 36,
  [FAMILY_UNIX]: 216,
};

function ipv6Text(bytes: Buffer): string {
  const groups: string[] = [];
  for (let offset = 0; offset < 16; offset += 2) groups.push(bytes.readUInt16BE(offset).toString(16));
  return canonicalIp(groups.join(":")) ?? groups.join(":");
}

function ipv4Text(bytes: Buffer): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** The binary header: signature, version and command, family and transport, length, addresses, TLVs. */
function parseV2(bytes: Buffer): ProxyHeaderVerdict {
  if (bytes.length < 16) return INCOMPLETE;
  const versionCommand = bytes[12] ?? 0;
  const familyTransport = bytes[13] ?? 0;
  const length = 16 + bytes.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) return invalid("PROXY v2 header with an unknown version");
  const command = versionCommand & 0xf;
  if (command !== COMMAND_LOCAL && command !== COMMAND_PROXY) return invalid("PROXY v2 header with an unknown command");
  const family = familyTransport >> 4;
  const transport = familyTransport & 0xf;
  const addressLength = ADDRESS_LENGTH[family];
  if (addressLength === undefined) return invalid("PROXY v2 header with an unknown address family");
  if (transport !== TRANSPORT_UNSPEC && transport !== TRANSPORT_STREAM) {
    return invalid("PROXY v2 header for a transport other than a stream");
  }
  if (length > PROXY_V2_MAX_LENGTH) return invalid(`PROXY v2 header over ${PROXY_V2_MAX_LENGTH} bytes`);
  if (length - 16 < addressLength) return invalid("PROXY v2 header shorter than its addresses");
  if (bytes.length < length) return INCOMPLETE;
  const tlvs = parseTlvs(bytes.subarray(16 + addressLength, length));
  if (tlvs === undefined) return invalid("PROXY v2 header with a malformed TLV");
  const header: ProxyHeader = { version: 2, length, tlvs };
  const named = command === COMMAND_PROXY && transport === TRANSPORT_STREAM;
  if (named && family === FAMILY_INET) {
    header.source = { address: ipv4Text(bytes.subarray(16, 20)), port: bytes.readUInt16BE(24) };
    header.destination = { address: ipv4Text(bytes.subarray(20, 24)), port: bytes.readUInt16BE(26) };
  } else if (named && family === FAMILY_INET6) {
    header.source = { address: ipv6Text(bytes.subarray(16, 32)), port: bytes.readUInt16BE(48) };
    header.destination = { address: ipv6Text(bytes.subarray(32, 48)), port: bytes.readUInt16BE(50) };
  }
  return { kind: "header", header };
}

/** TLVs fill their block exactly, each `type(1) length(2) value`; undefined when one runs past the end. */
function parseTlvs(block: Buffer): Array<{ type: number; value: Buffer }> | undefined {
  const tlvs: Array<{ type: number; value: Buffer }> = [];
  let offset = 0;
  while (offset < block.length) {
    if (offset + 3 > block.length) return undefined;
    const type = block[offset] ?? 0;
    const valueLength = block.readUInt16BE(offset + 1);
    const end = offset + 3 + valueLength;
    if (end > block.length) return undefined;
    tlvs.push({ type, value: block.subarray(offset + 3, end) });
    offset = end;
  }
  return tlvs;
}

function ipv6Bytes(address: string): Buffer {
  const [head = "", tail] = address.split("::");
  const groupsOf = (text: string): string[] => (text === "" ? [] : text.split(":"));
  let left = groupsOf(head);
  let right = tail === undefined ? [] : groupsOf(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two groups.
  const expand = (groups: string[]): string[] =>
    groups.flatMap((group) => {
      if (!group.includes(".")) return [group];
      const [a = 0, b = 0, c = 0, d = 0] = group.split(".").map(Number);
      return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    });
  left = expand(left);
  right = expand(right);
  const zeros = Array.from({ length: 8 - left.length - right.length }, () => "0");
  const bytes = Buffer.alloc(16);
  [...left, ...zeros, ...right].forEach((group, index) => bytes.writeUInt16BE(parseInt(group, 16), index * 2));
  return bytes;
}

/**
 * A PROXY v2 header for a TCP connection from `source` to `destination` (both IPv4, or both IPv6; an IPv4 address
 * beside an IPv6 one is sent as IPv4-mapped IPv6), as the gateway sends it to backends that ask for it.
 */
export function proxyV2Header(source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const v4 = isIP(source.address) === 4 && isIP(destination.address) === 4;
  const addressLength = v4 ? 12 : 36;
  const header = Buffer.alloc(16 + addressLength);
  PROXY_V2_SIGNATURE.copy(header, 0);
  header[12] = 0x20 | COMMAND_PROXY;
  header[13] = ((v4 ? FAMILY_INET : FAMILY_INET6) << 4) | TRANSPORT_STREAM;
  header.writeUInt16BE(addressLength, 14);
  const asV6 = (address: string): string => (isIP(address) === 4 ? `::ffff:${address}` : address);
  if (v4) {
    Buffer.from(source.address.split(".").map(Number)).copy(header, 16);
    Buffer.from(destination.address.split(".").map(Number)).copy(header, 20);
    header.writeUInt16BE(source.port, 24);
    header.writeUInt16BE(destination.port, 26);
  } else {
    ipv6Bytes(asV6(source.address)).copy(header, 16);
    ipv6Bytes(asV6(destination.address)).copy(header, 32);
    header.writeUInt16BE(source.port, 48);
    header.writeUInt16BE(destination.port, 50);
  }
  return header;
}
