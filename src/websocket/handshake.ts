import crypto, { randomFillSync } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import {
  BadHandshakeError,
  MethodNotAllowedError,
  UnsupportedVersionError,
  UpgradeRequiredError,
  type GatewayError,
} from "../errors.js";
import { HOP_BY_HOP, PER_CONNECTION, forwardedIn101 } from "./hop-by-hop.js";
import { HANDSHAKE_GUID } from "./protocol.js";
import { upgradeFieldsOf, type UpgradeResponse } from "./upgrade-response.js";

/**
 * Headers a `Connection` list can never make hop-by-hop: the message's framing and its Host. Dropping them would
 * let a client send a body the next hop reads as a request of its own.
 */
const NEVER_CONNECTION_SCOPED = new Set(["content-length", "transfer-encoding", "host"]);

const KEY_PATTERN = /^[+/0-9A-Za-z]{21}[AQgw]==$/;

/**
 * SHA-1 in base64, one-shot where Node has `crypto.hash` (20.12+): no Hash object and native wrapper per handshake.
 * Read off the module at run time, so that older Node 20 releases (which `engines` allows) keep working.
 */
const sha1Base64: (data: string) => string =
  (crypto as Partial<typeof crypto>).hash === undefined
    ? (data) => crypto.createHash("sha1").update(data).digest("base64")
    : (data) => crypto.hash("sha1", data, "base64");

export function acceptKeyFor(key: string): string {
  return sha1Base64(key + HANDSHAKE_GUID);
}

// Handshake keys come from a pool refilled 256 keys at a time: one call into the CSPRNG per 256 handshakes.
const KEY_POOL = Buffer.allocUnsafe(16 * 256);
let keyPoolAt = KEY_POOL.length;

/** A fresh random Sec-WebSocket-Key (16 random bytes, base64) for our handshake with a backend. */
export function newHandshakeKey(): string {
  if (keyPoolAt === KEY_POOL.length) {
    randomFillSync(KEY_POOL);
    keyPoolAt = 0;
  }
  const key = KEY_POOL.toString("base64", keyPoolAt, keyPoolAt + 16);
  keyPoolAt += 16;
  return key;
}

/** Comma-separated header values as lowercase tokens. */
function tokens(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  const joined = Array.isArray(value) ? value.join(",") : value;
  return joined
    .split(",")
    .map((token) => token.trim().toLowerCase())
    .filter((token) => token.length > 0);
}

export interface ClientUpgrade {
  key: string;
  /** Subprotocols the client offered, in its order. */
  protocols: string[];
  /** Extension names the client offered. */
  extensionNames: string[];
}

/**
 * The one upgrade rule, as every part of the gateway reads it: the pipeline refuses `other-protocol` before any
 * filter runs; the WebSocketUpgradeCheck and WebSocketProxy filters refuse `invalid` and use `websocket`.
 */
export type UpgradeVerdict =
  /** A valid WebSocket upgrade (RFC 6455 §4.2.1): what the backend handshake needs. */
  | { kind: "websocket"; upgrade: ClientUpgrade }
  /** An upgrade to another protocol (h2c, ...): only WebSocket is served, and no filter or backend sees it. */
  | { kind: "other-protocol"; error: GatewayError }
  /** A plain request (426), or a malformed WebSocket handshake (400, 405, 426 for another version). */
  | { kind: "invalid"; error: GatewayError };

/** Each request's verdict, judged once however many parts ask. */
const verdicts = new WeakMap<IncomingMessage, UpgradeVerdict>();

/**
 * The verdict on a request; `upgrading`: Node took it as an upgrade (an Upgrade header with `Connection: upgrade`),
 * else it arrived as a plain request.
 */
export function upgradeVerdict(req: IncomingMessage, upgrading: boolean): UpgradeVerdict {
  let verdict = verdicts.get(req);
  if (verdict === undefined) {
    verdict = judgeUpgrade(req, upgrading);
    verdicts.set(req, verdict);
  }
  return verdict;
}

/**
 * The verdict on an extended CONNECT (RFC 8441 §4), set once when the stream arrives: `:protocol` must be
 * `websocket` (another is an upgrade to another protocol, as on HTTP/1.1), `Sec-WebSocket-Version` must be 13 (§5),
 * and no body is framed by headers. HTTP/2 has no Upgrade, Connection or Sec-WebSocket-Key: the backend's
 * handshake gets a key drawn here, and its accept is checked against that key as on HTTP/1.1.
 */
