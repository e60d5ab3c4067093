// How a proxied request's body is framed for the backend. The gateway decides it from what Node's strict parser read
// (never from the client's header list after hop-by-hop removal) and writes the one framing header itself, so a body
// always reaches the backend delimited exactly as the gateway read it: by its length, chunked, or not at all.
import type { IncomingMessage } from "node:http";
import { UnframableBodyError } from "./errors.js";
import { endedWithHeaders, isHttp2 } from "./h2.js";

export type BodyFraming =
  /** No body: Node's parser read neither Content-Length nor Transfer-Encoding. */
  | { kind: "none" }
  /** Exactly `length` bytes (0 included), sent with Content-Length. */
  | { kind: "length"; length: number }
  /** A body of unknown length, re-chunked to the backend. */
  | { kind: "chunked" };

const DIGITS = /^[0-9]+$/;

/** The framing of `req`'s body as Node's parser read it, or why it cannot be forwarded. */
export function requestFraming(req: IncomingMessage): BodyFraming | UnframableBodyError {
  if (isHttp2(req)) return h2RequestFraming(req);
  const transferEncoding = req.headers["transfer-encoding"];
  const contentLength = req.headers["content-length"];
  // llhttp refuses both together; checked again so that no parser leniency can make two framings of one body.
  if (transferEncoding !== undefined && contentLength !== undefined) {
    return new UnframableBodyError("both Content-Length and Transfer-Encoding");
  }
  if (transferEncoding !== undefined) {
    // llhttp hands us the body de-chunked; another coding before chunked (gzip, ...) would reach the backend undeclared.
    if (transferEncoding.trim().toLowerCase() !== "chunked") {
      return new UnframableBodyError("a Transfer-Encoding other than chunked");
    }
    return { kind: "chunked" };
  }
  if (contentLength === undefined) return { kind: "none" };
  return lengthFraming(contentLength);
}

function lengthFraming(contentLength: string): BodyFraming | UnframableBodyError {
  const length = DIGITS.test(contentLength) ? Number(contentLength) : Number.NaN;
  if (!Number.isSafeInteger(length)) return new UnframableBodyError("Content-Length is not a byte count");
  return { kind: "length", length };
}

/**
 * An HTTP/2 request's body is its DATA frames up to END_STREAM (RFC 9113 §8.1): Content-Length when the client gave
 * one (nghttp2 holds the DATA frames to it), none when END_STREAM came with the headers, else chunked to the backend.
 * Transfer-Encoding never comes over HTTP/2 (nghttp2 refuses the stream).
 */
function h2RequestFraming(req: IncomingMessage): BodyFraming | UnframableBodyError {
  const contentLength = req.headers["content-length"];
  if (contentLength !== undefined) return lengthFraming(contentLength);
  return endedWithHeaders(req) ? { kind: "none" } : { kind: "chunked" };
}

/** The framing header the gateway sends for a body framed so; none for no body. */
export function framingHeader(framing: BodyFraming): readonly [string, string] | undefined {
  if (framing.kind === "length") return ["Content-Length", String(framing.length)];
  if (framing.kind === "chunked") return ["Transfer-Encoding", "chunked"];
  return undefined;
}

/** Whether bytes follow the head: a chunked body (possibly empty) or a length over 0. */
export function hasBody(framing: BodyFraming): boolean {
  return framing.kind === "chunked" || (framing.kind === "length" && framing.length > 0);
}
