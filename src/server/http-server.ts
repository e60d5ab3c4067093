import { ignoreStreamError as ignoreSocketError } from "../util/net/ignore-error.js";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import net, { type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import type { ServerHttp2Stream } from "node:http2";
import type { Duplex } from "node:stream";
import type { HTTPServerSpec } from "./spec.js";
import {
  ClientShareExceededError,
  RequestTargetError,
  RouteBusyError,
  RouteNotFoundError,
  type GatewayError,
} from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { redactedPath } from "../observability/redact.js";
import type { Telemetry } from "../observability/telemetry.js";
import {
  createPlainRequestContext,
  createUpgradeContext,
  type RequestContext,
  type RouteInfo,
} from "../pipeline/context.js";
import type { Pipeline } from "../pipeline/pipeline.js";
import { clientAddressOf, type ClientAddress, type ClientDecision, type ClientTrust } from "../util/http/client-ip.js";
import { AddressSet, endpointText } from "../util/net/ip-address.js";
import { ClientShares, clientShareOf } from "./client-share.js";
import { IPFilter, ipBlocked, type IPFilterSpec } from "./ip-filter.js";
import { ListenerError } from "./listener-error.js";
import { ProxyProtocolFront } from "./proxy-protocol-listener.js";
import { UpgradeFront } from "./upgrade-front.js";
import { H2_ALPN, H2Listener } from "./h2/listener.js";
import { serveExtendedConnect } from "./h2/connect.js";
import { serveH2Request } from "./h2/requests.js";
import { opensWithH2Preface } from "./h2/preface.js";
import { Http2ConnectionLimits } from "./h2/limits.js";
import { writeRawResponse } from "../util/http/raw-response.js";
import { requestHeadProblem } from "./request-head-check.js";
import { parseRequestTarget, type PathPolicy } from "./request-target.js";
import { inTurn, responseReadingBody } from "./response-order.js";
import { Router, type RouteMatch } from "./router.js";
import { TlsTermination } from "./tls/termination.js";
import { upgradeFrontOnTls } from "./tls/upgrade-front-tls.js";
import { httpsFields } from "./tls/config.js";
import { routeIdentities, type RouteIdentity } from "./route-identity.js";
import { canonicalJson } from "../util/canonical-json.js";
import { Counts } from "../util/counts.js";

/** Node's parser errors, answered as HTTP says: 431 for oversized headers, 408 for slow ones, else 400. */
function clientErrorStatus(code: string | undefined): number {
  if (code === "HPE_HEADER_OVERFLOW") return 431;
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") return 408;
  return 400;
}

/** A listening socket handed over by a predecessor process (`wsgate upgrade`). */
export interface InheritedListener {
  readonly socket: NetServer;
  /** Called once `listener` accepts on `socket`: the connections accepted before are given to it. */
  adopted(listener: NetServer): void;
}

/**
 * A listening socket the cluster primary holds as file descriptor `fd` (`wsgate upgrade` with --workers): a worker
 * listens on `{ fd }` and node:cluster shares it, instead of binding `address`, which the socket already is.
 */
export interface SharedFdListener {
  readonly fd: number;
  readonly address: AddressInfo;
}

/**
 * An HTTPServer object: one listener, its router, and the dispatch of each request or upgrade to the pipeline its
 * route names. Everything a client sends is answered here or by the pipeline; nothing it sends can throw past here.
 */
export class GatewayHttpServer {
  readonly name: string;
  private readonly server: http.Server | https.Server;
  /** What routing reads; replaced as a whole when a reload changes only routing-level fields. */
  private routing: Routing;
  /** Handshakes waiting for their pipeline's answer, by route key. */
  private readonly pendingHandshakes = new Counts<string>();
  /** Set when the server speaks TLS (`https: true`). */
  private readonly tls: TlsTermination | undefined;
  /** Set with `proxyProtocol: true`: it listens, reads each connection's PROXY header, then hands it to `server`. */
  private readonly front: ProxyProtocolFront | undefined;
  /**
   * Reads each connection's first head, serving a simple upgrade itself and giving everything else to `server`
   * (upgrade-front.ts). Without TLS `accepting` is then the listener (when there is no PROXY protocol front); with
   * TLS it takes each HTTP/1.1 connection from the HTTPS server once the handshake is done.
   */
  private readonly upgrades: UpgradeFront;
  private readonly accepting: NetServer | undefined;
  /** A predecessor's listening socket, until `acceptInherited` accepts on it. */
  private inherited: InheritedListener | SharedFdListener | undefined;
  /** Places held per client address (`maxConnectionsPerIP`); kept across reloads, which only change the limit. */
  private readonly shares: ClientShares;
  /** HTTP/2 connections (`http2` with TLS, `h2c` without): their sessions and the dispatch of their streams. */
  private readonly h2: H2Listener | undefined;

  constructor(
    private spec: HTTPServerSpec,
    private readonly pipelines: ReadonlyMap<string, Pipeline>,
    private readonly log: Logger,
    /** The gateway's metrics, access logs and secret query parameters. */
    private readonly telemetry: Telemetry,
  ) {
    this.name = spec.name;
    this.routing = routingOf(spec);
    this.shares = new ClientShares(clientShareOf(spec));
    const httpOptions: http.ServerOptions = {
      headersTimeout: spec.clientHeaderTimeout,
      // Headers and body: a body trickled in cannot hold a place for longer.
      requestTimeout: requestTimeoutOf(spec),
      keepAliveTimeout: spec.keepAliveTimeout,
      // Node checks header deadlines on this period; the default (30 s) would let slow clients linger.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, spec.clientHeaderTimeout / 2)),
      noDelay: true,
    };
    // Certificates are read here, so that a missing or broken one stops the start with a clear message.
    this.tls = spec.https ? new TlsTermination(spec, log) : undefined;
    this.h2 = (this.tls === undefined ? spec.h2c : spec.http2) ? this.h2Listener(spec) : undefined;
    let tlsUpgrades: UpgradeFront | undefined;
    if (this.tls === undefined) {
      this.server = http.createServer(httpOptions);
    } else {
      const tlsOptions = this.tls.serverOptions();
      if (this.h2 !== undefined) tlsOptions.ALPNProtocols = H2_ALPN;
      const server = https.createServer({ ...httpOptions, ...tlsOptions });
      this.server = server;
      // With TLS the front reads each HTTP/1.1 connection's first head once its handshake is done.
      tlsUpgrades = upgradeFrontOnTls(server, this.upgradeFrontOptions(httpOptions));
      // Before the TLS checks: it takes the place of the HTTP/1.1 listener (now the upgrade front's).
      this.h2?.attachTo(server);
      this.tls.attach(server);
    }
    this.upgrades = tlsUpgrades ?? this.upgradeFront(httpOptions);
    this.front = spec.proxyProtocol ? this.proxyProtocolFront(spec) : undefined;
    this.accepting =
      this.tls === undefined && this.front === undefined
        ? net.createServer({ noDelay: true, allowHalfOpen: true }, this.upgrades.accept)
        : undefined;
    this.listener.maxConnections = spec.maxConnections;
    // Node would drop headers past its count silently; `clientMaxHeaders` refuses them instead (431).
    this.server.maxHeadersCount = 0;
    warnOnUntrustedForwardedFor(spec, log);
    this.server.on("request", this.onRequest);
    this.server.on("upgrade", this.onUpgrade);
    this.server.on("clientError", this.onClientError);
    // Requests that arrive from now on write to this server's access log (as configured here, or none).
    telemetry.accessLogs.configure(spec.name, spec.accessLog);
  }

  /** The server that listens: the PROXY protocol front when there is one, else the upgrade front's. */
  private get listener(): NetServer {
    return this.front?.server ?? this.accepting ?? this.server;
  }

  private h2Listener(spec: HTTPServerSpec): H2Listener {
    return new H2Listener({
      webSockets: spec.http2WebSockets,
      limits: new Http2ConnectionLimits(spec.http2Limits, spec.clientMaxHeaders, (session, flood) =>
        this.log.warn(
          { event: "h2_flood", flood, client: session.socket?.remoteAddress },
          "HTTP/2 connection closed: flood",
        ),
      ),
      dispatch: {
        request: (req, res) => serveH2Request(req, res, this.serveH2Request),
        connect: (stream, headers, rawHeaders, socket) =>
          serveExtendedConnect(stream, headers, rawHeaders, socket, this.serveStreamUpgrade),
      },
    });
  }

  /** Plain requests over HTTP/2 take the request path as HTTP/1.1 ones do (no pipelining to keep in turn). */
  private readonly serveH2Request = (req: IncomingMessage, res: ServerResponse): void => this.serveRequest(req, res);

  /** An extended CONNECT read as an upgrade request (h2/connect.ts): the upgrade path, answered on its stream. */
  private readonly serveStreamUpgrade = (req: IncomingMessage, connection: Socket, stream: ServerHttp2Stream): void =>
    this.serveUpgrade(req, connection, EMPTY_HEAD, stream);

  /** `h2c`: a plaintext connection whose first bytes are the HTTP/2 preface is served as HTTP/2 from there on. */
  private readonly takeH2Preface = (socket: Socket, chunk: Buffer): boolean => {
    if (this.h2 === undefined || !opensWithH2Preface(chunk)) return false;
    // Paused with the bytes put back: the HTTP/2 session reads what the socket holds itself when it starts.
    socket.pause();
    socket.unshift(chunk);
    this.h2.accept(socket);
    return true;
  };

  private upgradeFront(httpOptions: http.ServerOptions): UpgradeFront {
    return new UpgradeFront({
      server: this.server,
      ...this.upgradeFrontOptions(httpOptions),
      // h2c: the preface sniffed on a plaintext connection (over TLS, ALPN chose before the front sees a byte).
      h2: this.h2 === undefined ? undefined : this.takeH2Preface,
    });
  }

  private upgradeFrontOptions(httpOptions: http.ServerOptions) {
    return {
      upgrade: this.onFirstUpgrade,
      timedOut: (error: NodeJS.ErrnoException, socket: Socket) => this.onClientError(error, socket),
      headerTimeout: () => this.spec.clientHeaderTimeout,
      checkEvery: httpOptions.connectionsCheckingInterval ?? 1000,
    };
  }

  private proxyProtocolFront(spec: HTTPServerSpec): ProxyProtocolFront {
    return new ProxyProtocolFront({
      trusted: () => this.routing.trust.proxies,
      headerTimeout: spec.clientHeaderTimeout,
      accepted: (socket) => {
        // With TLS the upgrade front comes after the handshake (the HTTPS server's 'secureConnection').
        if (this.tls === undefined) {
          this.upgrades.accept(socket);
          return;
        }
        this.server.emit("connection", socket);
        // Node's HTTP server reads the socket's handle directly: the bytes put back after the header must flow to
        // it first. A TLS server reads them itself, when it starts.
        if (this.tls === undefined) socket.resume();
      },
      refused: (socket, reason) =>
        this.log.debug(
          { server: this.name, client: endpointText(socket.remoteAddress, socket.remotePort), reason },
          "PROXY protocol connection refused",
        ),
    });
  }

  /** The listening socket, for handing it to a successor process (`wsgate upgrade`). */
  get listeningSocket(): NetServer {
    return this.listener;
  }

  /**
   * Binds; or with `inherited` (a predecessor's listening socket, `wsgate upgrade`) only takes note of it: accepting
   * on it starts with `acceptInherited`, once the pipelines it routes to are in place.
   */
  listen(inherited?: InheritedListener | SharedFdListener): Promise<AddressInfo> {
    if (inherited !== undefined) {
      this.inherited = inherited;
      return Promise.resolve("fd" in inherited ? inherited.address : (inherited.socket.address() as AddressInfo));
    }
    const listener = this.listener;
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        const where = `${this.spec.address ?? "*"}:${this.spec.port}`;
        reject(new ListenerError(this.name, where, error.code ?? error.message));
      };
      listener.once("error", onError);
      listener.listen({ port: this.spec.port, host: this.spec.address, backlog: this.spec.backlog }, () => {
        listener.off("error", onError);
        this.listening();
        resolve(listener.address() as AddressInfo);
      });
    });
  }

  /** Accepts on the predecessor's socket given to `listen`, with what it accepted meanwhile; nothing without one. */
  acceptInherited(): void {
    const inherited = this.inherited;
    if (inherited === undefined) return;
    this.inherited = undefined;
    const listener = this.listener;
    if ("fd" in inherited) {
      listener.once("error", (error: Error) =>
        this.log.error(
          { server: this.name, fd: inherited.fd, err: error.message },
          "cannot listen on the shared socket",
        ),
      );
      listener.listen({ fd: inherited.fd, backlog: this.spec.backlog }, () => this.listening());
      return;
    }
    listener.listen(inherited.socket, () => {
      this.listening();
      inherited.adopted(listener);
    });
  }

  /**
   * Node's HTTP server tracks its connections (header deadlines, closing idle ones) from its 'listening' event on:
   * behind a front it never listens itself, so it is told.
   */
  private listening(): void {
    if (this.listener !== this.server) this.server.emit("listening");
  }

  /**
   * Takes a new spec of this server whose listener fields are unchanged (see `listenerOf`): routing, IP filters and
   * limits change for the requests that come next; requests and sessions under way keep what they started with.
   */
  update(spec: HTTPServerSpec): void {
    if (listenerOf(spec) !== listenerOf(this.spec)) {
      throw new Error(`HTTPServer ${this.name}: listener fields changed; a new listener must replace this one`);
    }
    this.routing = routingOf(spec);
    if (!untrustedForwardedFor(this.spec)) warnOnUntrustedForwardedFor(spec, this.log);
    this.spec = spec;
    // Node reads these on each new connection or check; the header-check period stays as created.
    this.server.headersTimeout = spec.clientHeaderTimeout;
    this.server.keepAliveTimeout = spec.keepAliveTimeout;
    this.server.requestTimeout = requestTimeoutOf(spec);
    this.listener.maxConnections = spec.maxConnections;
    this.shares.limit = clientShareOf(spec);
    this.h2?.limits.update(this.h2.server, spec.http2Limits);
  }

  /** Stops accepting connections and drops idle kept-alive ones; upgraded sessions are not the server's. */
  close(): Promise<void> {
    this.tls?.close();
    // GOAWAY: HTTP/2 clients open no new stream here; WebSockets under way drain as upgraded connections do.
    this.h2?.goAway();
    this.upgrades.destroyWaiting();
    const front = this.front ?? this.accepting;
    if (front === undefined) {
      return new Promise((resolve) => {
        this.server.close(() => resolve());
        this.server.closeIdleConnections();
      });
    }
    return new Promise((resolve) => {
      if (front instanceof ProxyProtocolFront) {
        front.server.close(() => resolve());
        front.destroyPending();
      } else {
        front.close(() => resolve());
      }
      // Never listening itself: close() only ends its idle connections (and reports that it was not running).
      this.server.close(() => undefined);
    });
  }

  /**
   * Stops taking connections and nothing more, for an upgrade that handed the listening socket to the next process:
   * a connection accepted here whose first request is still on its way (the upgrade front's, a PROXY header's) is
   * served here to its end, not cut; kept-alive connections with no request under way close, as at any stop.
   * `close()` follows when the drain ends.
   */
  stopAccepting(): Promise<void> {
    this.h2?.goAway();
    const listener = this.listener;
    return new Promise((resolve) => {
      // net.Server's close: http.Server's would also end connections whose request has not begun.
      net.Server.prototype.close.call(listener, () => resolve());
      this.server.closeIdleConnections();
    });
  }

  /** Ends what is still open once the drain time is over. */
  closeAllConnections(): void {
    this.front?.destroyPending();
    this.upgrades.destroyWaiting();
    this.h2?.destroyAll();
    this.server.closeAllConnections();
  }

  /**
   * Normalises the request-target once (request-target.ts) and routes on it; `req.url` becomes the normalised
   * origin-form target, so every filter after this reads the path the router matched. A refused target: its error.
   */
  private route(req: IncomingMessage): Routed | GatewayError {
    const method = req.method ?? "GET";
    const host = req.headers.host;
    const target = parseRequestTarget(req.url ?? "", method, host, this.routing.paths);
    if (target instanceof RequestTargetError) return target;
    if (target.form !== "asterisk") req.url = target.path + target.search;
    const match = this.routing.router.match({ method, host, target, headers: req.headers });
    if (match instanceof RequestTargetError) return match;
    const pipeline = match === undefined ? undefined : this.pipelines.get(match.pipeline);
    return match === undefined || pipeline === undefined ? new RouteNotFoundError() : { match, pipeline };
  }

  private routeInfo(match: RouteMatch, socket: Socket, client: ClientAddress): RouteInfo {
    const identity = this.routing.routes[match.ruleIndex]?.[match.pathIndex];
    const route: RouteInfo = {
      server: this.name,
      pipeline: match.pipeline,
      target: match.target,
      match,
      routeKey: identity?.key ?? "",
      routeLabel: identity?.label ?? "",
      secure: false,
      maxBodySize: match.clientMaxBodySize ?? this.spec.clientMaxBodySize,
      peer: client.peer,
      exposeErrors: this.spec.exposeErrors,
    };
    if (this.tls === undefined) return route;
    route.secure = true;
    const clientCertHeaders = this.tls.headersFor(socket);
    if (clientCertHeaders !== undefined) route.clientCertHeaders = clientCertHeaders;
    return route;
  }

  /**
   * The client's address, decided once for everything after (filters, balancing, limits, logs, upstream headers); a
   * trusted proxy's invalid X-Forwarded-For is refused, with the peer's address standing in for the logs.
   */
  private clientOf(req: IncomingMessage): ClientDecision {
    return clientAddressOf(req, this.routing.trust);
  }

  /** Whether the server's, the rule's and the path's `ipFilter` all let `clientIp` in. */
  private ipAllowed(clientIp: string, match: RouteMatch | undefined): boolean {
    const { ipFilters } = this.routing;
    const filters = [ipFilters.server];
    if (match !== undefined) {
      filters.push(ipFilters.rules[match.ruleIndex], ipFilters.paths[match.ruleIndex]?.[match.pathIndex]);
    }
    return filters.every((filter) => filter === undefined || filter.allows(clientIp));
  }

  /** Takes a place of the client's share (given back when `holder` closes), or says why there is none. */
  private shareRefusal(
    clientIp: string,
    holder: ServerResponse | Socket | ServerHttp2Stream,
  ): GatewayError | undefined {
    return this.shares.take(clientIp, holder) ? undefined : new ClientShareExceededError(this.shares.limit);
  }

  /** What answers a request before its pipeline: a bad head or client address, an ipFilter, or a refused target. */
  private refusalOf(
    clientIp: string,
    routed: Routed | GatewayError,
    clientRefusal: GatewayError | undefined,
  ): GatewayError | undefined {
    if (clientRefusal !== undefined) return clientRefusal;
    if (!this.ipAllowed(clientIp, routed instanceof Error ? undefined : routed.match)) return ipBlocked(clientIp);
    return routed instanceof Error ? routed : undefined;
  }

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    // Pipelined behind another request, it is served once that one is answered; never when that one closed the line.
    inTurn(req.socket, res, () => this.serveRequest(req, res), dropPipelined);
  };

  private serveRequest(req: IncomingMessage, res: ServerResponse): void {
    if (!this.spec.keepAlive) res.shouldKeepAlive = false;
    const { client, refusal } = this.clientOf(req);
    const clientIp = client.ip;
    // Made when something logs, as for upgrades.
    const log = (): Logger =>
      this.log.child({
        server: this.name,
        method: req.method,
        path: redactedPath(req.url ?? "", this.telemetry.secrets),
        clientIp,
      });
    const early = requestHeadProblem(req, this.spec.clientMaxHeaders) ?? refusal ?? this.shareRefusal(clientIp, res);
    const routed = early ?? this.route(req);
    const refused = this.refusalOf(clientIp, routed, early);
    if (refused !== undefined || routed instanceof Error) {
      if (refused instanceof ClientShareExceededError) res.shouldKeepAlive = false;
      const context = createPlainRequestContext(
        req,
        res,
        this.routeInfo(NO_MATCH, req.socket, client),
        clientIp,
        log,
        this.telemetry,
      );
      context.reject(refused ?? new RouteNotFoundError());
      return;
    }
    const route = this.routeInfo(routed.match, req.socket, client);
    this.run(routed.pipeline, createPlainRequestContext(req, res, route, clientIp, log, this.telemetry));
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // From here on the socket is ours: an error listener must exist before anything can go wrong.
    socket.on("error", ignoreSocketError);
    // Pipelined behind plain requests, it is answered after their responses, never before or between them; behind one
    // answered with Connection: close (RFC 9112 §9.6) it is not served.
    inTurn(
      socket,
      undefined,
      () => this.serveUpgrade(req, socket, head),
      () => socket.destroy(),
    );
  };

  /** The upgrade front's: a connection's first request, so nothing is answered before it (no turn to wait for). */
  private readonly onFirstUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    if (socket.destroyed || !socket.writable) socket.destroy();
    else this.serveUpgrade(req, socket, head);
  };

  /** `h2`: the upgrade is an extended CONNECT on this stream of the HTTP/2 connection `socket`. */
  private serveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, h2?: ServerHttp2Stream): void {
    const { client, refusal } = this.clientOf(req);
    const clientIp = client.ip;
    // Made when something logs: most handshakes log nothing of their own.
    const log = (): Logger =>
      this.log.child({ server: this.name, path: redactedPath(req.url ?? "", this.telemetry.secrets), clientIp });
    const tcp = socket as Socket;
    const early =
      requestHeadProblem(req, this.spec.clientMaxHeaders) ?? refusal ?? this.shareRefusal(clientIp, h2 ?? tcp);
    const routed = early ?? this.route(req);
    const refused = this.refusalOf(clientIp, routed, early);
    if (refused !== undefined || routed instanceof Error) {
      const route = this.routeInfo(NO_MATCH, tcp, client);
      createUpgradeContext(req, tcp, head, route, clientIp, log, this.telemetry, h2).reject(
        refused ?? new RouteNotFoundError(),
      );
      return;
    }
    const context = createUpgradeContext(
      req,
      tcp,
      head,
      this.routeInfo(routed.match, tcp, client),
      clientIp,
      log,
      this.telemetry,
      h2,
    );
    // By identity rather than index, so that a reload moving rules around keeps the counts right.
    const route = context.route.routeKey;
    const pending = this.pendingHandshakes.of(route);
    const { maxPendingPerRoute } = this.routing;
    if (pending >= maxPendingPerRoute) {
      context.reject(new RouteBusyError(maxPendingPerRoute));
      return;
    }
    this.pendingHandshakes.add(route);
    void this.run(routed.pipeline, context).finally(() => {
      this.pendingHandshakes.remove(route);
    });
  }

  private run(pipeline: Pipeline, context: RequestContext): Promise<void> {
    return pipeline.handle(context).catch((error: unknown) => {
      context.log.error({ err: error }, "pipeline failed");
      if (context.kind === "upgrade") (context.h2 ?? context.socket).destroy();
      else context.res.destroy();
    });
  }

  private readonly onClientError = (error: NodeJS.ErrnoException, socket: Duplex): void => {
    socket.on("error", ignoreSocketError);
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = clientErrorStatus(error.code);
    this.log.debug({ server: this.name, status, code: error.code }, "malformed request");
    const answer = (): void =>
      writeRawResponse(socket, status, status === 408 ? "request took too long" : "malformed request");
    const inBody = responseReadingBody(socket);
    if (inBody !== undefined) {
      // The broken bytes are the body of the request being served: answer it now, or cut it if its answer has begun.
      if (inBody.headersSent) socket.destroy();
      else answer();
      return;
    }
    // A broken request pipelined behind others is answered after them, in order; nothing more is read meanwhile.
    socket.pause();
    inTurn(socket, undefined, answer, () => socket.destroy());
  };
}

