import { GatewayError, UpstreamHandshakeError } from "../../errors.js";
import type { Logger } from "../../observability/logger.js";
import { redactedPath } from "../../observability/redact.js";
import type { LiveSession, SessionRegistry } from "../../observability/sessions.js";
import { upgradeAccepted, upgradeRefusedByBackend, type SessionTrace } from "../../observability/traffic-events.js";
import type { RequestContext, UpgradeContext } from "../../pipeline/context.js";
import type { Filter, FilterDeps, FilterResult } from "../../pipeline/filter.js";
import { proxyAttempts, type AttemptOutcome, type UpstreamPhases } from "../../proxy/attempts.js";
import {
  acceptOnStream,
  relayBackendAnswer,
  relayBackendAnswerOnStream,
  writeSwitchingProtocols,
} from "../../proxy/backend-answer.js";
import { startWebSocketSession } from "../../proxy/websocket-session.js";
import { clientProxyHeader } from "../../util/http/client-ip.js";
import type { BalanceContext } from "../../upstream/balance-types.js";
import { connectBackendUpgrade, type BackendUpgradeResult } from "../../upstream/connect/backend-upgrade.js";
import type { ServerPool } from "../../upstream/pool.js";
import { describeServer, type UpstreamServer } from "../../upstream/server.js";
import type { BackendTlsTable } from "../../upstream/tls-options.js";
import { acceptKeyFor, upgradeVerdict, type ClientUpgrade } from "../../websocket/handshake.js";
import { watchPendingClient } from "../../websocket/pending-client.js";
import { FilterPools } from "../pools.js";
import { isCompressingExtension } from "./deflate-offer.js";
import { ConnectionLimits, originRefusal, type ConnectionLease } from "./handshake-limits.js";
import { compileOriginPatterns, type OriginPattern } from "./origin-pattern.js";
import { filterFrameLimits, sessionRateGates, type RelayLimits } from "./relay-limits.js";
import type { WebSocketProxyPool, WebSocketProxySpec } from "./spec.js";
import type { UpstreamHeaderInput } from "./upstream-headers.js";
import { BackendUpgradeRequest } from "./backend-request.js";
import { lifetimeDeadline, sessionDeadline } from "./session-lifetime.js";
import { placeMovedSession } from "./resume.js";
import { SharedSessionParts } from "./session-parts.js";
import type { CredentialExpiry } from "../../proxy/credential-expiry.js";
import type { MovedSession, TakeVerdict } from "../../proxy/handover-receive.js";
import type { Telemetry } from "../../observability/telemetry.js";

/** One request's way through the phases: what the client offered, the pool chosen, the limit's lease. */
/** A backend's answer to one try, as the proxy core carries it. */
interface Attempted {
  result: BackendUpgradeResult;
}

interface Handshake {
  context: UpgradeContext;
  upgrade: ClientUpgrade;
  /** The accept for the client's key: the client's 101 carries it, and the backend's must (it gets the same key). */
  accept: string;
  pool: ServerPool<WebSocketProxyPool>;
  tls: BackendTlsTable;
  balance: BalanceContext;
  lease: ConnectionLease;
}

