import type { IncomingHttpHeaders } from "node:http";
import { forwardedIn101 } from "./hop-by-hop.js";

/**
 * A backend's answer to our upgrade request, read without Node's HTTP client: only the plain, well-formed
 * `HTTP/1.1 101` head that WebSocket servers send is taken here. Anything else (another status, an interim 1xx,
 * HTTP/1.0, a header line Node might read differently, a head past MAX_HEAD_BYTES, a framing header) is left to
 * Node's own parser, so that what is unusual keeps exactly the behaviour (and the errors) it had.
 */

/** A 101 head longer than this is left to Node's parser (whose own limit, 16 KiB by default, then applies). */
export const MAX_HEAD_BYTES = 8 * 1024;
/** More header lines than this: left to Node's parser. */
const MAX_HEADER_LINES = 100;

/** What `checkBackendUpgrade` and `switchingProtocolsHead` read of a 101; an IncomingMessage has it too. */
export interface UpgradeResponse {
  statusCode?: number | undefined;
  statusMessage?: string | undefined;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  /** The headers the gateway acts on, when the head was scanned here (else read from `headers`). */
  readonly fields?: UpgradeFields | undefined;
  /** The header lines the client's 101 carries on, as received, when the head was scanned here. */
  readonly forwarded?: string | undefined;
}

/** The 101's headers the gateway acts on; repeats joined with ", " as Node's `headers` joins them. */
export interface UpgradeFields {
  upgrade: string | undefined;
  connection: string | undefined;
  accept: string | undefined;
  protocol: string | undefined;
  extensions: string | undefined;
}

/** The fields of any 101, scanned here or parsed by Node. */
export function upgradeFieldsOf(response: UpgradeResponse): UpgradeFields {
  if (response.fields !== undefined) return response.fields;
  const { headers } = response;
  return {
    upgrade: headers.upgrade,
    connection: headers.connection,
    accept: headers["sec-websocket-accept"] as string | undefined,
    protocol: headers["sec-websocket-protocol"] as string | undefined,
    extensions: headers["sec-websocket-extensions"] as string | undefined,
  };
}

export type UpgradeHeadResult =
  /** No verdict yet: more bytes are needed. */
  | { kind: "incomplete" }
  /** A plain 101: the session's response, and the bytes after the head (frames that came with it). */
  | { kind: "upgrade"; response: UpgradeResponse; headLength: number }
  /** Not a plain 101: Node's HTTP parser is to read these bytes. */
  | { kind: "other" };

const INCOMPLETE: UpgradeHeadResult = { kind: "incomplete" };
const OTHER: UpgradeHeadResult = { kind: "other" };

const STATUS_PREFIX = Buffer.from("HTTP/1.1 101 ", "latin1");
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");

/** RFC 9110 token characters. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Printable ASCII with no space at either end (or nothing): what every reader takes the same way. */
const PLAIN_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;
const REASON = /^[\x20-\x7e]*$/;

/**
 * Headers of which Node keeps the first and drops repeats (see `IncomingMessage` `headers`); `set-cookie` becomes a
 * list, `cookie` is joined with "; " and everything else with ", ".
 */
const FIRST_WINS = new Set([
  "content-type",
  "content-length",
  "user-agent",
  "referer",
  "host",
  "authorization",
  "proxy-authorization",
  "if-modified-since",
  "if-unmodified-since",
  "from",
  "location",
  "max-forwards",
  "retry-after",
  "etag",
  "last-modified",
  "server",
  "age",
  "expires",
]);

/** Adds a header to `headers` as Node's IncomingMessage would. */
function addHeader(headers: IncomingHttpHeaders, lower: string, value: string): void {
  const existing = headers[lower];
  if (existing === undefined) {
    headers[lower] = lower === "set-cookie" ? [value] : value;
  } else if (lower === "set-cookie") {
    (existing as string[]).push(value);
  } else if (!FIRST_WINS.has(lower)) {
    headers[lower] = `${existing as string}${lower === "cookie" ? "; " : ", "}${value}`;
  }
}

function joined(existing: string | undefined, value: string): string {
  return existing === undefined ? value : `${existing}, ${value}`;
}

/**
 * A 101 read by `parseUpgradeHead`: the fields the gateway acts on and the lines the client gets were taken in the
 * one scan; `rawHeaders` and `headers` (for health checks' header rules) are built only when read.
 */
class ScannedUpgrade implements UpgradeResponse {
  readonly statusCode = 101;
  #rawHeaders: string[] | undefined;
  #headers: IncomingHttpHeaders | undefined;

  constructor(
    readonly statusMessage: string,
    /** The head's header lines (names checked, values plain), as received. */
    private readonly lines: readonly string[],
    readonly fields: UpgradeFields,
    readonly forwarded: string,
  ) {}

  get rawHeaders(): string[] {
    if (this.#rawHeaders === undefined) {
      const raw: string[] = [];
      for (const line of this.lines) {
        const colon = line.indexOf(":");
        let start = colon + 1;
        while (start < line.length && line.charCodeAt(start) === 0x20) start++;
        raw.push(line.slice(0, colon), line.slice(start));
      }
      this.#rawHeaders = raw;
    }
    return this.#rawHeaders;
  }

