// The headers of a proxied HTTP request and of its answer: end-to-end headers only (the hop-by-hop list is the
// WebSocket handshake's, src/websocket/handshake.ts), the backend's Host unless keepHost, and X-Forwarded-*.
import type { IncomingMessage } from "node:http";
import { clientHeadersToForward, type OwnedHeaders } from "../../pipeline/owned-headers.js";
import type { UpstreamServer } from "../../upstream/server.js";
import { endToEndHeaders } from "../../websocket/handshake.js";
import type { PeerInfo } from "../../util/http/client-ip.js";
import { forwardingHeaders, isForwardingHeader } from "../../util/http/forwarded-headers.js";
import { framingHeader, type BodyFraming } from "./framing.js";
import { h2EndToEndHeaders, h2ResponseHeaders, isHttp2, requestHost } from "./h2.js";

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
  /** Headers the pipeline's filters set (`context.upstreamHeaders`). */
  extra: ReadonlyArray<readonly [string, string]>;
  /** Headers only the gateway sets (`context.ownedHeaders`): the client's copies, in any spelling, are dropped. */
  owned: OwnedHeaders;
}

/**
 * The gateway answers `Expect` itself (100 Continue) and writes the body's framing header (framing.ts); the
 * forwarding headers are its own too (forwarded-headers.ts).
 */
const SET_BY_GATEWAY = new Set(["expect", "content-length", "transfer-encoding"]);

export function proxyRequestHeaders(input: ProxyHeaderInput): Array<readonly [string, string]> {
  const { req, server } = input;
  const clientHost = requestHost(req);
  const headers: Array<readonly [string, string]> = [
    ["Host", server.keepHost && clientHost !== undefined ? clientHost : server.url.host],
  ];
  const clientHeaders = isHttp2(req) ? h2EndToEndHeaders(req) : endToEndHeaders(req.rawHeaders, req.headers);
  for (const header of clientHeadersToForward(clientHeaders, input.owned)) {
    const lower = header[0].toLowerCase();
    if (!SET_BY_GATEWAY.has(lower) && !isForwardingHeader(lower)) headers.push(header);
  }
  for (const header of input.extra) headers.push(header);
  const framing = framingHeader(input.framing);
  if (framing !== undefined) headers.push(framing);
  headers.push(...forwardingHeaders({ ...input, host: clientHost }));
  return headers;
}

/**
 * The backend's answer headers for the client, flat as `writeHead` takes them: hop-by-hop ones removed, and for an
 * HTTP/2 client what an h2 answer cannot carry (h2.ts).
 */
export function proxyResponseHeaders(res: IncomingMessage, http2 = false): string[] {
  if (http2) return h2ResponseHeaders(res.rawHeaders, res.headers);
  const flat: string[] = [];
  for (const [name, value] of endToEndHeaders(res.rawHeaders, res.headers)) flat.push(name, value);
  return flat;
}

export function flatten(headers: ReadonlyArray<readonly [string, string]>): string[] {
  const flat: string[] = [];
  for (const [name, value] of headers) flat.push(name, value);
  return flat;
}
