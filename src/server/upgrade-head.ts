// The first request head of a connection, read without Node's HTTP server when it is a plain WebSocket upgrade. This
// parser accepts only a narrow, unambiguous subset of HTTP/1.1 (origin-form GET, token names, visible-ASCII values,
// CRLF everywhere, no body framing); anything else is not refused here but left to Node's parser, which then answers
// it exactly as it always has. So it can never be more lenient than Node: it only says "this one is simple".

/** A head this parser read in full: what Node's parser would have given for it, byte for byte. */
export interface SimpleUpgradeHead {
  /** The request-target as sent (origin-form). */
  url: string;
  /** Names and values in order, as Node's `rawHeaders` holds them. */
  rawHeaders: string[];
  /** Bytes of the head, the blank line included: what follows is the upgrade's first data. */
  length: number;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;
const COMMA = 0x2c;

/** RFC 9110 tchar. */
const TOKEN = byteTable("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
/** The characters of an origin-form target this parser takes: RFC 3986 pchar, "/" and "?", nothing Node reads
 * differently from a strict reader ('#', '\', '[', '"', '<', '{', '^', '`', '|' and non-ASCII go to Node). */
const TARGET = byteTable("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?%");

function byteTable(chars: string): Uint8Array {
  const table = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1;
  return table;
}

/** The blank line that ends a head. */
const HEAD_END = Buffer.from("\r\n\r\n", "latin1");
const REQUEST_LINE_START = "GET /";
const VERSION = " HTTP/1.1\r\n";

/**
 * The head at the start of `bytes` when it is a complete, simple WebSocket upgrade request of at most `maxBytes`:
 * `GET /target HTTP/1.1`, one Upgrade header, one Connection header naming the `upgrade` token, a Host, no
 * Content-Length or Transfer-Encoding, every line ended by CRLF. Undefined for anything else (incomplete, another
 * method or form, an odd byte anywhere): Node's parser reads those.
 */
export function simpleUpgradeHead(bytes: Buffer, maxBytes: number): SimpleUpgradeHead | undefined {
  const blank = bytes.indexOf(HEAD_END);
  if (blank < 0 || blank + 4 > maxBytes) return undefined;
  // One decoding for the whole head; names and values are then substrings of it. Latin-1 maps each byte to one
  // character, so the checks below see the bytes as sent.
  const text = bytes.toString("latin1", 0, blank + 4);
  const end = text.length;
  if (!text.startsWith(REQUEST_LINE_START)) return undefined;
  let at = REQUEST_LINE_START.length - 1;
  while (at < end && TARGET[text.charCodeAt(at)] === 1) at++;
  const url = text.slice(REQUEST_LINE_START.length - 1, at);
  if (!text.startsWith(VERSION, at)) return undefined;
  at += VERSION.length;
  const rawHeaders: string[] = [];
  let upgrades = 0;
  let connectionUpgrade = 0;
  let hosts = 0;
  // The head ends with CRLF CRLF (found above), so every line below ends inside `text`.
  while (at < end - 2) {
    const nameStart = at;
    while (TOKEN[text.charCodeAt(at)] === 1) at++;
    if (at === nameStart || text.charCodeAt(at) !== COLON) return undefined;
    const nameEnd = at;
    at++;
    let code = text.charCodeAt(at);
    while (code === SP || code === HTAB) code = text.charCodeAt(++at);
    const valueStart = at;
    // Visible ASCII, spaces and tabs; a CR ends the value and must be followed by LF.
    while ((code >= 0x21 && code <= 0x7e) || code === SP || code === HTAB) code = text.charCodeAt(++at);
    if (code !== CR || text.charCodeAt(at + 1) !== LF) return undefined;
    const valueEnd = at;
    // An empty value, or one ending in whitespace: left to Node, whose trimming this does not repeat.
    if (valueEnd === valueStart) return undefined;
    const last = text.charCodeAt(valueEnd - 1);
    if (last === SP || last === HTAB) return undefined;
    at += 2;
    const name = text.slice(nameStart, nameEnd);
    const value = text.slice(valueStart, valueEnd);
    switch (nameEnd - nameStart) {
      case 4:
        if (name.toLowerCase() === "host") hosts++;
        break;
      case 7:
        if (name.toLowerCase() === "upgrade") upgrades++;
        break;
      case 10:
        if (name.toLowerCase() === "connection") {
          if (!namesUpgrade(value)) return undefined;
          connectionUpgrade++;
        }
        break;
      case 14:
        if (name.toLowerCase() === "content-length") return undefined;
        break;
      case 17:
        if (name.toLowerCase() === "transfer-encoding") return undefined;
        break;
      default:
        break;
    }
    rawHeaders.push(name, value);
  }
  // The loop stops at the blank line's CRLF (at === end - 2) only when every line before it was a header line.
  if (at !== end - 2) return undefined;
  if (upgrades !== 1 || connectionUpgrade !== 1 || hosts === 0) return undefined;
  return { url, rawHeaders, length: end };
}

/**
 * A Connection value that is a list of tokens, one of them `upgrade` (any case); anything else is Node's to read.
 * One pass over the characters: no regular expression a long run of spaces could make quadratic.
 */
function namesUpgrade(value: string): boolean {
  let found = false;
  let at = 0;
  const end = value.length;
  while (at <= end) {
    let code = value.charCodeAt(at);
    while (code === SP || code === HTAB) code = value.charCodeAt(++at);
    const tokenStart = at;
    while (TOKEN[code] === 1) code = value.charCodeAt(++at);
    const tokenEnd = at;
    while (code === SP || code === HTAB) code = value.charCodeAt(++at);
    // Each element is one token, followed by a comma or the end of the value.
    if (tokenEnd === tokenStart || (at < end && code !== COMMA)) return false;
    if (tokenEnd - tokenStart === 7 && value.slice(tokenStart, tokenEnd).toLowerCase() === "upgrade") found = true;
    at++;
  }
  return found;
}
