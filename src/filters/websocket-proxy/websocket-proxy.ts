import { endpointText } from "../../server/ip-address.js";
import type { Socket } from "node:net";
import {
  BadHandshakeError,
  GatewayError,
  NoUpstreamError,
  UpgradeRequiredError,
  UpstreamHandshakeError,
} from "../../errors.js";
import type { Logger } from "../../observability/logger.js";
import { redactedPath } from "../../observability/redact.js";
import type { LiveSession, SessionRegistry } from "../../observability/sessions.js";
import {
  sessionEnded,
  upgradeAccepted,
  upgradeRefusedByBackend,
  upstreamFailed,
} from "../../observability/traffic-events.js";
import type { HandshakeContext, UpgradeContext } from "../../pipeline/context.js";
import type { Filter, FilterDeps } from "../../pipeline/filter.js";
import type { BalanceContext } from "../../upstream/balance-types.js";
import type { ServerPool } from "../../upstream/pool.js";
import { describeServer, type UpstreamServer } from "../../upstream/server.js";
import { withClientCertHeaders } from "../../server/tls/client-cert.js";
import { openBackendHandshake, type BackendHandshakeResult } from "../../websocket/backend-handshake.js";
import {
  checkBackendUpgrade,
  checkClientUpgrade,
  newHandshakeKey,
  switchingProtocolsHead,
} from "../../websocket/handshake.js";
import type { ClientUpgrade } from "../../websocket/handshake.js";
import { watchPendingClient } from "../../websocket/pending-client.js";
import { RateGate } from "../../websocket/rate-gate.js";
import { WebSocketRelay, type RelayOutcome } from "../../websocket/relay.js";
import { tuneSocketForRelay } from "../../websocket/relay-socket.js";
import { FilterPools } from "../pools.js";
import { relayBackendAnswer } from "./backend-answer.js";
import { ConnectionLimits, originRefusal, type ConnectionLease } from "./handshake-limits.js";
import { compileOriginPatterns, type OriginPattern } from "./origin-pattern.js";
import { failureReason } from "./passive-report.js";
import { isCompressingExtension, withoutCompressionOffers } from "./deflate-offer.js";
import type { WebSocketProxyPool, WebSocketProxySpec } from "./spec.js";
import { upstreamRequestHeaders } from "./upstream-headers.js";
import { clientProxyHeader } from "../../server/client-ip.js";

interface Connected {
  pool: ServerPool<WebSocketProxyPool>;
  balanceContext: BalanceContext;
  server: UpstreamServer;
  key: string;
  result: BackendHandshakeResult;
}

/**
 * The WebSocketProxy filter: checks the client's upgrade, completes the backend's handshake first (so that
 * failures are still HTTP answers), then answers 101 and hands both sockets to the streaming relay.
 */
export class WebSocketProxy implements Filter {
  readonly kind = "WebSocketProxy";
  /** A Proxy in the same pipeline takes the plain requests; without one they get 426 here. */
  readonly traffic = "upgrade";
  readonly name: string;
  /** The main pool and the candidate pools, with their backends' TLS settings. */
  private readonly pools: FilterPools<WebSocketProxyPool>;
  private readonly sessions: SessionRegistry;
  private readonly log: Logger;
  /** `maxConnections` / `maxConnectionsPerIP`, counted over this filter's live sessions. */
  private readonly limits: ConnectionLimits;
  /** The Pipeline object this filter belongs to, recorded in each session for reloads. */
  private readonly pipelineInstance: number;
  /** `permessageDeflate: strip`. */
  private readonly stripCompression: boolean;
  /** `originPatterns`, compiled once. */
  private readonly originPatterns: OriginPattern[];

  constructor(
    private readonly spec: WebSocketProxySpec,
    deps: FilterDeps,
  ) {
    this.name = spec.name;
    this.limits = new ConnectionLimits(spec.maxConnections, spec.maxConnectionsPerIP);
    this.originPatterns = compileOriginPatterns(spec.originPatterns);
    this.stripCompression = spec.permessageDeflate === "strip";
    this.sessions = deps.sessions;
    this.log = deps.log;
    this.pipelineInstance = deps.pipelineInstance ?? 0;
    this.pools = new FilterPools(
      spec.pools,
      {
        kind: this.kind,
        filter: spec.name,
        pipeline: deps.pipeline,
        log: deps.log,
        upstreamStatus: deps.upstreamStatus,
      },
      (base) => base,
    );
  }

