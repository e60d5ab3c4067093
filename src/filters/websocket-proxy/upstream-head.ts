// The backend upgrade request's head written in one pass over the client's headers, for the common request: no
// filter-set headers, no client-certificate headers, no trusted proxy in front, a Connection header naming only
// hop-by-hop headers. It is byte for byte what `upstreamRequestHeaders` then `upgradeRequestHead` write (the unit
// test compares the two on a table of requests); anything else returns undefined and takes that general path.
import { forwardingHeaders, isForwardingHeader } from "../../util/http/forwarded-headers.js";
import { HOP_BY_HOP, PER_CONNECTION } from "../../websocket/hop-by-hop.js";
import { isPlainRequestHeader, isPlainRequestTarget } from "../../websocket/upgrade-response.js";
import { withoutCompressionIn } from "./deflate-offer.js";
import type { UpstreamHeaderInput } from "./upstream-headers.js";

/** What every backend upgrade request says after its Host line; the key follows. */
const UPGRADE_LINES = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";

/** Whether a Connection value names only headers that are dropped anyway (so no client header is connection-scoped). */
function namesOnlyHopByHop(connection: string | undefined): boolean {
  if (connection === undefined) return true;
  for (const token of connection.split(",")) {
    const name = token.trim().toLowerCase();
    if (name !== "" && !HOP_BY_HOP.has(name)) return false;
  }
  return true;
}

/**
 * The head for `target`, or undefined for a request the general path writes. `stripCompression`: the
 * `permessageDeflate: strip` of the filter.
 */
export function upstreamRequestHead(
  input: UpstreamHeaderInput,
  target: string,
  stripCompression: boolean,
): string | undefined {
  const { req, server } = input;
  if ((input.extra !== undefined && input.extra.length > 0) || input.peer?.trusted === true) return undefined;
  if (!isPlainRequestTarget(target) || !namesOnlyHopByHop(req.headers.connection)) return undefined;
  const clientHost = req.headers.host;
  const host = server.keepHost && clientHost !== undefined ? clientHost : server.url.host;
  if (!isPlainRequestHeader("Host", host)) return undefined;
  let head = `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${UPGRADE_LINES}${input.key}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || PER_CONNECTION.has(lower) || lower.startsWith("proxy-")) continue;
    if (input.owned.owns(name) || isForwardingHeader(name)) continue;
    let value = raw[i + 1] as string;
    if (!isPlainRequestHeader(name, value)) return undefined;
    // Node's client frames these itself: such a request takes it.
    if (lower === "content-length" || lower === "transfer-encoding" || lower === "expect") return undefined;
    if (stripCompression && lower === "sec-websocket-extensions") {
      const kept = withoutCompressionIn(value);
      if (kept === undefined) continue;
      value = kept;
    }
    head += `${name}: ${value}\r\n`;
  }
  if (req.headers.origin === undefined && input.defaultOrigin !== undefined) {
    if (!isPlainRequestHeader("Origin", input.defaultOrigin)) return undefined;
    head += `Origin: ${input.defaultOrigin}\r\n`;
  }
  for (const [name, value] of forwardingHeaders(input)) {
    if (!isPlainRequestHeader(name, value)) return undefined;
    head += `${name}: ${value}\r\n`;
  }
  return head + "\r\n";
}
