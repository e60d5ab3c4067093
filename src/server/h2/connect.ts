// An extended CONNECT (RFC 8441 §4) as the gateway serves it: the stream's request is made into the request an
// HTTP/1.1 WebSocket upgrade would have been (GET, path, Host from `:authority`, the other fields as sent), judged
// by the one upgrade rule (websocket/handshake.ts), then routed and run through the pipeline as an upgrade is.
import { IncomingMessage } from "node:http";
import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import { writeStreamRefusal } from "../../util/http/stream-response.js";
import { judgeExtendedConnect } from "../../websocket/handshake.js";

/** What serves an extended CONNECT once it reads as an upgrade request: the HTTPServer's upgrade path. */
export type ServeStreamUpgrade = (req: IncomingMessage, connection: Socket, stream: ServerHttp2Stream) => void;

/**
 * A CONNECT stream. Without `:protocol` it asks for a TCP tunnel, which the gateway does not serve (405); with one
 * it goes the way of an upgrade, where `:protocol` other than `websocket` is refused as another upgrade is (400).
 */
export function serveExtendedConnect(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[],
  connection: Socket,
  serve: ServeStreamUpgrade,
): void {
  stream.on("error", ignoreError);
  const protocol = headers[":protocol"];
  if (protocol === undefined) {
    writeStreamRefusal(stream, 405, "CONNECT without :protocol (a tunnel) is not served", { allow: "GET" });
    return;
  }
  const path = headers[":path"];
  if (path === undefined || headers[":scheme"] === undefined) {
    writeStreamRefusal(stream, 400, "an extended CONNECT needs :scheme and :path");
    return;
  }
  const req = upgradeRequestOf(connection, path, headers[":authority"], rawHeaders);
  judgeExtendedConnect(req, protocol);
  serve(req, connection, stream);
}

/** The request an HTTP/1.1 client would have sent: GET `path`, Host first (from `:authority`), then its fields. */
function upgradeRequestOf(
  connection: Socket,
  path: string,
  authority: string | undefined,
  rawHeaders: readonly string[],
): IncomingMessage {
  const req = new IncomingMessage(connection);
  req.method = "GET";
  req.url = path;
  req.httpVersionMajor = 2;
  req.httpVersionMinor = 0;
  req.httpVersion = "2.0";
  const lines: string[] = authority === undefined ? [] : ["Host", authority];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.startsWith(":")) continue;
    lines.push(name, rawHeaders[i + 1] as string);
  }
  const parsed = req as unknown as ParsedMessage;
  parsed.upgrade = true;
  parsed._addHeaderLines(lines, lines.length);
  req.complete = true;
  return req;
}

/** What Node's parser sets on a message beyond the typed fields (as upgrade-front.ts uses it). */
interface ParsedMessage {
  upgrade: boolean;
  _addHeaderLines(headers: string[], count: number): void;
}

function ignoreError(): void {}