export function judgeExtendedConnect(req: IncomingMessage, protocol: string): UpgradeVerdict {
  let verdict: UpgradeVerdict;
  if (protocol.toLowerCase() !== "websocket") {
    const error = new BadHandshakeError(`unsupported :protocol '${protocol}' (only websocket is served)`);
    verdict = { kind: "other-protocol", error };
  } else {
    const checked = checkExtendedConnect(req.headers);
    verdict = "key" in checked ? { kind: "websocket", upgrade: checked } : { kind: "invalid", error: checked };
  }
  verdicts.set(req, verdict);
  return verdict;
}

function checkExtendedConnect(headers: IncomingHttpHeaders): ClientUpgrade | GatewayError {
  const version = headers["sec-websocket-version"];
  if (version === undefined) return new BadHandshakeError("missing Sec-WebSocket-Version header");
  if (version.trim() !== "13") return new UnsupportedVersionError(version);
  if (headers["content-length"] !== undefined && headers["content-length"] !== "0") {
    return new BadHandshakeError("an upgrade request carries no body");
  }
  return {
    key: newHandshakeKey(),
    protocols: offeredProtocols(headers["sec-websocket-protocol"]),
    extensionNames: extensionNames(headers["sec-websocket-extensions"]),
  };
}

function offeredProtocols(header: string | undefined): string[] {
  return (header ?? "")
    .split(",")
    .map((protocol) => protocol.trim())
    .filter((protocol) => protocol.length > 0);
}

function judgeUpgrade(req: IncomingMessage, upgrading: boolean): UpgradeVerdict {
  if (!upgrading) {
    // An Upgrade header without "Connection: upgrade" arrives as a plain request: malformed, not merely plain HTTP.
    const error =
      req.headers.upgrade !== undefined
        ? new BadHandshakeError("the Connection header must include 'Upgrade'")
        : new UpgradeRequiredError();
    return { kind: "invalid", error };
  }
  if (!tokens(req.headers.upgrade).includes("websocket")) {
    const error = new BadHandshakeError(
      `unsupported upgrade '${req.headers.upgrade ?? ""}' (only websocket is served)`,
    );
    return { kind: "other-protocol", error };
  }
  const checked = checkClientUpgrade(req);
  return "key" in checked ? { kind: "websocket", upgrade: checked } : { kind: "invalid", error: checked };
}

/** Checks a client's WebSocket upgrade request (RFC 6455 §4.2.1); returns what the backend handshake needs. */
function checkClientUpgrade(req: IncomingMessage): ClientUpgrade | GatewayError {
  if (req.method !== "GET") return new MethodNotAllowedError(req.method ?? "");
  const headers = req.headers;
  if (!tokens(headers.connection).includes("upgrade")) {
    return new BadHandshakeError("the Connection header must include 'Upgrade'");
  }
  const version = headers["sec-websocket-version"];
  if (version === undefined) return new BadHandshakeError("missing Sec-WebSocket-Version header");
  if (version.trim() !== "13") return new UnsupportedVersionError(version);
  const key = headers["sec-websocket-key"];
  if (key === undefined || !KEY_PATTERN.test(key.trim())) {
    return new BadHandshakeError("missing or invalid Sec-WebSocket-Key header");
  }
  if (headers["content-length"] !== undefined && headers["content-length"] !== "0") {
    return new BadHandshakeError("an upgrade request carries no body");
  }
  if (headers["transfer-encoding"] !== undefined) return new BadHandshakeError("an upgrade request carries no body");
  return {
    key: key.trim(),
    protocols: offeredProtocols(headers["sec-websocket-protocol"]),
    extensionNames: extensionNames(headers["sec-websocket-extensions"]),
  };
}

function extensionNames(header: string | string[] | undefined): string[] {
  return tokens(header).map((offer) => (offer.split(";")[0] ?? "").trim());
}

/**
 * The client's end-to-end headers as raw name/value pairs, minus hop-by-hop ones (and those `Connection`
 * names, framing and Host excepted) and the per-connection handshake keys. Subprotocols and extensions stay as offered.
 */
export function endToEndHeaders(rawHeaders: readonly string[], headers: IncomingHttpHeaders): Array<[string, string]> {
  const connectionScoped = new Set(tokens(headers.connection).filter((name) => !NEVER_CONNECTION_SCOPED.has(name)));
  const kept: Array<[string, string]> = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || PER_CONNECTION.has(lower) || connectionScoped.has(lower)) continue;
    if (lower.startsWith("proxy-")) continue;
    kept.push([name, rawHeaders[i + 1] as string]);
  }
  return kept;
}