/**
 * The WebSocketProxy filter: checks the client's upgrade, completes the backend's handshake first (so that
 * failures are still HTTP answers), then answers 101 and hands both sockets to the streaming relay. Its phases, in
 * order: `admit` (upgrade, origin, connection limits), `upstream` (the proxy core's attempt loop over `connectTo`),
 * `answer` (the backend's refusal relayed, or the 101), `startSession` (the relay with this filter's limits).
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
  /** `clientLimits` / `serverLimits` frame limits, made once and shared by the sessions. */
  private readonly frameLimits: ReturnType<typeof filterFrameLimits>;
  /** The relay options and origins its sessions share. */
  private readonly shared: SharedSessionParts;

  constructor(
    private readonly spec: WebSocketProxySpec,
    deps: FilterDeps,
  ) {
    this.name = spec.name;
    this.limits = new ConnectionLimits(spec.maxConnections, spec.maxConnectionsPerIP);
    this.originPatterns = compileOriginPatterns(spec.originPatterns);
    this.stripCompression = spec.permessageDeflate === "strip";
    this.frameLimits = filterFrameLimits(spec);
    this.sessions = deps.sessions;
    this.log = deps.log;
    this.pipelineInstance = deps.pipelineInstance ?? 0;
    this.shared = new SharedSessionParts(spec, this.frameLimits, spec.name, this.pipelineInstance);
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

  async handle(context: RequestContext): Promise<FilterResult> {
    const admitted = this.admit(context);
    if (typeof admitted === "string" || !("lease" in admitted)) return admitted;
    const { context: upgrading, lease } = admitted;
    try {
      const outcome = await proxyAttempts(admitted.pool, admitted.balance, this.upstream(admitted), upgrading);
      if (outcome.kind === "ended") return outcome.result;
      // A jumpIf on serverError may still send the client elsewhere (a fallback pipeline step).
      if (outcome.kind === "refused") return { result: "serverError", error: outcome.error };
      return this.answer(admitted, outcome.server, outcome.answer);
    } finally {
      if (!lease.kept) lease.release();
    }
  }

  /**
   * Admission: a valid WebSocket upgrade (the one rule of websocket/handshake.ts), an allowed origin, room under
   * the connection limits; then the pool. Returns the flow's result, with its prepared refusal, when the client is
   * refused.
   */
  private admit(context: RequestContext): Handshake | FilterResult {
    const verdict = upgradeVerdict(context.req, context.kind === "upgrade");
    if (verdict.kind !== "websocket") return { result: "clientError", error: verdict.error };
    if (context.kind !== "upgrade") return "clientError";
    const checked = verdict.upgrade;
    // Stripped offers count as never made: a backend that negotiates compression anyway fails its handshake.
    const upgrade = this.stripCompression
      ? { ...checked, extensionNames: checked.extensionNames.filter((name) => !isCompressingExtension(name)) }
      : checked;
    const refusal = originRefusal(context.req, this.originPatterns);
    if (refusal !== undefined) return { result: "clientError", error: refusal };
    // Counted from here, so that concurrent handshakes cannot overshoot; released unless a session starts.
    const lease = this.limits.acquire(context.clientIp);
    if (lease instanceof GatewayError) return { result: "clientError", error: lease };
    const { pool, tls } = this.pools.choose(context);
    const balance: BalanceContext = { clientIp: context.clientIp, headers: context.req.headers };
    return { context, upgrade, accept: acceptKeyFor(upgrade.key), pool, tls, balance, lease };
  }

  /** The upstream phases for the proxy core: one backend upgrade per try; a 5xx answer counts against the server. */
  private upstream(handshake: Handshake): UpstreamPhases<Attempted> {
    return {
      connect: (server: UpstreamServer) => this.connectTo(handshake, server),
      judgeAnswer: (answer: Attempted): string | undefined => {
        if (answer.result.kind === "upgraded") return undefined;
        // A 4xx is the backend judging the request, which says it is alive; a 5xx counts against it.
        const status = answer.result.response.statusCode ?? 0;
        return status >= 500 ? `status ${status}` : undefined;
      },
    };
  }

  /** One try: the backend upgrade on `server`, watched so that a client that leaves takes its backend connection. */
  private async connectTo(handshake: Handshake, server: UpstreamServer): Promise<AttemptOutcome<Attempted>> {
    const { context, pool, tls } = handshake;
    // The client's own key (checked in form by upgradeVerdict), as nginx and HAProxy send it: one SHA-1 serves
    // both handshakes, and no random key is drawn. It is a nonce, not a credential: nothing is learnt from it.
    const key = handshake.upgrade.key;
    const input: UpstreamHeaderInput = {
      req: context.req,
      server,
      clientIp: context.clientIp,
      peer: context.route.peer,
      secure: context.route.secure,
      key,
      defaultOrigin: this.spec.defaultOrigin,
      extra: context.upstreamHeaders,
      owned: context.ownedHeaders,
    };
    const request = new BackendUpgradeRequest(
      server.url,
      describeServer(server),
      context.route.target,
      input,
      context.route.clientCertHeaders,
      this.stripCompression,
      this.spec.dialTimeout,
      this.spec.handshakeTimeout,
      tls.optionsFor(server.url),
      pool.spec.sendProxyProtocol === "v2" ? clientProxyHeader(context.socket, context.clientIp) : undefined,
    );
    const attempt = connectBackendUpgrade(request, { key, accept: handshake.accept, offered: handshake.upgrade });
    // A client that leaves while we dial must not leave a backend connection behind.
    let clientLeft = false;
    const abort = (): void => {
      clientLeft = true;
      attempt.abort();
    };
    // The client's socket is read meanwhile: without reading, its FIN or reset would go unseen.
    const watch = watchPendingClient(context.h2 ?? context.socket, abort);
    try {
      return { kind: "answered", answer: { result: await attempt.result } };
    } catch (error) {
      if (!(error instanceof GatewayError)) throw error;
      // A backend that answered the upgrade wrongly is named, as one that answered at all.
      if (error instanceof UpstreamHandshakeError) context.notes.backend = describeServer(server);
      // The backend's failure, not the client's leaving, counts against it.
      return { kind: "failed", error, counts: !clientLeft };
    } finally {
      watch.stop();
    }
  }

  /** The backend answered: its refusal goes to the client as it came; its 101 becomes ours, and the session starts. */
  private answer(handshake: Handshake, server: UpstreamServer, answer: Attempted): string {
    const { context, pool } = handshake;
    const { result } = answer;
    const client = context.socket;
    const h2 = context.h2;
    context.notes.backend = describeServer(server);
    if (result.kind === "answered") {
      context.takeOver();
      context.log.info(
        { event: "request_rejected", status: result.response.statusCode, backend: describeServer(server) },
        "backend refused the upgrade",
      );
      if (h2 === undefined) relayBackendAnswer(result.response, client);
      else relayBackendAnswerOnStream(result.response, h2);
      upgradeRefusedByBackend(context, result.response.statusCode ?? 0);
      return "";
    }
    const backend = result.socket;
    const stream = h2 ?? client;
    if (stream.destroyed || !stream.writable) {
      backend.destroy();
      stream.destroy();
      return "";
    }
    context.takeOver();
    // Sticky sessions: the gateway's own cookie, so that the client comes back to this server.
    const cookie = pool.stickyCookie(server, handshake.balance);
    if (h2 === undefined) writeSwitchingProtocols(client, handshake.accept, result.response, cookie);
    else if (!acceptOnStream(h2, result.response, cookie)) {
      backend.destroy();
      h2.destroy();
      return "";
    }
    this.startSession(handshake, server, result);
    return "";
  }

  /** The relay with this filter's limits; the proxy core records the session and logs its end. */
  private startSession(
    handshake: Handshake,
    server: UpstreamServer,
    upgraded: Extract<BackendUpgradeResult, { kind: "upgraded" }>,
  ): void {
    const { context, pool: serverPool, lease } = handshake;
    const pool = serverPool.spec;
    const tallies = context.telemetry.metrics.messages.tallies(context.route.server, context.route.routeLabel);
    lease.keep();
    startWebSocketSession({
      handshake: {
        client: context.h2 ?? context.socket,
        connection: context.socket,
        clientHead: context.head,
        server: context.route.server,
        route: context.route.routeLabel,
        pipeline: context.route.pipeline,
        path: redactedPath(context.req.url ?? "", context.telemetry.secrets),
        clientIp: context.clientIp,
        protocol: upgraded.negotiated.protocol,
        transport: context.h2 === undefined ? "h1" : "h2",
        accepted: acceptedBy(context),
      },
      pool: serverPool,
      server,
      backend: upgraded.socket,
      backendHead: upgraded.head,
      relay: this.shared.relayOptions(pool, upgraded.negotiated, tallies, {
        ...sessionRateGates(this.spec),
        ...sessionDeadline(
          context.credentialExpiry,
          lifetimeDeadline(pool.maxSessionDuration ?? this.spec.maxSessionDuration, Date.now()),
        ),
      }),
      origin: this.shared.origin(context.route.routeKey, pool, server),
      sessions: this.sessions,
      log: this.log,
      hold: lease,
    });
  }

  /** A new session's rate gates (its own buckets) and the filter's frame limits (shared), where set. */
  private rateGates(): RelayLimits {
    return { ...sessionRateGates(this.spec), ...this.frameLimits };
  }

  /** A session moved in from another process (resume.ts): where it goes on this filter, with this config's limits. */
  placeMoved(moved: MovedSession, telemetry: Telemetry, credential?: CredentialExpiry): TakeVerdict {
    return placeMovedSession(moved, {
      credential,
      spec: this.spec,
      pools: this.pools.all.map((entry) => entry.pool),
      limits: this.limits,
      sessions: this.sessions,
      log: this.log,
      telemetry,
      rateGates: () => this.rateGates(),
      pipelineInstance: this.pipelineInstance,
    });
  }

  /** Stops the pools' health checks and timers; live sessions keep running on the pool they started with. */
  close(): void {
    for (const { pool } of this.pools.all) pool.close();
  }
}

/**
 * Counts the accepted handshake; called once when the session starts, then dropped with the handshake. Made outside
 * startSession so that no closure there shares its scope (the request context) with anything the session keeps.
 */
function acceptedBy(context: UpgradeContext): (session: LiveSession) => SessionTrace {
  return (session) => upgradeAccepted(context, session);
}