  async handle(context: HandshakeContext): Promise<string> {
    if (context.kind === "request") {
      // Upgrade without "Connection: upgrade" arrives as a plain request: malformed, not merely plain HTTP.
      context.reject(
        context.req.headers.upgrade !== undefined
          ? new BadHandshakeError("the Connection header must include 'Upgrade'")
          : new UpgradeRequiredError(),
      );
      return "clientError";
    }
    const checked = checkClientUpgrade(context.req);
    if (checked instanceof GatewayError) {
      context.reject(checked);
      return "clientError";
    }
    // Stripped offers count as never made: a backend that negotiates compression anyway fails its handshake.
    const upgrade = this.stripCompression
      ? { ...checked, extensionNames: checked.extensionNames.filter((name) => !isCompressingExtension(name)) }
      : checked;
    const refusal = originRefusal(context.req, this.originPatterns);
    if (refusal !== undefined) {
      context.reject(refusal);
      return "clientError";
    }
    // Counted from here, so that concurrent handshakes cannot overshoot; released unless a session starts.
    const lease = this.limits.acquire(context.clientIp);
    if (lease instanceof GatewayError) {
      context.reject(lease);
      return "clientError";
    }
    try {
      let connected: Connected;
      try {
        connected = await this.connect(context);
      } catch (error) {
        if (!(error instanceof GatewayError)) throw error;
        context.reject(error);
        return "serverError";
      }
      return this.answer(context, upgrade, connected, lease);
    } finally {
      if (!lease.kept) lease.release();
    }
  }

  /**
   * Picks servers of the chosen pool until one answers the upgrade; a failed connect moves on to the next server.
   * Every outcome is reported to the pool (passive health). No healthy server at all: 503 with Retry-After.
   */
  private async connect(context: UpgradeContext): Promise<Connected> {
    const { pool, tls } = this.pools.choose(context);
    // Until the first round of health checks is done, no server is known to be healthy.
    if (!pool.isReady) await pool.ready;
    const tried = new Set<UpstreamServer>();
    const balanceContext: BalanceContext = { clientIp: context.clientIp, headers: context.req.headers };
    let lastError: GatewayError | undefined;
    for (;;) {
      const server = pool.pick(balanceContext, tried);
      if (server === undefined) {
        throw lastError ?? new NoUpstreamError(pool.retryAfterSeconds(), `no healthy backend in pool ${pool.label}`);
      }
      tried.add(server);
      const key = newHandshakeKey();
      const headers = withClientCertHeaders(
        upstreamRequestHeaders({
          req: context.req,
          server,
          clientIp: context.clientIp,
          peer: context.route.peer,
          secure: context.route.secure,
          key,
          defaultOrigin: this.spec.defaultOrigin,
          extra: context.upstreamHeaders,
          owned: context.ownedHeaders,
        }),
        context.route.clientCertHeaders,
      );
      const handshake = openBackendHandshake({
        url: server.url,
        label: describeServer(server),
        target: context.route.target,
        headers: this.stripCompression ? withoutCompressionOffers(headers) : headers,
        dialTimeout: this.spec.dialTimeout,
        handshakeTimeout: this.spec.handshakeTimeout,
        tls: tls.optionsFor(server.url),
        proxyHeader:
          pool.spec.sendProxyProtocol === "v2" ? clientProxyHeader(context.socket, context.clientIp) : undefined,
      });
      // A client that leaves while we dial must not leave a backend connection behind.
      let clientLeft = false;
      const abort = (): void => {
        clientLeft = true;
        handshake.abort();
      };
      // The client's socket is read meanwhile: without reading, its FIN or reset would go unseen.
      const stopWatching = watchPendingClient(context.socket, abort);
      try {
        const result = await handshake.result;
        return { pool, balanceContext, server, key, result };
      } catch (error) {
        if (!(error instanceof GatewayError)) throw error;
        // The backend's failure, not the client's leaving, counts against it.
        if (!clientLeft) pool.reportFailure(server, failureReason(error));
        if (!clientLeft) upstreamFailed(context, pool.label, describeServer(server), error);
        if (!error.retryable) throw error;
        context.log.warn({ backend: describeServer(server), reason: error.message }, "backend connect failed");
        lastError = error;
      } finally {
        stopWatching();
      }
    }
  }

  private answer(
    context: UpgradeContext,
    upgrade: ClientUpgrade,
    connected: Connected,
    lease: ConnectionLease,
  ): string {
    const { pool, server, key, result } = connected;
    const client = context.socket;
    if (result.kind === "answered") {
      // A 4xx is the backend judging the request, which says it is alive; a 5xx counts against it.
      const status = result.response.statusCode ?? 0;
      if (status >= 500) pool.reportFailure(server, `status ${status}`);
      else pool.reportSuccess(server);
      context.takeOver();
      context.log.info(
        { event: "request_rejected", status: result.response.statusCode, backend: describeServer(server) },
        "backend refused the upgrade",
      );
      relayBackendAnswer(result.response, client);
      context.notes.backend = describeServer(server);
      upgradeRefusedByBackend(context, status);
      return "";
    }
    const backend = result.socket;
    context.notes.backend = describeServer(server);
    const negotiated = checkBackendUpgrade(result.response, key, upgrade);
    if (typeof negotiated === "string") {
      backend.destroy();
      pool.reportFailure(server, `bad 101: ${negotiated}`);
      context.reject(new UpstreamHandshakeError(describeServer(server), negotiated));
      return "serverError";
    }
    pool.reportSuccess(server);
    if (client.destroyed || !client.writable) {
      backend.destroy();
      client.destroy();
      return "";
    }
    context.takeOver();
    // Sticky sessions: the gateway's own cookie, so that the client comes back to this server.
    const cookie = pool.stickyCookie(server, connected.balanceContext);
    const extra: Array<[string, string]> = cookie === undefined ? [] : [["Set-Cookie", cookie]];
    // Header values are bytes (latin1 strings here): written back as they came, never re-encoded as UTF-8.
    client.write(switchingProtocolsHead(upgrade.key, result.response.rawHeaders, extra), "latin1");
    this.startSession(context, pool, server, backend, result.head, negotiated, lease);
    return "";
  }