  get headers(): IncomingHttpHeaders {
    if (this.#headers === undefined) {
      const headers: IncomingHttpHeaders = {};
      const raw = this.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2)
        addHeader(headers, (raw[i] as string).toLowerCase(), raw[i + 1] as string);
      this.#headers = headers;
    }
    return this.#headers;
  }
}

/**
 * Reads the start of a backend's answer (`data`: every byte received so far). One pass over the header lines: each
 * is checked, the five the handshake needs are kept, and the ones the client's 101 carries on are copied as they came.
 */
export function parseUpgradeHead(data: Buffer): UpgradeHeadResult {
  const prefixLength = Math.min(data.length, STATUS_PREFIX.length);
  if (data.compare(STATUS_PREFIX, 0, prefixLength, 0, prefixLength) !== 0) return OTHER;
  const end = data.indexOf(HEAD_END);
  if (end < 0) return data.length >= MAX_HEAD_BYTES ? OTHER : INCOMPLETE;
  const headLength = end + HEAD_END.length;
  if (headLength > MAX_HEAD_BYTES) return OTHER;
  const lines = data.toString("latin1", 0, end).split("\r\n");
  if (lines.length > MAX_HEADER_LINES + 1) return OTHER;
  const statusMessage = (lines[0] as string).slice(STATUS_PREFIX.length);
  if (!REASON.test(statusMessage)) return OTHER;
  lines.shift();
  const fields: UpgradeFields = {
    upgrade: undefined,
    connection: undefined,
    accept: undefined,
    protocol: undefined,
    extensions: undefined,
  };
  let forwarded = "";
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) return OTHER;
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return OTHER;
    let start = colon + 1;
    while (start < line.length && line.charCodeAt(start) === 0x20) start++;
    const value = line.slice(start);
    if (!PLAIN_VALUE.test(value)) return OTHER;
    const lower = name.toLowerCase();
    switch (lower) {
      // A 101 has no body; one that frames a body anyway is Node's to judge.
      case "content-length":
      case "transfer-encoding":
        return OTHER;
      case "upgrade":
        fields.upgrade = joined(fields.upgrade, value);
        continue;
      case "connection":
        fields.connection = joined(fields.connection, value);
        continue;
      case "sec-websocket-accept":
        fields.accept = joined(fields.accept, value);
        continue;
      case "sec-websocket-protocol":
        fields.protocol = joined(fields.protocol, value);
        break;
      case "sec-websocket-extensions":
        fields.extensions = joined(fields.extensions, value);
        break;
      default:
        if (!forwardedIn101(lower)) continue;
    }
    // As `name: value`, the one space after the colon that switchingProtocolsHead writes.
    forwarded += start === colon + 2 ? `${line}\r\n` : `${name}: ${value}\r\n`;
  }
  return {
    kind: "upgrade",
    response: new ScannedUpgrade(statusMessage, lines, fields, forwarded),
    headLength,
  };
}

/** Header names and values of a request head that need no escaping or checking: printable ASCII, tokens for names. */
const REQUEST_VALUE = /^[\x20-\x7e]*$/;
/** Node's own rule for a request target (ERR_UNESCAPED_CHARACTERS otherwise). */
const REQUEST_TARGET = /^[\x21-\xff]+$/;

/** A request header line `upgradeRequestHead` writes as it is (else the request takes Node's client). */
export function isPlainRequestHeader(name: string, value: string): boolean {
  return TOKEN.test(name) && REQUEST_VALUE.test(value);
}

/** A request target `upgradeRequestHead` writes as it is. */
export function isPlainRequestTarget(target: string): boolean {
  return REQUEST_TARGET.test(target);
}

/**
 * The upgrade request's head as Node's HTTP client writes it for these headers (`setHost: false`, a Connection
 * header given), or undefined when a name, value or target is one Node would check and refuse or that needs more
 * care: those go through Node's client, which answers them as before.
 */
export function upgradeRequestHead(
  target: string,
  headers: ReadonlyArray<readonly [string, string]>,
): string | undefined {
  if (!REQUEST_TARGET.test(target)) return undefined;
  let head = `GET ${target} HTTP/1.1\r\n`;
  let connection = false;
  for (const [name, value] of headers) {
    if (!TOKEN.test(name) || !REQUEST_VALUE.test(value)) return undefined;
    const lower = name.length === 10 ? name.toLowerCase() : "";
    if (lower === "connection") connection = true;
    // Node adds framing of its own for these; such a request takes Node's client.
    if (name.length === 14 || name.length === 17 || name.length === 6) {
      const other = name.toLowerCase();
      if (other === "content-length" || other === "transfer-encoding" || other === "expect") return undefined;
    }
    head += `${name}: ${value}\r\n`;
  }
  // Without a Connection header Node adds its own.
  if (!connection) return undefined;
  return head + "\r\n";
}
