import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { clientReason, type GatewayError } from "../errors.js";
import type { AccessLog } from "../observability/access-log.js";
import type { Logger } from "../observability/logger.js";
import type { Telemetry } from "../observability/telemetry.js";
import type { CredentialExpiry } from "../proxy/credential-expiry.js";
import { requestEnded, upgradeRejected } from "../observability/traffic-events.js";
import { writeRawResponse } from "../util/http/raw-response.js";
import { writeStreamRefusal } from "../util/http/stream-response.js";
import type { PeerInfo } from "../util/http/client-ip.js";
import type { ClientCertHeaders } from "../util/http/client-cert.js";
import { OwnedHeaders } from "./owned-headers.js";

/** The route rule a request matched (server/router.ts finds it). */
export interface RouteMatch {
  /** The pipeline the matched path sends to (the path's `backend` field, as Easegress names it). */
  pipeline: string;
  /** Path + query to send upstream: the normalised origin-form target, rewritten (and normalised again) where set. */
  target: string;
  ruleIndex: number;
  pathIndex: number;
  clientMaxBodySize: number | undefined;
}

/** Where a request came in and how it was routed. */
export interface RouteInfo {
  /** The HTTPServer's name. */
  server: string;
  /** The pipeline the route sends to. */
  pipeline: string;
  /** The path and query for the backend, after rewriteTarget. */
  target: string;
  match: RouteMatch;
  /** The route's identity across reloads and its label for status views; empty when nothing matched. */
  routeKey: string;
  routeLabel: string;
  /** The client's connection is TLS (for X-Forwarded-Proto). */
  secure: boolean;
  /** Largest request body in bytes: the path's `clientMaxBodySize`, else the server's; -1 for no limit. */
  maxBodySize?: number;
  /** Headers from the client's TLS certificate, when the HTTPServer names any (`clientCertHeaders`). */
  clientCertHeaders?: ClientCertHeaders;
  /** The connection's peer and whether it is a trusted proxy (see util/http/client-ip.ts); absent: untrusted, the client. */
  peer?: PeerInfo;
  /** The HTTPServer's `exposeErrors`: refusals tell the client the whole message (backend addresses, pools). */
  exposeErrors?: boolean;
}

interface ContextBase {
  readonly req: IncomingMessage;
  readonly route: RouteInfo;
  /** The client's address: the peer's, or what a trusted proxy said (X-Forwarded-For, PROXY protocol). */
  readonly clientIp: string;
  readonly log: Logger;
  /** Set once an answer has been given; the pipeline stops there. */
  readonly answered: boolean;
  /** Ends the request with the error's status and reason. */
  reject(error: GatewayError): void;
  /** Headers filters added for the backend (e.g. JWT claims); each replaces any client header of its name. */
  readonly upstreamHeaders: ReadonlyArray<readonly [string, string]>;
  /** Adds (or replaces) a header the backend request will carry; the client's copies of it never pass. */
  setUpstreamHeader(name: string, value: string): void;
  /** Headers only the gateway may set on the backend request; the upstream header builders drop the client's. */
  readonly ownedHeaders: OwnedHeaders;
  /** When the request arrived (performance.now()), for latency metrics and access lines. */
  readonly receivedAt: number;
  /** What filters learn on the way, for the access line. */
  readonly notes: RequestNotes;
  /** The server's access log when it has one, as it was when the request arrived. */
  readonly accessLog: AccessLog | undefined;
  /** The gateway's metrics, access logs and secret query parameters, where this request's events go. */
  readonly telemetry: Telemetry;
  /** When the credential a filter checked (a token's `exp`, a certificate) ends the session; none: it never does. */
  credentialExpiry?: CredentialExpiry | undefined;
}

export interface RequestNotes {
  /** The backend ("host:port") that served the request. */
  backend?: string;
}

