import type { IncomingMessage } from "node:http";
import { clientHeadersToForward, type OwnedHeaders } from "../../pipeline/owned-headers.js";
import { endToEndHeaders } from "../../websocket/handshake.js";
import type { UpstreamServer } from "../../upstream/server.js";
import type { PeerInfo } from "../../util/http/client-ip.js";
import { forwardingHeaders, isForwardingHeader } from "../../util/http/forwarded-headers.js";

export interface UpstreamHeaderInput {
  req: IncomingMessage;
  server: UpstreamServer;
  clientIp: string;
  /** The connection's peer (`context.route.peer`): a trusted proxy's forwarding headers are kept. */
  peer?: PeerInfo | undefined;
  /** The client reached us over TLS. */
  secure: boolean;
  /** The Sec-WebSocket-Key for the backend: the client's own (checked in form), as nginx and HAProxy forward it. */
  key: string;
  defaultOrigin: string | undefined;
  /** Headers the pipeline's filters set (`context.upstreamHeaders`). */
  extra?: ReadonlyArray<readonly [string, string]>;
  /** Headers only the gateway sets (`context.ownedHeaders`): the client's copies, in any spelling, are dropped. */
  owned: OwnedHeaders;
}

/**
 * Headers of the backend upgrade request: the client's end-to-end headers as they came (subprotocols and
 * extensions included), the client's key, the backend's Host unless keepHost, and X-Forwarded-* for the client.
 */
export function upstreamRequestHeaders(input: UpstreamHeaderInput): Array<[string, string]> {
  const { req, server } = input;
  const clientHost = req.headers.host;
  const host = server.keepHost && clientHost !== undefined ? clientHost : server.url.host;
  const headers: Array<[string, string]> = [
    ["Host", host],
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Sec-WebSocket-Key", input.key],
  ];
  const extra = input.extra ?? [];
  for (const header of clientHeadersToForward(endToEndHeaders(req.rawHeaders, req.headers), input.owned)) {
    if (!isForwardingHeader(header[0])) headers.push(header);
  }
  for (const [name, value] of extra) headers.push([name, value]);
  if (req.headers.origin === undefined && input.defaultOrigin !== undefined) {
    headers.push(["Origin", input.defaultOrigin]);
  }
  headers.push(...forwardingHeaders(input));
  return headers;
}