  private startSession(
    context: UpgradeContext,
    serverPool: ServerPool<WebSocketProxyPool>,
    server: UpstreamServer,
    backend: Socket,
    backendHead: Buffer,
    negotiated: { firstFrameRsv: number; anyRsv: boolean },
    lease: ConnectionLease,
  ): void {
    const pool = serverPool.spec;
    const sessions = this.sessions;
    const log = this.log;
    const startedAt = Date.now();
    const id = sessions.newId();
    const backendLabel = describeServer(server);
    const clientAddress = endpointText(context.socket.remoteAddress, context.socket.remotePort);
    // The closures below outlive the handshake: they keep these fields, not the context (request, head, logger).
    const serverName = context.route.server;
    const path = redactedPath(context.req.url ?? "", context.telemetry.secrets);
    const clientIp = context.clientIp;
    const session: LiveSession = {
      id,
      server: serverName,
      route: context.route.routeLabel,
      pipeline: context.route.pipeline,
      backend: backendLabel,
      client: clientAddress,
      clientIp,
      startedAt,
      origin: {
        pipelineInstance: this.pipelineInstance,
        routeKey: context.route.routeKey,
        filter: this.name,
        poolIndex: this.spec.pools.indexOf(pool),
        backendUrl: server.url.href,
        drainWindow: this.spec.drainWindow,
      },
      totals: () => relay.totals(),
      close: (code, reason) => relay.close(code, reason),
      terminate: () => relay.terminate(),
    };
    const relay = new WebSocketRelay(
      context.socket,
      backend,
      {
        clientMaxMessageSize: pool.clientMaxMsgSize,
        backendMaxMessageSize: pool.serverMaxMsgSize,
        pingInterval: this.spec.pingInterval,
        pongTimeout: this.spec.pongTimeout,
        maxInactivity: this.spec.maxInactivity,
        frameTimeout: this.spec.frameTimeout,
        closeTimeout: this.spec.closeTimeout,
        maxBufferedBytes: this.spec.maxBufferedBytes,
        firstFrameRsv: negotiated.firstFrameRsv,
        anyRsv: negotiated.anyRsv,
        ...this.rateGates(),
      },
      (outcome: RelayOutcome) => {
        lease.release();
        serverPool.sessionClosed(server, session);
        sessions.delete(session);
        sessionEnded(trace, session, outcome);
        // The line's fields are gathered only when it is written (not at the bench's and many deployments' warn).
        if (!log.isLevelEnabled("info")) return;
        log.info(
          {
            event: "websocket_session",
            session: id,
            server: serverName,
            path,
            backend: backendLabel,
            client: clientAddress,
            clientIp,
            durationMs: outcome.durationMs,
            clientMessages: outcome.fromClient.messages,
            clientBytes: outcome.fromClient.bytes,
            backendMessages: outcome.fromBackend.messages,
            backendBytes: outcome.fromBackend.bytes,
            closeCode: outcome.closeCode,
            closeReason: outcome.closeReason,
            closedBy: outcome.closedBy,
          },
          "websocket session ended",
        );
      },
    );
    lease.keep();
    sessions.add(session);
    serverPool.sessionOpened(server, session);
    const trace = upgradeAccepted(context, session);
    tuneSocketForRelay(context.socket);
    tuneSocketForRelay(backend);
    relay.start(context.head, backendHead);
  }

  /** Per-connection rate gates for a new session, where `clientMax*Rate` / `serverMax*Rate` are set. */
  private rateGates(): { clientRate?: RateGate; backendRate?: RateGate } {
    const action = this.spec.rateLimitAction;
    const client = { maxMsgRate: this.spec.clientMaxMsgRate, maxByteRate: this.spec.clientMaxByteRate, action };
    const backend = { maxMsgRate: this.spec.serverMaxMsgRate, maxByteRate: this.spec.serverMaxByteRate, action };
    return {
      ...(RateGate.wanted(client) ? { clientRate: new RateGate(client) } : {}),
      ...(RateGate.wanted(backend) ? { backendRate: new RateGate(backend) } : {}),
    };
  }

  /** Stops the pools' health checks and timers; live sessions keep running on the pool they started with. */
  close(): void {
    for (const { pool } of this.pools.all) pool.close();
  }
}
