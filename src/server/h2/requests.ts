// Plain requests over HTTP/2 (owned by h2http): a minimal version that gives node:http2's compatibility request and
// response to the HTTPServer's request path as HTTP/1.1 ones would be, `:authority` standing in for Host.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";

/** What serves a plain request: the HTTPServer's request path. */
export type ServeRequest = (req: IncomingMessage, res: ServerResponse) => void;

export function serveH2Request(req: Http2ServerRequest, res: Http2ServerResponse, serve: ServeRequest): void {
  const authority = req.headers[":authority"];
  const raw = req.rawHeaders;
  // Pseudo-header fields are HTTP/2's framing, never headers for a backend: out of the raw list, Host in their place.
  let kept = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).startsWith(":")) continue;
    raw[kept++] = raw[i] as string;
    raw[kept++] = raw[i + 1] as string;
  }
  raw.length = kept;
  if (req.headers.host === undefined && authority !== undefined) {
    req.headers.host = authority;
    raw.unshift("Host", authority);
  }
  res.stream.on("error", ignoreError);
  // The compatibility objects have the fields the request path reads (method, url, headers, socket; writeHead, end).
  serve(req as unknown as IncomingMessage, res as unknown as ServerResponse);
}

function ignoreError(): void {}
