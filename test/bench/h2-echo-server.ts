/**
 * A tiny RFC 8441 echo server for the bench client's tests (and the browser test's reference): node:http2's stream
 * API with SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 (the 'request' compat layer would answer 405, node #36977); an
 * extended CONNECT with `:protocol websocket` on `/ws` gets `:status 200` and every message echoed unmasked; other
 * paths get 404, a missing `sec-websocket-version: 13` 400. Over TLS with `allowHTTP1`, or h2c.
 */
import http2, { type Http2Server, type Http2SecureServer, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { FrameDecoder, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, encodeFrame } from "../../bench/h2-frames.js";

export interface H2EchoServer {
  port: number;
  /** Extended CONNECTs answered 200, and the TCP connections accepted. */
  readonly counts: { sessions: number; connections: number; refused: number };
  close(): Promise<void>;
}

function serveWebSocket(stream: ServerHttp2Stream, counts: H2EchoServer["counts"], answerClose: boolean): void {
  counts.sessions++;
  stream.respond({ ":status": 200 });
  const decoder = new FrameDecoder();
  stream.on("error", () => undefined);
  stream.on("data", (chunk: Buffer) => {
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch {
      stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      return;
    }
    for (const frame of frames) {
      if (!frame.masked) {
        stream.write(encodeFrame(OP_CLOSE, Buffer.from([0x03, 0xea]), false));
        stream.end();
        return;
      }
      if (frame.opcode === OP_TEXT || frame.opcode === OP_BINARY)
        stream.write(encodeFrame(frame.opcode, frame.payload, false));
      else if (frame.opcode === OP_PING) stream.write(encodeFrame(OP_PONG, frame.payload, false));
      else if (frame.opcode === OP_CLOSE) {
        if (answerClose) stream.end(encodeFrame(OP_CLOSE, frame.payload.subarray(0, 2), false));
        else stream.end();
        return;
      }
    }
  });
}

export async function startH2EchoServer(
  options: {
    tls?: { cert: string; key: string };
    connectProtocol?: boolean;
    /** false: a client's close frame is met with END_STREAM alone (the peer then sees 1006). */
    answerClose?: boolean;
  } = {},
): Promise<H2EchoServer> {
  const settings = { enableConnectProtocol: options.connectProtocol ?? true };
  const server: Http2Server | Http2SecureServer =
    options.tls === undefined
      ? http2.createServer({ settings })
      : http2.createSecureServer({ ...options.tls, settings, allowHTTP1: true });
  const counts = { sessions: 0, connections: 0, refused: 0 };
  server.on("connection", () => counts.connections++);
  server.on("secureConnection", () => undefined);
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    if (headers[":method"] !== "CONNECT" || headers[":protocol"] !== "websocket") {
      stream.respond({ ":status": 200, "content-type": "text/plain" });
      stream.end("not a websocket\n");
      return;
    }
    const refuse = (status: number): void => {
      counts.refused++;
      stream.respond({ ":status": status });
      stream.end();
    };
    if (headers[":path"] !== "/ws") return refuse(404);
    if (headers["sec-websocket-version"] !== "13") return refuse(400);
    serveWebSocket(stream, counts, options.answerClose ?? true);
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        for (const session of sessions) session.destroy();
        server.close(() => resolve());
      }),
  };
}