/** Sets `name` in a list of upstream headers: a later header of the same name (any case) replaces the earlier one. */
function replaceHeader(headers: Array<readonly [string, string]>, name: string, value: string): void {
  const lower = name.toLowerCase();
  const index = headers.findIndex(([existing]) => existing.toLowerCase() === lower);
  if (index >= 0) headers.splice(index, 1);
  headers.push([name, value]);
}

/** A WebSocket upgrade request: the answer is written on the raw socket, or on its HTTP/2 stream (RFC 8441). */
export interface UpgradeContext extends ContextBase {
  readonly kind: "upgrade";
  /** The client's connection (TCP or TLS): its addresses, its certificate; HTTP/1.1 answers are written on it. */
  readonly socket: Socket;
  /**
   * Set when the upgrade is an extended CONNECT on an HTTP/2 connection: the answer is this stream's response
   * (`:status`), and the relay runs on the stream, never on `socket` (which other streams share).
   */
  readonly h2: ServerHttp2Stream | undefined;
  /** Bytes the client sent after its request headers. */
  readonly head: Buffer;
  /** Marks the socket as taken over (a 101 was sent, or a backend answer is being relayed). */
  takeOver(): void;
}

/** A plain HTTP request. */
export interface PlainRequestContext extends ContextBase {
  readonly kind: "request";
  readonly res: ServerResponse;
}

/** What every filter sees of a request, a WebSocket upgrade or a plain one (`kind` tells them apart). */
export type RequestContext = UpgradeContext | PlainRequestContext;

/** Connections told `Connection: close`: a request pipelined behind the refusal must not be served. */
const closingSockets = new WeakSet<object>();

export function isClosingConnection(socket: object): boolean {
  return closingSockets.has(socket);
}

function logRejection(log: Logger, error: GatewayError): void {
  const entry = { event: "request_rejected", status: error.status, code: error.code, reason: error.message };
  if (error.side === "client") log.info(entry, "request rejected");
  else log.warn(entry, "request failed");
}

/** Where a context's logger comes from: a logger, or a function that makes it (a child) when something logs. */
export type LoggerSource = Logger | (() => Logger);

/**
 * What both contexts hold, in a class: one object of a fixed shape per request, not a literal with spread parts and
 * closures. The logger (a pino child with the request's bindings) is made the first time something logs.
 */
abstract class RequestContextBase {
  readonly receivedAt = performance.now();
  readonly notes: RequestNotes = {};
  readonly accessLog: AccessLog | undefined;
  readonly upstreamHeaders: Array<readonly [string, string]> = [];
  readonly ownedHeaders = new OwnedHeaders();
  credentialExpiry: CredentialExpiry | undefined = undefined;
  #log: Logger | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly route: RouteInfo,
    readonly clientIp: string,
    private readonly logSource: LoggerSource,
    readonly telemetry: Telemetry,
  ) {
    this.accessLog = telemetry.accessLogs.for(route.server);
    // A client cannot pose as a certificate it does not hold: the names are the gateway's even without a certificate.
    for (const name of route.clientCertHeaders?.names ?? []) this.ownedHeaders.own(name);
  }

  get log(): Logger {
    this.#log ??= typeof this.logSource === "function" ? this.logSource() : this.logSource;
    return this.#log;
  }

  setUpstreamHeader(name: string, value: string): void {
    this.ownedHeaders.own(name);
    replaceHeader(this.upstreamHeaders, name, value);
  }
}

/** An upgrade's context: answers are written on the raw socket. */
class UpgradeRequestContext extends RequestContextBase implements UpgradeContext {
  readonly kind = "upgrade";
  #answered = false;

  constructor(
    req: IncomingMessage,
    readonly socket: Socket,
    readonly head: Buffer,
    route: RouteInfo,
    clientIp: string,
    logSource: LoggerSource,
    telemetry: Telemetry,
  ) {
    super(req, route, clientIp, logSource, telemetry);
  }

  get answered(): boolean {
    return this.#answered;
  }

  /** HTTP/1.1: no stream (on the prototype, so that the hot path's context holds no field for it). */
  get h2(): ServerHttp2Stream | undefined {
    return undefined;
  }

