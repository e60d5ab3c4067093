// The client's address, decided once per request (as nginx's realip module with real_ip_recursive, and Traefik's
// trustedIPs): X-Forwarded-For is believed only from a trusted peer, read from the right, trusted hops skipped.
import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { InvalidForwardedForError } from "../../errors.js";
import type { AddressSet } from "../net/ip-address.js";
import { canonicalIp, peerAddress } from "../net/ip-address.js";
import { proxiedPeerOf } from "../net/proxied-peer.js";
import { proxyV2Header } from "../net/proxy-protocol.js";

/** Whom a server believes about where its requests come from. */
export interface ClientTrust {
  /** `trustedProxies`: peers whose forwarding headers are kept, and whose X-Forwarded-For may name the client. */
  proxies: AddressSet;
  /** `xForwardedFor`: take the client address from a trusted peer's X-Forwarded-For. */
  readForwardedFor: boolean;
}

/** The connection's peer as the gateway sees it: the TCP peer, or the PROXY protocol's source. */
export interface PeerInfo {
  /** Appended to X-Forwarded-For upstream. */
  address: string;
  /** A trusted proxy: its X-Forwarded-For, X-Forwarded-Proto/Host, Forwarded and X-Real-IP are kept. */
  trusted: boolean;
}

export interface ClientAddress {
  /** The address every per-client feature uses: ipFilter, ipHash, maxConnectionsPerIP, RateLimiter, logs, sessions. */
  ip: string;
  peer: PeerInfo;
}

export interface ClientDecision {
  client: ClientAddress;
  /** Set when the request must be refused: a trusted proxy's X-Forwarded-For is invalid. */
  refusal?: InvalidForwardedForError;
}

/**
 * A list element without the optional whitespace around it (RFC 9110 §5.6.1). Not a regular expression: `[ \t]+$`
 * retries at every space of a long run that does not reach the end, quadratic in a header a client controls.
 */
function withoutOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isOws(text.charCodeAt(start))) start++;
  while (end > start && isOws(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}
/** `[v6]`, `[v6]:port`, or `v4:port`: forms some proxies write; the port is dropped. */
const BRACKETED = /^\[([^\]]+)\](?::(\d{1,5}))?$/;
const V4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/;

/** One X-Forwarded-For element as a canonical address, or undefined when it is not one (`unknown`, names, junk). */
export function forwardedForEntry(text: string): string | undefined {
  const entry = withoutOws(text);
  const bracketed = BRACKETED.exec(entry);
  if (bracketed !== null) {
    const inner = bracketed[1] ?? "";
    if (!inner.includes(":") || Number(bracketed[2] ?? 0) > 65535) return undefined;
    return canonicalIp(inner);
  }
  const withPort = V4_WITH_PORT.exec(entry);
  if (withPort !== null) return Number(withPort[2]) > 65535 ? undefined : canonicalIp(withPort[1] ?? "");
  return canonicalIp(entry);
}

/**
 * Every element of the X-Forwarded-For field lines (in order, as one comma-separated list), as canonical addresses;
 * undefined when any element is not an address, empty elements included: such a header is invalid as a whole.
 */
export function parseForwardedFor(lines: readonly string[]): string[] | undefined {
  const entries: string[] = [];
  for (const line of lines) {
    for (const element of line.split(",")) {
      const address = forwardedForEntry(element);
      if (address === undefined) return undefined;
      entries.push(address);
    }
  }
  return entries;
}

/** The client in a forwarded-for chain: the rightmost address that is not a trusted proxy; the leftmost if all are. */
export function clientInChain(entries: readonly string[], peer: string, proxies: AddressSet): string {
  for (let index = entries.length - 1; index >= 0; index--) {
    const entry = entries[index] ?? "";
    if (!proxies.has(entry)) return entry;
  }
  return entries[0] ?? peer;
}

/**
 * The PROXY v2 header that names this client to a backend: its decided address (with its port where the connection
 * or the PROXY header gave one), and the address it reached the gateway at.
 */
export function clientProxyHeader(socket: Socket, clientIp: string): Buffer {
  const proxied = proxiedPeerOf(socket);
  const destination = proxied?.destination ?? {
    address: peerAddress(socket.localAddress),
    port: socket.localPort ?? 0,
  };
  let port = 0;
  if (proxied?.source?.address === clientIp) port = proxied.source.port;
  else if (proxied === undefined && peerAddress(socket.remoteAddress) === clientIp) port = socket.remotePort ?? 0;
  return proxyV2Header({ address: clientIp, port }, destination);
}

/** The X-Forwarded-For field lines of a request, in order. */
function forwardedForLines(req: IncomingMessage): string[] | undefined {
  return req.headersDistinct["x-forwarded-for"];
}

/** The peer of a request's connection, and whether it is a trusted proxy. */
export function peerOf(req: IncomingMessage, proxies: AddressSet): PeerInfo {
  const proxied = proxiedPeerOf(req.socket);
  if (proxied !== undefined) {
    // A PROXY header that names no client (LOCAL, UNKNOWN) leaves the balancer's own address: never trusted then.
    return proxied.source === undefined
      ? { address: peerAddress(req.socket.remoteAddress), trusted: false }
      : { address: proxied.source.address, trusted: proxies.has(proxied.source.address) };
  }
  const address = peerAddress(req.socket.remoteAddress);
  return { address, trusted: proxies.has(address) };
}

/**
 * The client's address: the peer's, or, from a trusted peer with `xForwardedFor`, the rightmost untrusted address of
 * its X-Forwarded-For. A trusted peer's X-Forwarded-For goes upstream, so it must be valid whether read or not.
 */
export function clientAddressOf(req: IncomingMessage, trust: ClientTrust): ClientDecision {
  const peer = peerOf(req, trust.proxies);
  const asPeer = { client: { ip: peer.address, peer } };
  if (!peer.trusted) return asPeer;
  const lines = forwardedForLines(req);
  if (lines === undefined) return asPeer;
  const entries = parseForwardedFor(lines);
  // Refused; the peer's address stands in for the logs.
  if (entries === undefined) return { ...asPeer, refusal: new InvalidForwardedForError() };
  if (!trust.readForwardedFor) return asPeer;
  return { client: { ip: clientInChain(entries, peer.address, trust.proxies), peer } };
}
