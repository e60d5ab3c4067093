/**
 * A WebSocket client over HTTP/2 (RFC 8441) on node:http2, for the bench's h2 scenarios and the tests that check
 * it: one `H2Connection` (TLS with ALPN h2, or h2c by prior knowledge) carries many `H2WebSocket`s, each an
 * extended CONNECT stream (`:method CONNECT`, `:protocol websocket`) answered `:status 200`, its DATA frames
 * carrying WebSocket frames that this client masks and reads itself (h2-frames.ts).
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from "node:http2";
import { performance } from "node:perf_hooks";
import {
  FrameDecoder,
  OP_BINARY,
  OP_CLOSE,
  OP_PING,
  OP_PONG,
  closePayload,
  encodeFrame,
  type DecodedFrame,
} from "./h2-frames.js";

/** Where the client goes: `https://host:port/path` (ALPN h2) or `http://host:port/path` (h2c, prior knowledge). */
export interface H2Target {
  url: string;
  /** PEM the server certificate must chain to (TLS only). */
  ca?: string;
  servername?: string;
}

/** The connection's receive window: wide, as browsers' are (Chromium: 15 MiB), so many streams do not queue. */
const LOCAL_WINDOW_BYTES = 16 * 1024 * 1024;
const STREAM_WINDOW_BYTES = 1024 * 1024;
const CONNECT_TIMEOUT_MS = 10_000;

/** The refusal a server gave an extended CONNECT: its status, or a reset/connection error. */
export class H2RefusedError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export class H2Connection {
  /** The server's SETTINGS_ENABLE_CONNECT_PROTOCOL, once its SETTINGS came. */
  connectProtocol = false;
  private readonly authority: string;
  private readonly scheme: string;

  private constructor(
    readonly session: ClientHttp2Session,
    url: URL,
  ) {
    this.authority = url.host;
    this.scheme = url.protocol === "https:" ? "https" : "http";
  }

