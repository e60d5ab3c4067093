// Answers on an HTTP/2 stream where HTTP/1.1 writes a raw response (raw-response.ts): a refused extended CONNECT.
import { constants, type ServerHttp2Stream } from "node:http2";

/** Headers HTTP/2 forbids (RFC 9113 §8.2.2): node:http2 throws on them, so a refusal's extra headers skip them. */
const CONNECTION_SPECIFIC = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]);

/**
 * Answers `status` with a short plain-text reason and ends the stream; the connection and its other streams go on.
 * A stream the client already reset or whose headers went out is reset instead: nothing a peer did can throw here.
 */
export function writeStreamRefusal(
  stream: ServerHttp2Stream,
  status: number,
  reason: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (stream.destroyed || stream.headersSent) {
    closeStream(stream);
    return;
  }
  const body = `${reason}\n`;
  const fields: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!CONNECTION_SPECIFIC.has(name.toLowerCase())) fields[name.toLowerCase()] = value;
  }
  fields[":status"] = status;
  fields["content-type"] = "text/plain; charset=utf-8";
  fields["content-length"] = Buffer.byteLength(body);
  try {
    stream.respond(fields);
    // The client may still be sending: once the answer is out, its side is reset (NO_ERROR), as RFC 9113 §8.1 allows.
    stream.end(body, () => closeStream(stream, constants.NGHTTP2_NO_ERROR));
  } catch {
    closeStream(stream);
  }
}

/** Resets the stream (INTERNAL_ERROR) unless it is gone already. */
export function closeStream(stream: ServerHttp2Stream, code: number = constants.NGHTTP2_INTERNAL_ERROR): void {
  if (!stream.destroyed && !stream.closed) stream.close(code);
}