/** A request's route and the pipeline it names. */
interface Routed {
  match: RouteMatch;
  pipeline: Pipeline;
}

/** `clientRequestTimeout`, never below the header timeout (Node refuses a request deadline before the headers'). */
function requestTimeoutOf(spec: HTTPServerSpec): number {
  return spec.clientRequestTimeout === 0 ? 0 : Math.max(spec.clientRequestTimeout, spec.clientHeaderTimeout);
}

/** What routing reads of a spec, built at once so that a reload swaps it in one step. */
interface Routing {
  router: Router;
  /** What request paths may hold beyond plain RFC 3986 (`allowBackslash`, ...). */
  paths: PathPolicy;
  /** The identity of each route, by rule and path index. */
  routes: RouteIdentity[][];
  maxPendingPerRoute: number;
  /** `trustedProxies` and `xForwardedFor`: whose word on the client address is taken. */
  trust: ClientTrust;
  /** `ipFilter` of the server, of each rule and of each path (by rule and path index), where set. */
  ipFilters: {
    server: IPFilter | undefined;
    rules: Array<IPFilter | undefined>;
    paths: Array<Array<IPFilter | undefined>>;
  };
}

function routingOf(spec: HTTPServerSpec): Routing {
  const ipFilterOf = (filter: IPFilterSpec | undefined): IPFilter | undefined =>
    filter === undefined ? undefined : new IPFilter(filter);
  return {
    router: new Router(spec.rules),
    paths: {
      allowBackslash: spec.allowBackslash,
      allowPathParameters: spec.allowPathParameters,
      allowEncodedSlash: spec.allowEncodedSlash,
    },
    routes: routeIdentities(spec.name, spec.rules),
    maxPendingPerRoute: spec.maxPendingHandshakesPerRoute ?? Math.max(1, Math.floor(spec.maxConnections / 2)),
    trust: { proxies: new AddressSet(spec.trustedProxies), readForwardedFor: spec.xForwardedFor },
    ipFilters: {
      server: ipFilterOf(spec.ipFilter),
      rules: spec.rules.map((rule) => ipFilterOf(rule.ipFilter)),
      paths: spec.rules.map((rule) => rule.paths.map((path) => ipFilterOf(path.ipFilter))),
    },
  };
}

