import type { Socket } from "node:net";
import {
  BadHandshakeError,
  GatewayError,
  NoUpstreamError,
  UpgradeRequiredError,
  UpstreamHandshakeError,
} from "../../errors.js";
import type { Logger } from "../../observability/logger.js";
import type { LiveSession, SessionRegistry } from "../../observability/sessions.js";
import type { HandshakeContext, UpgradeContext } from "../../pipeline/context.js";
import type { Filter, FilterDeps } from "../../pipeline/filter.js";
import { createLoadBalancer, type LoadBalancer } from "../../upstream/balancer.js";
import { UpstreamServer, describeServer } from "../../upstream/server.js";
import { openBackendHandshake, type BackendHandshakeResult } from "../../websocket/backend-handshake.js";
import {
  checkBackendUpgrade,
  checkClientUpgrade,
  newHandshakeKey,
  switchingProtocolsHead,
} from "../../websocket/handshake.js";
import type { ClientUpgrade } from "../../websocket/handshake.js";
import { WebSocketRelay, type RelayOutcome } from "../../websocket/relay.js";
import { relayBackendAnswer } from "./backend-answer.js";
import type { WebSocketProxyPool, WebSocketProxySpec } from "./spec.js";
import { upstreamRequestHeaders } from "./upstream-headers.js";

/** A pool as built once per config load: its servers, their balancer and the limits its sessions get. */
class ServerPool {
  readonly servers: UpstreamServer[];
  readonly balancer: LoadBalancer;

  constructor(readonly spec: WebSocketProxyPool) {
    const tagged =
      spec.serverTags.length === 0
        ? spec.servers
        : spec.servers.filter((server) => server.tags.some((tag) => spec.serverTags.includes(tag)));
    this.servers = tagged.map((server) => new UpstreamServer(server));
    this.balancer = createLoadBalancer(spec.loadBalance, this.servers);
  }
}

interface Connected {
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
  readonly name: string;
  private readonly pool: ServerPool;
  private readonly sessions: SessionRegistry;
  private readonly log: Logger;

  constructor(
    private readonly spec: WebSocketProxySpec,
    deps: FilterDeps,
  ) {
    this.name = spec.name;
    this.pool = new ServerPool(spec.pools[0] as WebSocketProxyPool);
    this.sessions = deps.sessions;
    this.log = deps.log;
    if (this.pool.spec.healthCheck !== undefined) {
      this.log.warn({ filter: this.name }, "healthCheck is accepted but not run yet: every server counts as healthy");
    }
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
    const upgrade = checkClientUpgrade(context.req);
    if (upgrade instanceof GatewayError) {
      context.reject(upgrade);
      return "clientError";
    }
    let connected: Connected;
    try {
      connected = await this.connect(context);
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      context.reject(error);
      return "serverError";
    }
    return this.answer(context, upgrade, connected);
  }

  /** Picks servers until one answers the upgrade; a failed connect moves on to the next server. */
  private async connect(context: UpgradeContext): Promise<Connected> {
    const tried = new Set<UpstreamServer>();
    const balanceContext = { clientIp: context.clientIp, headers: context.req.headers };
    let lastError: GatewayError = new NoUpstreamError();
    for (;;) {
      const server = this.pool.balancer.pick(balanceContext, tried);
      if (server === undefined) throw lastError;
      tried.add(server);
      const key = newHandshakeKey();
      const handshake = openBackendHandshake({
        url: server.url,
        label: describeServer(server),
        target: context.route.target,
        headers: upstreamRequestHeaders({
          req: context.req,
          server,
          clientIp: context.clientIp,
          secure: context.route.secure,
          key,
          defaultOrigin: this.spec.defaultOrigin,
        }),
        dialTimeout: this.spec.dialTimeout,
        handshakeTimeout: this.spec.handshakeTimeout,
      });
      // A client that leaves while we dial must not leave a backend connection behind.
      const abort = (): void => handshake.abort();
      context.socket.once("close", abort);
      try {
        const result = await handshake.result;
        return { server, key, result };
      } catch (error) {
        if (!(error instanceof GatewayError) || !error.retryable) throw error;
        context.log.warn({ backend: describeServer(server), reason: error.message }, "backend connect failed");
        lastError = error;
      } finally {
        context.socket.off("close", abort);
      }
    }
  }

  private answer(context: UpgradeContext, upgrade: ClientUpgrade, connected: Connected): string {
    const { server, key, result } = connected;
    const client = context.socket;
    if (result.kind === "answered") {
      context.takeOver();
      context.log.info(
        { event: "request_rejected", status: result.response.statusCode, backend: describeServer(server) },
        "backend refused the upgrade",
      );
      relayBackendAnswer(result.response, client);
      return "";
    }
    const backend = result.socket;
    const negotiated = checkBackendUpgrade(result.response, key, upgrade);
    if (typeof negotiated === "string") {
      backend.destroy();
      context.reject(new UpstreamHandshakeError(describeServer(server), negotiated));
      return "serverError";
    }
    if (client.destroyed || !client.writable) {
      backend.destroy();
      client.destroy();
      return "";
    }
    context.takeOver();
    client.write(switchingProtocolsHead(upgrade.key, result.response.rawHeaders));
    this.startSession(context, server, backend, result.head, negotiated);
    return "";
  }

  private startSession(
    context: UpgradeContext,
    server: UpstreamServer,
    backend: Socket,
    backendHead: Buffer,
    negotiated: { firstFrameRsv: number; anyRsv: boolean },
  ): void {
    const pool = this.pool.spec;
    const sessions = this.sessions;
    const log = this.log;
    const startedAt = Date.now();
    const id = sessions.newId();
    const backendLabel = describeServer(server);
    const clientAddress = `${context.socket.remoteAddress ?? ""}:${context.socket.remotePort ?? ""}`;
    server.activeConnections++;
    const session: LiveSession = {
      id,
      server: context.route.server,
      pipeline: context.route.pipeline,
      backend: backendLabel,
      client: clientAddress,
      startedAt,
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
        closeTimeout: this.spec.closeTimeout,
        firstFrameRsv: negotiated.firstFrameRsv,
        anyRsv: negotiated.anyRsv,
      },
      (outcome: RelayOutcome) => {
        server.activeConnections--;
        sessions.delete(session);
        log.info(
          {
            event: "websocket_session",
            session: id,
            server: context.route.server,
            path: context.req.url,
            backend: backendLabel,
            client: clientAddress,
            clientIp: context.clientIp,
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
    sessions.add(session);
    relay.start(context.head, backendHead);
  }

  close(): void {
    // Live sessions keep running on the pool they started with; nothing here holds timers yet.
  }
}
