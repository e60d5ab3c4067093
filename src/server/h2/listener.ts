// The HTTP/2 side of an HTTPServer's listener. TLS: the HTTPS server's ALPN offers `h2` beside `http/1.1`, and a
// connection that chose `h2` is handed here after its handshake; every other connection stays with the HTTPS server
// exactly as without HTTP/2. Plaintext (`h2c`): the upgrade front hands over a connection whose first bytes are the
// HTTP/2 preface. Streams are dispatched by kind: a plain request (requests.ts) or an extended CONNECT (connect.ts).
import http2, {
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  type ServerHttp2Stream,
} from "node:http2";
import type { Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Http2ConnectionLimits } from "./limits.js";
import { takeSecureConnection } from "../tls/secure-connection.js";

/** What the HTTPServer does with each kind of stream. */
export interface H2Dispatch {
  /** A request that is not an extended CONNECT (h2http: src/server/h2/requests.ts). */
  request(req: Http2ServerRequest, res: Http2ServerResponse): void;
  /** An extended CONNECT (or a plain CONNECT, refused there): src/server/h2/connect.ts. */
  connect(stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: string[], socket: Socket): void;
}

export interface H2ListenerOptions {
  /** Advertise SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3): the server's `http2WebSockets`. */
  webSockets: boolean;
  dispatch: H2Dispatch;
  /** Streams, header list and flood limits per connection (h2http: limits.ts). */
  limits: Http2ConnectionLimits;
}

/** The ALPN list of an HTTPS server that also speaks HTTP/2: `h2` first, as browsers prefer. */
export const H2_ALPN = ["h2", "http/1.1"];

/**
 * One node:http2 server (never listening itself) that takes connections from the HTTPServer's listener. It keeps
 * its sessions, so that closing the listener can send them GOAWAY and the drain's end can close them.
 */
export class H2Listener {
  readonly server: http2.Http2Server;
  private readonly sessions = new Set<Http2Session>();
  /** The connection each session runs on: the socket node:http2 hides behind a proxy. */
  private readonly sockets = new WeakMap<Http2Session, Socket>();
  private accepting: Socket | undefined;
  readonly limits: Http2ConnectionLimits;

  constructor(private readonly options: H2ListenerOptions) {
    this.limits = options.limits;
    this.server = http2.createServer(options.limits.serverOptions({ enableConnectProtocol: options.webSockets }));
    this.server.on("session", this.onSession);
    // Any 'request' listener switches on node's compatibility layer; without a 'connect' listener it would answer
    // every CONNECT with 405 itself (node #36977), extended CONNECT included.
    this.server.on("request", options.dispatch.request);
    this.server.on("connect", this.onConnect);
  }

  /**
   * Hooks into the HTTPS server, right after it is made (before other 'secureConnection' listeners): connections
   * whose ALPN chose `h2` come here, the others go to Node's HTTP/1.1 listener as they always did.
   */
  attachTo(https: HttpsServer): void {
    const http1 = takeSecureConnection(https);
    https.on("secureConnection", (socket: TLSSocket) => {
      if (socket.alpnProtocol === "h2") this.accept(socket);
      else http1(socket);
    });
  }

  /** A connection that speaks HTTP/2 from its first byte (TLS with ALPN `h2`, or plaintext with the preface). */
  accept(socket: Socket): void {
    this.accepting = socket;
    try {
      this.server.emit("connection", socket);
    } finally {
      this.accepting = undefined;
    }
  }

  /** Each open session: GOAWAY to them, so that clients open no new streams here; streams under way go on. */
  goAway(): void {
    for (const session of this.sessions) if (!session.closed) session.close();
  }

  /** Ends every session now (the drain time is over). */
  destroyAll(): void {
    for (const session of this.sessions) session.destroy();
    this.sessions.clear();
  }

  private readonly onSession = (session: Http2Session): void => {
    const socket = this.accepting;
    if (socket !== undefined) this.sockets.set(session, socket);
    this.sessions.add(session);
    this.options.limits.guard(session);
    // A peer's protocol error ends its session, never the process.
    session.on("error", ignoreError);
    session.once("close", () => this.sessions.delete(session));
  };

  private readonly onConnect = (req: Http2ServerRequest): void => {
    const stream = req.stream;
    const socket = this.sockets.get(stream.session as Http2Session);
    if (socket === undefined) {
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    this.options.dispatch.connect(stream, req.headers, req.rawHeaders, socket);
  };
}

function ignoreError(): void {}