  takeOver(): void {
    this.#answered = true;
  }

  reject(error: GatewayError): void {
    if (this.#answered) return;
    this.#answered = true;
    logRejection(this.log, error);
    this.writeRefusal(error, clientReason(error, this.route.exposeErrors === true));
    upgradeRejected(this, error);
  }

  protected writeRefusal(error: GatewayError, reason: string): void {
    writeRawResponse(this.socket, error.status, reason, error.headers, error.shed);
  }
}

/** An extended CONNECT's context (RFC 8441): answers are the stream's response; the connection is left alone. */
class H2UpgradeRequestContext extends UpgradeRequestContext {
  constructor(
    req: IncomingMessage,
    socket: Socket,
    private readonly stream: ServerHttp2Stream,
    route: RouteInfo,
    clientIp: string,
    logSource: LoggerSource,
    telemetry: Telemetry,
  ) {
    super(req, socket, EMPTY, route, clientIp, logSource, telemetry);
  }

  override get h2(): ServerHttp2Stream {
    return this.stream;
  }

  protected override writeRefusal(error: GatewayError, reason: string): void {
    writeStreamRefusal(this.stream, error.status, reason, error.headers);
  }
}

const EMPTY = Buffer.alloc(0);

/** `h2`: the upgrade is an extended CONNECT on this stream of an HTTP/2 connection (`socket`). */
export function createUpgradeContext(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  route: RouteInfo,
  clientIp: string,
  log: LoggerSource,
  telemetry: Telemetry,
  h2?: ServerHttp2Stream,
): UpgradeContext {
  if (h2 !== undefined) return new H2UpgradeRequestContext(req, socket, h2, route, clientIp, log, telemetry);
  return new UpgradeRequestContext(req, socket, head, route, clientIp, log, telemetry);
}

/** A plain request's context: answers go through the ServerResponse. */
class ServerResponseContext extends RequestContextBase implements PlainRequestContext {
  readonly kind = "request";
  /** The gateway's own refusal, if it gave one, for the access line. */
  #rejection: GatewayError | undefined;

  constructor(
    req: IncomingMessage,
    readonly res: ServerResponse,
    route: RouteInfo,
    clientIp: string,
    logSource: LoggerSource,
    telemetry: Telemetry,
  ) {
    super(req, route, clientIp, logSource, telemetry);
    const socket = req.socket;
    const readAtStart = socket.bytesRead;
    const writtenAtStart = socket.bytesWritten;
    // Every request ends with its response's close, answered in full or cut off: one report each.
    res.once("close", () =>
      requestEnded(this, this.#rejection, {
        read: socket.bytesRead - readAtStart,
        written: socket.bytesWritten - writtenAtStart,
      }),
    );
  }

  get answered(): boolean {
    // A response destroyed (the client left) can take no answer any more.
    return this.res.headersSent || this.res.writableEnded || this.res.destroyed;
  }

  reject(error: GatewayError): void {
    const { req, res } = this;
    if (res.headersSent) return;
    this.#rejection = error;
    logRejection(this.log, error);
    const body = `${clientReason(error, this.route.exposeErrors === true)}\n`;
    // HTTP/2 frames each request: a refusal ends its stream only, and an h2 answer carries no Connection field.
    const http1 = req.httpVersionMajor < 2;
    // What follows a refused request on this connection may be frames, not HTTP: close it after the answer.
    if (http1) {
      res.shouldKeepAlive = false;
      closingSockets.add(req.socket);
    }
    res.writeHead(error.status, {
      ...error.headers,
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Length": Buffer.byteLength(body),
      ...(http1 ? { Connection: "close" } : undefined),
    });
    res.end(body);
  }
}

export function createPlainRequestContext(
  req: IncomingMessage,
  res: ServerResponse,
  route: RouteInfo,
  clientIp: string,
  logSource: LoggerSource,
  telemetry: Telemetry,
): PlainRequestContext {
  return new ServerResponseContext(req, res, route, clientIp, logSource, telemetry);
}
