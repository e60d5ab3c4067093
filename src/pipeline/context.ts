import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { GatewayError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { writeRawResponse } from "../server/raw-response.js";
import type { RouteMatch } from "../server/router.js";
import type { ClientCertHeaders } from "../server/tls/client-cert.js";

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
}

interface ContextBase {
  readonly req: IncomingMessage;
  readonly route: RouteInfo;
  /** The client's address, or the first X-Forwarded-For entry where the server trusts it. */
  readonly clientIp: string;
  readonly log: Logger;
  /** Set once an answer has been given; the pipeline stops there. */
  readonly answered: boolean;
  /** Ends the request with the error's status and reason. */
  reject(error: GatewayError): void;
  /** Headers filters added for the backend (e.g. JWT claims); each replaces any client header of its name. */
  readonly upstreamHeaders: ReadonlyArray<readonly [string, string]>;
  /** Adds (or replaces) a header the backend request will carry. */
  setUpstreamHeader(name: string, value: string): void;
}

/** The upstream-header part of a context: a list that a later header of the same name replaces in. */
function upstreamHeaderList(): Pick<ContextBase, "upstreamHeaders" | "setUpstreamHeader"> {
  const headers: Array<readonly [string, string]> = [];
  return {
    upstreamHeaders: headers,
    setUpstreamHeader(name, value) {
      const lower = name.toLowerCase();
      const index = headers.findIndex(([existing]) => existing.toLowerCase() === lower);
      if (index >= 0) headers.splice(index, 1);
      headers.push([name, value]);
    },
  };
}

/** A WebSocket upgrade request: the answer is written on the raw socket. */
export interface UpgradeContext extends ContextBase {
  readonly kind: "upgrade";
  readonly socket: Socket;
  /** Bytes the client sent after its request headers. */
  readonly head: Buffer;
  /** Marks the socket as taken over (a 101 was sent, or a backend answer is being relayed). */
  takeOver(): void;
}

/** A plain HTTP request. */
export interface RequestContext extends ContextBase {
  readonly kind: "request";
  readonly res: ServerResponse;
}

export type HandshakeContext = UpgradeContext | RequestContext;

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

export function createUpgradeContext(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  route: RouteInfo,
  clientIp: string,
  log: Logger,
): UpgradeContext {
  let answered = false;
  return {
    kind: "upgrade",
    ...upstreamHeaderList(),
    req,
    socket,
    head,
    route,
    clientIp,
    log,
    get answered() {
      return answered;
    },
    takeOver() {
      answered = true;
    },
    reject(error) {
      if (answered) return;
      answered = true;
      logRejection(log, error);
      writeRawResponse(socket, error.status, error.message, error.headers, error.shed);
    },
  };
}

export function createRequestContext(
  req: IncomingMessage,
  res: ServerResponse,
  route: RouteInfo,
  clientIp: string,
  log: Logger,
): RequestContext {
  return {
    kind: "request",
    ...upstreamHeaderList(),
    req,
    res,
    route,
    clientIp,
    log,
    get answered() {
      // A response destroyed (the client left) can take no answer any more.
      return res.headersSent || res.writableEnded || res.destroyed;
    },
    reject(error) {
      if (res.headersSent) return;
      logRejection(log, error);
      const body = `${error.message}\n`;
      // What follows a refused request on this connection may be frames, not HTTP: close it after the answer.
      res.shouldKeepAlive = false;
      closingSockets.add(req.socket);
      res.writeHead(error.status, {
        ...error.headers,
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Length": Buffer.byteLength(body),
        Connection: "close",
      });
      res.end(body);
    },
  };
}
