import http, { type IncomingMessage, type ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { HTTPServerSpec } from "../config/kinds/http-server.js";
import { ClientShareExceededError, RouteBusyError, RouteNotFoundError } from "../errors.js";
import { accessLogs } from "../observability/access-log.js";
import type { Logger } from "../observability/logger.js";
import {
  createRequestContext,
  isClosingConnection,
  createUpgradeContext,
  type HandshakeContext,
  type RouteInfo,
} from "../pipeline/context.js";
import type { Pipeline } from "../pipeline/pipeline.js";
import { clientIpOf } from "./client-ip.js";
import { ClientShares, clientShareOf } from "./client-share.js";
import { IPFilter, ipBlocked, type IPFilterSpec } from "./ip-filter.js";
import { ListenerError } from "./listener-error.js";
import { writeRawResponse } from "./raw-response.js";
import { Router, type RouteMatch } from "./router.js";
import { TlsTermination } from "./tls/termination.js";
import { httpsFields } from "./tls/config.js";
import { routeIdentities, type RouteIdentity } from "./route-identity.js";
import { stableJson } from "../reload/stable-json.js";

/** Node's parser errors, answered as HTTP says: 431 for oversized headers, 408 for slow ones, else 400. */
function clientErrorStatus(code: string | undefined): number {
  if (code === "HPE_HEADER_OVERFLOW") return 431;
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") return 408;
  return 400;
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
  private readonly pendingHandshakes = new Map<string, number>();
  /** Set when the server speaks TLS (`https: true`). */
  private readonly tls: TlsTermination | undefined;
  /** Places held per client address (`maxConnectionsPerIP`); kept across reloads, which only change the limit. */
  private readonly shares: ClientShares;

  constructor(
    private spec: HTTPServerSpec,
    private readonly pipelines: ReadonlyMap<string, Pipeline>,
    private readonly log: Logger,
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
    if (this.tls === undefined) {
      this.server = http.createServer(httpOptions);
    } else {
      const server = https.createServer({ ...httpOptions, ...this.tls.serverOptions() });
      this.tls.attach(server);
      this.server = server;
    }
    this.server.maxConnections = spec.maxConnections;
    this.server.on("request", this.onRequest);
    this.server.on("upgrade", this.onUpgrade);
    this.server.on("clientError", this.onClientError);
    // Requests that arrive from now on write to this server's access log (as configured here, or none).
    accessLogs.configure(spec.name, spec.accessLog);
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        const where = `${this.spec.address ?? "*"}:${this.spec.port}`;
        reject(new ListenerError(this.name, where, error.code ?? error.message));
      };
      this.server.once("error", onError);
      this.server.listen({ port: this.spec.port, host: this.spec.address }, () => {
        this.server.off("error", onError);
        resolve(this.server.address() as AddressInfo);
      });
    });
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
    this.spec = spec;
    // Node reads these on each new connection or check; the header-check period stays as created.
    this.server.headersTimeout = spec.clientHeaderTimeout;
    this.server.keepAliveTimeout = spec.keepAliveTimeout;
    this.server.requestTimeout = requestTimeoutOf(spec);
    this.server.maxConnections = spec.maxConnections;
    this.shares.limit = clientShareOf(spec);
  }

  /** Stops accepting connections and drops idle kept-alive ones; upgraded sessions are not the server's. */
  close(): Promise<void> {
    this.tls?.close();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  /** Ends what is still open once the drain time is over. */
  closeAllConnections(): void {
    this.server.closeAllConnections();
  }

  private route(req: IncomingMessage): { match: RouteMatch; pipeline: Pipeline } | undefined {
    const match = this.routing.router.match({
      method: req.method ?? "GET",
      host: req.headers.host,
      url: req.url ?? "",
      headers: req.headers,
    });
    if (match === undefined) return undefined;
    const pipeline = this.pipelines.get(match.backend);
    return pipeline === undefined ? undefined : { match, pipeline };
  }

  private routeInfo(match: RouteMatch, socket: Socket): RouteInfo {
    const identity = this.routing.routes[match.ruleIndex]?.[match.pathIndex];
    const route: RouteInfo = {
      server: this.name,
      pipeline: match.backend,
      target: match.target,
      match,
      routeKey: identity?.key ?? "",
      routeLabel: identity?.label ?? "",
      secure: false,
      maxBodySize: match.clientMaxBodySize ?? this.spec.clientMaxBodySize,
    };
    if (this.tls === undefined) return route;
    route.secure = true;
    const clientCertHeaders = this.tls.headersFor(socket);
    if (clientCertHeaders !== undefined) route.clientCertHeaders = clientCertHeaders;
    return route;
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

  private readonly onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (!this.spec.keepAlive) res.shouldKeepAlive = false;
    const clientIp = clientIpOf(req, this.spec.xForwardedFor);
    // Made when something logs, as for upgrades.
    const log = (): Logger => this.log.child({ server: this.name, method: req.method, path: req.url, clientIp });
    if (!this.shares.take(clientIp, res)) {
      res.shouldKeepAlive = false;
      const context = createRequestContext(req, res, this.routeInfo(NO_MATCH, req.socket), clientIp, log);
      context.reject(new ClientShareExceededError(this.shares.limit));
      return;
    }
    const routed = this.route(req);
    if (!this.ipAllowed(clientIp, routed?.match)) {
      const context = createRequestContext(req, res, this.routeInfo(NO_MATCH, req.socket), clientIp, log);
      context.reject(ipBlocked(clientIp));
      return;
    }
    if (routed === undefined) {
      const context = createRequestContext(req, res, this.routeInfo(NO_MATCH, req.socket), clientIp, log);
      context.reject(new RouteNotFoundError());
      return;
    }
    this.run(routed.pipeline, createRequestContext(req, res, this.routeInfo(routed.match, req.socket), clientIp, log));
  };

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // From here on the socket is ours: an error listener must exist before anything can go wrong.
    socket.on("error", ignoreSocketError);
    if (isClosingConnection(socket)) {
      // Pipelined behind a request answered with Connection: close (RFC 9112 §9.6): not served.
      socket.destroy();
      return;
    }
    const clientIp = clientIpOf(req, this.spec.xForwardedFor);
    // Made when something logs: most handshakes log nothing of their own.
    const log = (): Logger => this.log.child({ server: this.name, path: req.url, clientIp });
    const tcp = socket as Socket;
    if (!this.shares.take(clientIp, tcp)) {
      const context = createUpgradeContext(req, tcp, head, this.routeInfo(NO_MATCH, tcp), clientIp, log);
      context.reject(new ClientShareExceededError(this.shares.limit));
      return;
    }
    const routed = this.route(req);
    if (!this.ipAllowed(clientIp, routed?.match)) {
      createUpgradeContext(req, tcp, head, this.routeInfo(NO_MATCH, tcp), clientIp, log).reject(ipBlocked(clientIp));
      return;
    }
    if (routed === undefined) {
      createUpgradeContext(req, tcp, head, this.routeInfo(NO_MATCH, tcp), clientIp, log).reject(
        new RouteNotFoundError(),
      );
      return;
    }
    const context = createUpgradeContext(req, tcp, head, this.routeInfo(routed.match, tcp), clientIp, log);
    // By identity rather than index, so that a reload moving rules around keeps the counts right.
    const route = context.route.routeKey;
    const pending = this.pendingHandshakes.get(route) ?? 0;
    const { maxPendingPerRoute } = this.routing;
    if (pending >= maxPendingPerRoute) {
      context.reject(new RouteBusyError(maxPendingPerRoute));
      return;
    }
    this.pendingHandshakes.set(route, pending + 1);
    void this.run(routed.pipeline, context).finally(() => {
      const left = (this.pendingHandshakes.get(route) ?? 1) - 1;
      if (left > 0) this.pendingHandshakes.set(route, left);
      else this.pendingHandshakes.delete(route);
    });
  };

  private run(pipeline: Pipeline, context: HandshakeContext): Promise<void> {
    return pipeline.handle(context).catch((error: unknown) => {
      context.log.error({ err: error }, "pipeline failed");
      if (context.kind === "upgrade") context.socket.destroy();
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
    // A response already under way on this connection (a backend that answered before the body was in) cannot
    // be followed by another: the connection is cut.
    const answering = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (answering?.headersSent === true) {
      socket.destroy();
      return;
    }
    writeRawResponse(socket, status, status === 408 ? "request took too long" : "malformed request");
  };
}

/** `clientRequestTimeout`, never below the header timeout (Node refuses a request deadline before the headers'). */
function requestTimeoutOf(spec: HTTPServerSpec): number {
  return spec.clientRequestTimeout === 0 ? 0 : Math.max(spec.clientRequestTimeout, spec.clientHeaderTimeout);
}

/** What routing reads of a spec, built at once so that a reload swaps it in one step. */
interface Routing {
  router: Router;
  /** The identity of each route, by rule and path index. */
  routes: RouteIdentity[][];
  maxPendingPerRoute: number;
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
    routes: routeIdentities(spec.name, spec.rules),
    maxPendingPerRoute: spec.maxPendingHandshakesPerRoute ?? Math.max(1, Math.floor(spec.maxConnections / 2)),
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
  const fields: Record<string, unknown> = { port: spec.port, address: spec.address, https: spec.https };
  for (const field of Object.keys(httpsFields)) fields[field] = spec[field as keyof HTTPServerSpec];
  return stableJson(fields);
}

const NO_MATCH: RouteMatch = { backend: "", target: "", ruleIndex: -1, pathIndex: -1, clientMaxBodySize: undefined };

/** Socket errors after a request is answered (resets, broken pipes) are the peer's business, not a crash. */
function ignoreSocketError(): void {}