/**
 * The fields that the listening socket is made of (address, port, TLS); two specs with the same text here can share a
 * listener, others need a new one.
 */
export function listenerOf(spec: HTTPServerSpec): string {
  const fields: Record<string, unknown> = {
    port: spec.port,
    address: spec.address,
    https: spec.https,
    proxyProtocol: spec.proxyProtocol,
    backlog: spec.backlog,
    http2: spec.http2,
    h2c: spec.h2c,
    http2WebSockets: spec.http2WebSockets,
  };
  for (const field of Object.keys(httpsFields)) fields[field] = spec[field as keyof HTTPServerSpec];
  return canonicalJson(fields);
}

const EMPTY_HEAD = Buffer.alloc(0);

const NO_MATCH: RouteMatch = { pipeline: "", target: "", ruleIndex: -1, pathIndex: -1, clientMaxBodySize: undefined };

/** A request pipelined behind the connection's last answer: Node closes the connection; nothing is sent for it. */
function dropPipelined(): void {}

/** `xForwardedFor: true` (as Easegress configs have it) believes no peer until `trustedProxies` names some. */
function untrustedForwardedFor(spec: HTTPServerSpec): boolean {
  return spec.xForwardedFor && spec.trustedProxies.length === 0;
}

function warnOnUntrustedForwardedFor(spec: HTTPServerSpec, log: Logger): void {
  if (!untrustedForwardedFor(spec)) return;
  log.warn(
    { server: spec.name, event: "xff_untrusted" },
    "xForwardedFor: true without trustedProxies trusts no peer: X-Forwarded-For is ignored and removed",
  );
}
