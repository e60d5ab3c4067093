// Which headers stop at the gateway: the one list the backend request and both answers to the client are built by.

/** Headers that belong to one connection and are never forwarded (RFC 9110 §7.6.1), plus the upgrade pair. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Headers the WebSocket handshake computes per connection: each side gets its own. */
export const PER_CONNECTION: ReadonlySet<string> = new Set(["sec-websocket-key", "sec-websocket-accept"]);

/** Whether a backend 101's header (lower-case name) goes on into the client's 101. */
export function forwardedIn101(lower: string): boolean {
  return !HOP_BY_HOP.has(lower) && !PER_CONNECTION.has(lower) && lower !== "content-length";
}