  /** Connects and waits for the server's first SETTINGS (a client may not use :protocol before it knows). */
  static open(target: H2Target): Promise<H2Connection> {
    const url = new URL(target.url);
    const session = http2.connect(url.origin, {
      ...(target.ca === undefined ? {} : { ca: target.ca }),
      ...(target.servername === undefined ? {} : { servername: target.servername }),
      settings: { initialWindowSize: STREAM_WINDOW_BYTES },
      // Many sessions on one connection: do not cap the streams we may open below the server's own limit.
      peerMaxConcurrentStreams: 1000,
    });
    const connection = new H2Connection(session, url);
    return new Promise<H2Connection>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`no SETTINGS from ${url.origin} within ${CONNECT_TIMEOUT_MS} ms`)),
        CONNECT_TIMEOUT_MS,
      );
      const fail = (error: Error): void => {
        clearTimeout(timer);
        session.destroy();
        reject(error);
      };
      session.once("error", fail);
      session.once("remoteSettings", (settings) => {
        clearTimeout(timer);
        session.off("error", fail);
        session.on("error", () => undefined);
        connection.connectProtocol = settings.enableConnectProtocol === true;
        try {
          session.setLocalWindowSize(LOCAL_WINDOW_BYTES);
        } catch {
          // Older Node: the default window only.
        }
        resolve(connection);
      });
    });
  }

  /** The negotiated ALPN protocol ("h2"), or "h2c" without TLS. */
  get alpn(): string {
    const socket = this.session.socket as { alpnProtocol?: string | false } | undefined;
    return typeof socket?.alpnProtocol === "string" ? socket.alpnProtocol : "h2c";
  }

  /**
   * Opens a WebSocket on a new stream: resolves once `:status 200` came, rejects with H2RefusedError on another
   * status or a reset. `headers` adds request headers (e.g. sec-websocket-protocol, origin).
   */
  openWebSocket(path: string, headers: Record<string, string> = {}): Promise<H2WebSocket> {
    if (!this.connectProtocol)
      return Promise.reject(new H2RefusedError("the server did not send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1"));
    let stream: ClientHttp2Stream;
    try {
      stream = this.session.request(
        {
          ":method": "CONNECT",
          ":protocol": "websocket",
          ":scheme": this.scheme,
          ":authority": this.authority,
          ":path": path,
          "sec-websocket-version": "13",
          ...headers,
        },
        { endStream: false },
      );
    } catch (error) {
      return Promise.reject(new H2RefusedError(`request refused locally: ${(error as Error).message}`));
    }
    return new Promise<H2WebSocket>((resolve, reject) => {
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(new H2RefusedError(`no answer to the extended CONNECT within ${CONNECT_TIMEOUT_MS} ms`));
      }, CONNECT_TIMEOUT_MS);
      const failed = (error: Error): void => {
        clearTimeout(timer);
        reject(
          new H2RefusedError(
            `stream failed before its answer: ${(error as NodeJS.ErrnoException).code ?? error.message}`,
          ),
        );
      };
      const closedEarly = (): void => {
        clearTimeout(timer);
        reject(new H2RefusedError(`stream closed before its answer (code ${stream.rstCode ?? "?"})`));
      };
      stream.once("error", failed);
      stream.once("close", closedEarly);
      stream.once("response", (answer) => {
        clearTimeout(timer);
        stream.off("error", failed);
        stream.off("close", closedEarly);
        const status = Number(answer[":status"]);
        if (status !== 200) {
          // Read the refusal's body, then let the stream go.
          let body = "";
          stream.setEncoding("utf8");
          stream.on("data", (chunk: string) => {
            if (body.length < 200) body += chunk;
          });
          const settle = (): void =>
            reject(new H2RefusedError(`status ${status}: ${body.trim().slice(0, 120)}`, status));
          stream.once("end", settle);
          stream.once("close", settle);
          stream.on("error", () => undefined);
          return;
        }
        resolve(new H2WebSocket(stream, answer));
      });
    });
  }

  /** GOAWAY then close; resolves when the session is gone (or destroyed after `ms`). */
  close(ms = 2000): Promise<void> {
    if (this.session.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.session.destroy();
        resolve();
      }, ms);
      this.session.close(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/**
 * One WebSocket on one stream. Messages are binary; pings are answered; a close frame from the server is answered
 * and ends the stream. One listener per socket (`onMessage`), set once, no closure per message.
 */
export class H2WebSocket {
  /** Called with every data message. */
  onMessage: (payload: Buffer) => void = () => undefined;
  /** The close code the server sent (1005 without one), or undefined while open. */
  closeCode: number | undefined;
  /** The stream ended or was reset. */
  readonly ended: Promise<void>;
  private readonly decoder = new FrameDecoder();
  private closeSent = false;
  private closeWaiter: (() => void) | undefined;
  problem: string | undefined;

  constructor(
    readonly stream: ClientHttp2Stream,
    readonly headers: http2.IncomingHttpHeaders,
  ) {
    stream.on("data", (chunk: Buffer) => this.read(chunk));
    stream.on("error", (error: NodeJS.ErrnoException) => {
      this.problem ??= error.code ?? error.message;
    });
    this.ended = new Promise<void>((resolve) => stream.once("close", resolve));
    void this.ended.then(() => this.closeWaiter?.());
  }

  private read(chunk: Buffer): void {
    let frames: DecodedFrame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.problem ??= `bad frame: ${(error as Error).message}`;
      this.stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      return;
    }
    for (const frame of frames) {
      if (frame.masked) this.problem ??= "the server sent a masked frame";
      if (frame.opcode === OP_PING) this.write(OP_PONG, frame.payload);
      else if (frame.opcode === OP_CLOSE) this.closed(frame.payload);
      else if (frame.opcode !== OP_PONG) this.onMessage(frame.payload);
    }
  }

  private closed(payload: Buffer): void {
    this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    if (!this.closeSent) {
      this.closeSent = true;
      this.write(OP_CLOSE, payload.length >= 2 ? payload.subarray(0, 2) : Buffer.alloc(0));
    }
    if (!this.stream.writableEnded) this.stream.end();
    this.closeWaiter?.();
  }

  /** Writes one masked frame; false when the stream's buffer is over its high-water mark. */
  write(opcode: number, payload: Buffer): boolean {
    if (this.stream.destroyed || this.stream.writableEnded) return false;
    return this.stream.write(encodeFrame(opcode, payload, true));
  }

  send(payload: Buffer): boolean {
    return this.write(OP_BINARY, payload);
  }

  /**
   * Sends a close frame with END_STREAM and waits for the server's close frame (then its END_STREAM), or resets
   * after `ms`. `problem` says so when the stream ended without the server's close frame.
   */
  close(code = 1000, ms = 5000): Promise<void> {
    if (this.stream.destroyed) return Promise.resolve();
    const started = performance.now();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.problem ??= `no close frame within ${Math.round(performance.now() - started)} ms`;
        this.stream.close(http2.constants.NGHTTP2_CANCEL);
        resolve();
      }, ms);
      this.closeWaiter = () => {
        clearTimeout(timer);
        if (this.closeCode === undefined) this.problem ??= "stream ended without a close frame";
        resolve();
      };
      if (this.closeCode !== undefined || this.stream.closed) {
        this.closeWaiter();
        return;
      }
      if (!this.closeSent) {
        this.closeSent = true;
        // As Chromium does: the close frame goes with END_STREAM (a half-close); the server's close frame
        // must still come back before its side ends.
        if (!this.stream.destroyed && !this.stream.writableEnded)
          this.stream.end(encodeFrame(OP_CLOSE, closePayload(code), true));
      }
    });
  }
}
