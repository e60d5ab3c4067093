// What changes for the Proxy when the client speaks HTTP/2 (RFC 9113 §8.2, §8.3): the request's pseudo-header fields
// are not headers (`:authority` stands for Host), its body is framed by DATA frames and END_STREAM rather than by a
// header, its cookies may come split; and the answer may carry no connection-specific field, nor a second copy of a
// field Node takes one value of (Node's http2 throws on either, which would cut the stream).
import type { IncomingHttpHeaders } from "node:http";
import { endToEndHeaders } from "../../websocket/handshake.js";

/** The parts of a request (Node's IncomingMessage or Http2ServerRequest) the Proxy's header rules read. */
export interface ProxiedRequestHead {
  readonly rawHeaders: readonly string[];
  readonly headers: IncomingHttpHeaders;
  readonly httpVersionMajor: number;
}

export function isHttp2(req: { readonly httpVersionMajor: number }): boolean {
  return req.httpVersionMajor === 2;
}

/** The request's host: `:authority` over HTTP/2 (RFC 9113 §8.3.1; a Host field is only its fallback), else Host. */
export function requestHost(req: ProxiedRequestHead): string | undefined {
  if (!isHttp2(req)) return req.headers.host;
  const authority = req.headers[":authority"];
  return typeof authority === "string" && authority !== "" ? authority : req.headers.host;
}

/** Connection-specific fields HTTP/2 forbids besides the HTTP/1.1 hop-by-hop list (RFC 9113 §8.2.2, RFC 7540 §3.2.1). */
const H2_CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(["http2-settings"]);

/**
 * The client's end-to-end headers of an HTTP/2 request, as raw pairs for an HTTP/1.1 backend: pseudo-header fields
 * left out, the hop-by-hop rules as on HTTP/1.1, and split `cookie` fields joined into one with "; " (RFC 9113
 * §8.2.3), where the first of them stood.
 */
export function h2EndToEndHeaders(req: ProxiedRequestHead): Array<[string, string]> {
  const kept: Array<[string, string]> = [];
  let cookie: [string, string] | undefined;
  for (const header of endToEndHeaders(req.rawHeaders, req.headers)) {
    const lower = header[0].toLowerCase();
    if (lower.startsWith(":") || H2_CONNECTION_SPECIFIC.has(lower)) continue;
    if (lower === "cookie") {
      if (cookie === undefined) {
        cookie = header;
        kept.push(cookie);
      } else {
        cookie[1] = `${cookie[1]}; ${header[1]}`;
      }
      continue;
    }
    kept.push(header);
  }
  return kept;
}

/**
 * Fields Node's http2 sends one value of, and throws on a second (ERR_HTTP2_HEADER_SINGLE_VALUE): node's
 * lib/internal/http2/util.js kSingleValueHeaders, response fields only.
 */
const SINGLE_VALUE: ReadonlySet<string> = new Set([
  "access-control-allow-credentials",
  "access-control-max-age",
  "access-control-request-method",
  "age",
  "authorization",
  "content-encoding",
  "content-language",
  "content-length",
  "content-location",
  "content-md5",
  "content-range",
  "content-type",
  "date",
  "dnt",
  "etag",
  "expires",
  "from",
  "host",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "range",
  "referer",
  "retry-after",
  "tk",
  "upgrade-insecure-requests",
  "user-agent",
  "x-content-type-options",
]);

/**
 * A backend's answer headers for an HTTP/2 client, flat as `writeHead` takes them: the hop-by-hop ones removed as on
 * HTTP/1.1, and `HTTP2-Settings`; of a single-value field only its first copy (HTTP/1.1 clients would have seen
 * both, but an h2 answer cannot carry them: the first is what most clients read anyway).
 */
export function h2ResponseHeaders(rawHeaders: readonly string[], headers: IncomingHttpHeaders): string[] {
  const flat: string[] = [];
  const seen = new Set<string>();
  for (const [name, value] of endToEndHeaders(rawHeaders, headers)) {
    const lower = name.toLowerCase();
    if (H2_CONNECTION_SPECIFIC.has(lower) || lower.startsWith(":")) continue;
    if (SINGLE_VALUE.has(lower)) {
      if (seen.has(lower)) continue;
      seen.add(lower);
    }
    flat.push(lower, value);
  }
  return flat;
}

/** Whether the client sent the request's HEADERS with END_STREAM (no body follows), read off Node's stream. */
export function endedWithHeaders(req: object): boolean {
  const stream = (req as { stream?: { endAfterHeaders?: unknown } }).stream;
  return stream?.endAfterHeaders === true;
}
