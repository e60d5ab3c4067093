// The headers that tell a backend where a request came from. A client can write any of them, so only a trusted
// proxy's are kept; the gateway then adds the hop it saw (the peer) to X-Forwarded-For.
import type { IncomingMessage } from "node:http";
import { headerKey } from "./header-key.js";
import type { PeerInfo } from "./client-ip.js";

/**
 * Whether `name` is a forwarding header as a backend may read it: lowercase, and `_` as `-` (CGI-style servers map
 * both to HTTP_X_FORWARDED_FOR), so that X_Forwarded_For cannot stand in for the header the gateway manages.
 */
export function isForwardingHeader(name: string): boolean {
  const normal = headerKey(name);
  return normal === "forwarded" || normal === "x-real-ip" || normal.startsWith("x-forwarded-");
}

export interface ForwardingInput {
  req: IncomingMessage;
  /** The peer; absent is taken as an untrusted one at `clientIp`. */
  peer?: PeerInfo | undefined;
  clientIp: string;
  /** The client reached the gateway over TLS. */
  secure: boolean;
  /** The request's host when not its Host header (HTTP/2's `:authority`). */
  host?: string | undefined;
}

/**
 * The forwarding headers for the backend, to add after every client header for which `isForwardingHeader` holds was
 * left out. From a trusted peer: its own (hyphenated names only), its X-Forwarded-For with the peer appended, and
 * X-Forwarded-Host/Proto as it sent them (it saw the original request) or else the gateway's. From any other peer:
 * only the gateway's: X-Forwarded-For the peer, X-Forwarded-Host the Host, X-Forwarded-Proto the scheme.
 */
export function forwardingHeaders(input: ForwardingInput): Array<[string, string]> {
  const { req } = input;
  const peer = input.peer ?? { address: input.clientIp, trusted: false };
  const headers: Array<[string, string]> = [];
  let priorForwardedFor: string[] = [];
  let forwardedHost = false;
  let forwardedProto = false;
  if (peer.trusted) {
    const raw = req.rawHeaders;
    for (let index = 0; index + 1 < raw.length; index += 2) {
      const name = raw[index] ?? "";
      const value = raw[index + 1] ?? "";
      if (name.includes("_") || !isForwardingHeader(name)) continue;
      const lower = name.toLowerCase();
      if (lower === "x-forwarded-for") {
        priorForwardedFor.push(value);
        continue;
      }
      if (lower === "x-forwarded-host") forwardedHost = true;
      if (lower === "x-forwarded-proto") forwardedProto = true;
      headers.push([name, value]);
    }
  }
  priorForwardedFor = priorForwardedFor.map((value) => value.trim()).filter((value) => value !== "");
  headers.push(["X-Forwarded-For", [...priorForwardedFor, peer.address].join(", ")]);
  const host = input.host ?? req.headers.host;
  if (!forwardedHost && host !== undefined) headers.push(["X-Forwarded-Host", host]);
  if (!forwardedProto) headers.push(["X-Forwarded-Proto", input.secure ? "https" : "http"]);
  return headers;
}