export interface NegotiatedSession {
  protocol: string | undefined;
  /** RSV bits the extensions allow on a message's first frame. */
  firstFrameRsv: number;
  /** An extension we do not know was negotiated. */
  anyRsv: boolean;
}

/**
 * Checks the backend's 101 against what was sent (RFC 6455 §4.1); returns an error reason or the session.
 * `accept`: the Sec-WebSocket-Accept the key we sent calls for (`acceptKeyFor`).
 */
export function checkBackendUpgrade(
  res: UpgradeResponse,
  accept: string,
  offered: ClientUpgrade,
): NegotiatedSession | string {
  const fields = upgradeFieldsOf(res);
  if (!tokens(fields.upgrade).includes("websocket")) return "101 without Upgrade: websocket";
  if (!tokens(fields.connection).includes("upgrade")) return "101 without Connection: Upgrade";
  if (fields.accept !== accept) return "wrong Sec-WebSocket-Accept";
  const protocol = fields.protocol;
  if (protocol !== undefined && !offered.protocols.includes(protocol)) {
    return `subprotocol '${protocol}' was not offered`;
  }
  let firstFrameRsv = 0;
  let anyRsv = false;
  for (const name of extensionNames(fields.extensions)) {
    if (!offered.extensionNames.includes(name)) return `extension '${name}' was not offered`;
    if (name === "permessage-deflate") firstFrameRsv |= 0x40;
    else anyRsv = true;
  }
  return { protocol, firstFrameRsv, anyRsv };
}

/**
 * The 101 for the client: the backend's headers (cookies, subprotocol, extensions) as they came, `accept` for the
 * client's key, then the gateway's own `extraHeaders` (e.g. a sticky-session Set-Cookie).
 */
export function switchingProtocolsHead(
  accept: string,
  backend: UpgradeResponse,
  extraHeaders: ReadonlyArray<readonly [string, string]> = [],
): string {
  let head =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    `Sec-WebSocket-Accept: ${accept}\r\n`;
  if (backend.forwarded !== undefined) {
    head += backend.forwarded;
  } else {
    const raw = backend.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i] as string;
      if (forwardedIn101(name.toLowerCase())) head += `${name}: ${raw[i + 1] as string}\r\n`;
    }
  }
  for (const [name, value] of extraHeaders) head += `${name}: ${value}\r\n`;
  return head + "\r\n";
}

/** Response headers of a non-101 backend answer, fit to relay on a connection that closes after the body. */
export function relayedResponseHeaders(rawHeaders: readonly string[]): Array<[string, string]> {
  const kept: Array<[string, string]> = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (HOP_BY_HOP.has(name.toLowerCase())) continue;
    kept.push([name, rawHeaders[i + 1] as string]);
  }
  return kept;
}

/** Header fields of a response on an HTTP/2 stream, as node:http2's `respond` takes them (repeated names: arrays). */
export type H2ResponseFields = Record<string, string | number | string[]>;

/** Adds raw name/value pairs to HTTP/2 response fields, lower-cased, repeated names gathered. */
function addFields(fields: H2ResponseFields, name: string, value: string): void {
  const lower = name.toLowerCase();
  const existing = fields[lower];
  if (existing === undefined) fields[lower] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else fields[lower] = [String(existing), value];
}

/**
 * The `:status 200` answering an extended CONNECT (RFC 8441 §5): the backend's 101 headers a client's 101 would
 * carry (subprotocol, extensions, cookies), without the HTTP/1.1 handshake's own (Upgrade, Connection, the accept),
 * which HTTP/2 has no place for, then the gateway's `extraHeaders`.
 */
export function extendedConnectFields(
  backend: UpgradeResponse,
  extraHeaders: ReadonlyArray<readonly [string, string]> = [],
): H2ResponseFields {
  const fields: H2ResponseFields = { ":status": 200 };
  const raw = backend.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (forwardedIn101(name.toLowerCase())) addFields(fields, name, raw[i + 1] as string);
  }
  for (const [name, value] of extraHeaders) addFields(fields, name, value);
  return fields;
}

/** A backend's refusal (`relayedResponseHeaders`) as HTTP/2 response fields; framing is HTTP/2's own. */
export function relayedResponseFields(status: number, rawHeaders: readonly string[]): H2ResponseFields {
  const fields: H2ResponseFields = { ":status": status };
  for (const [name, value] of relayedResponseHeaders(rawHeaders)) {
    if (name.toLowerCase() === "content-length") continue;
    addFields(fields, name, value);
  }
  return fields;
}
