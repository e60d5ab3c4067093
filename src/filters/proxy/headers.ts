// The headers of a proxied HTTP request and of its answer: end-to-end headers only (the hop-by-hop list is the
// WebSocket handshake's, src/websocket/handshake.ts), the backend's Host unless keepHost, and X-Forwarded-*.
import type { IncomingMessage } from "node:http";
import type { UpstreamServer } from "../../upstream/server.js";
import { endToEndHeaders } from "../../websocket/handshake.js";
import type { PeerInfo } from "../../server/client-ip.js";
import { forwardingHeaders, isForwardingHeader } from "../../server/forwarded-headers.js";
import { framingHeader, type BodyFraming } from "./framing.js";

export interface ProxyHeaderInput {
  req: IncomingMessage;
  server: UpstreamServer;
  clientIp: string;
  /** The connection's peer (`context.route.peer`): a trusted proxy's forwarding headers are kept. */
  peer?: PeerInfo | undefined;
  /** The client reached us over TLS. */
  secure: boolean;
  /** How the body goes to the backend: the gateway writes its framing header, the client's never pass. */
  framing: BodyFraming;
  /** Headers the pipeline's filters set (`context.upstreamHeaders`): they replace client headers of their names. */
  extra: ReadonlyArray<readonly [string, string]>;
}

/**
 * Set by the gateway itself (the forwarding headers too, see forwarded-headers.ts); `Expect` is answered by the
 * gateway (100 Continue), not by the backend; the framing headers are the gateway's own (framing.ts).
 */
const REPLACED = new Set(["host", "expect", "content-length", "transfer-encoding"]);

export function proxyRequestHeaders(input: ProxyHeaderInput): Array<readonly [string, string]> {
  const { req, server } = input;
  const clientHost = req.headers.host;
  const headers: Array<readonly [string, string]> = [
    ["Host", server.keepHost && clientHost !== undefined ? clientHost : server.url.host],
  ];
  const replacedByFilters = new Set(input.extra.map(([name]) => name.toLowerCase()));
  for (const header of endToEndHeaders(req.rawHeaders, req.headers)) {
    const lower = header[0].toLowerCase();
    if (!REPLACED.has(lower) && !replacedByFilters.has(lower) && !isForwardingHeader(lower)) headers.push(header);
  }
  for (const header of input.extra) headers.push(header);
  const framing = framingHeader(input.framing);
  if (framing !== undefined) headers.push(framing);
  headers.push(...forwardingHeaders(input));
  return headers;
}

/** The backend's answer headers for the client, flat as `writeHead` takes them: hop-by-hop ones removed. */
export function proxyResponseHeaders(res: IncomingMessage): string[] {
  const flat: string[] = [];
  for (const [name, value] of endToEndHeaders(res.rawHeaders, res.headers)) flat.push(name, value);
  return flat;
}

export function flatten(headers: ReadonlyArray<readonly [string, string]>): string[] {
  const flat: string[] = [];
  for (const [name, value] of headers) flat.push(name, value);
  return flat;
}
