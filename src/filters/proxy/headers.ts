// The headers of a proxied HTTP request and of its answer: end-to-end headers only (the hop-by-hop list is the
// WebSocket handshake's, src/websocket/handshake.ts), the backend's Host unless keepHost, and X-Forwarded-*.
import type { IncomingMessage } from "node:http";
import { clientHeadersToForward, type OwnedHeaders } from "../../pipeline/owned-headers.js";
import type { UpstreamServer } from "../../upstream/server.js";
import { endToEndHeaders } from "../../websocket/handshake.js";

export interface ProxyHeaderInput {
  req: IncomingMessage;
  server: UpstreamServer;
  clientIp: string;
  /** The client reached us over TLS. */
  secure: boolean;
  /** The request has a body without Content-Length: it goes chunked to the backend. */
  chunked: boolean;
  /** Headers the pipeline's filters set (`context.upstreamHeaders`). */
  extra: ReadonlyArray<readonly [string, string]>;
  /** Headers only the gateway sets (`context.ownedHeaders`): the client's copies, in any spelling, are dropped. */
  owned: OwnedHeaders;
}

export function proxyRequestHeaders(input: ProxyHeaderInput): Array<readonly [string, string]> {
  const { req, server } = input;
  const clientHost = req.headers.host;
  const headers: Array<readonly [string, string]> = [
    ["Host", server.keepHost && clientHost !== undefined ? clientHost : server.url.host],
  ];
  for (const header of clientHeadersToForward(endToEndHeaders(req.rawHeaders, req.headers), input.owned)) {
    // `Expect` is answered by the gateway (100 Continue), not by the backend.
    if (header[0].toLowerCase() !== "expect") headers.push(header);
  }
  for (const header of input.extra) headers.push(header);
  if (input.chunked) headers.push(["Transfer-Encoding", "chunked"]);
  const prior = req.headers["x-forwarded-for"];
  headers.push(["X-Forwarded-For", prior === undefined ? input.clientIp : `${prior}, ${input.clientIp}`]);
  if (clientHost !== undefined) headers.push(["X-Forwarded-Host", clientHost]);
  headers.push(["X-Forwarded-Proto", input.secure ? "https" : "http"]);
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
