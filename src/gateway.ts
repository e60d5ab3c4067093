import type { AddressInfo, Server as NetServer } from "node:net";
import type { HTTPServerSpec } from "./server/spec.js";
import type { PipelineSpec } from "./pipeline/spec.js";
import type { GatewayConfig } from "./config/load.js";
import { buildFilter } from "./filters/factories.js";
import type { Logger } from "./observability/logger.js";
import type { GatewayMetricsOptions, LiveLabels } from "./observability/metrics.js";
import { SessionRegistry, type LiveSession } from "./observability/sessions.js";
import { createTelemetry, type Telemetry } from "./observability/telemetry.js";
import type { Filter, FilterDeps } from "./pipeline/filter.js";
import { Pipeline } from "./pipeline/pipeline.js";
import { diffSpecs, specText } from "./reload/config-diff.js";
import { ROUTE_REMOVED, removedServerDrains, routeDrains, routeKeysOf, type DrainOrder } from "./reload/drain-plan.js";
import { GatewayHttpServer, listenerOf, type InheritedListener, type SharedFdListener } from "./server/http-server.js";
import { ListenerError } from "./server/listener-error.js";
import { apiError } from "./errors.js";
import { routeIdentities } from "./server/route-identity.js";
import { UpstreamStatusRegistry } from "./upstream/status.js";
import { SessionDrain } from "./upstream/health/drain.js";
import { CloseCode } from "./websocket/protocol.js";
import type { HandOverOptions, HandOverReport, HandoverChannel, TakeSessions } from "./proxy/handover-types.js";
import { isCredentialRenewer } from "./proxy/credential-expiry.js";
import { renewalOrigin } from "./proxy/handover-record.js";
import { handOverSessions } from "./proxy/handover-send.js";
import { takeSessions, type MovedSession, type TakeVerdict } from "./proxy/handover-receive.js";
import { WebSocketProxy } from "./filters/websocket-proxy/websocket-proxy.js";

export interface Listener {
  server: string;
  address: AddressInfo;
  /** Paths of the server's rules, for telling users where to connect. */
  paths: string[];
}

export interface GatewayOptions {
  /** Listen on this address, whatever the HTTPServers say (`wsgate run --bind-address`). */
  bindAddress?: string;
  /**
   * Where the gateway counts, logs and lists its pools, when its embedder serves them (the CLI's admin API, a cluster
   * worker's answers). Default: a set of its own, without process metrics (those are one per process, the embedder's).
   */
  telemetry?: GatewayTelemetry;
  /** The first session id to give (a process taking sessions over from another: its ids must not collide). */
  firstSessionId?: number;
  /** A predecessor's listening sockets (`wsgate upgrade`): a server whose socket is among them accepts on it. */
  inherited?: InheritedListeners;
}

/** Listening sockets handed over by the process this one replaces; each is taken once. */
export interface InheritedListeners {
  take(spec: HTTPServerSpec): InheritedListener | SharedFdListener | undefined;
}

/** A server's listening socket, for a successor process to accept on. */
export interface ListeningSocket {
  spec: HTTPServerSpec;
  address: AddressInfo;
  socket: NetServer;
}

/**
 * One gateway's telemetry: its metrics, access logs and secret query parameters (passed down to servers, contexts and
 * filters), and the status registry its pools list themselves in (which the metrics and the admin API read).
 */
export interface GatewayTelemetry extends Telemetry {
  readonly upstreamStatus: UpstreamStatusRegistry;
}

/** A fresh set, its metrics reading its own status registry. */
export function createGatewayTelemetry(options: GatewayMetricsOptions = {}): GatewayTelemetry {
  const upstreamStatus = new UpstreamStatusRegistry();
  return { ...createTelemetry(upstreamStatus, options), upstreamStatus };
}

/** What one `apply` changed, for its log line. Names are `Kind/name`. */
export interface ApplySummary {
  added: string[];
  updated: string[];
  deleted: string[];
  /** HTTPServers that got a new listener (new port, address or TLS settings). */
  relistened: string[];
  /** Live sessions that this config closes with 1001, spread over their drain windows. */
  drained: number;
}

/** An apply that came after `stop`. */
export class GatewayStoppedError extends apiError("WSG_GATEWAY_STOPPED") {
  constructor() {
    super("the gateway is stopping; no config is applied any more");
  }
}

/** One version of a pipeline, built: sessions that start on it record `instance`. */
interface RunningPipeline {
  spec: PipelineSpec;
  text: string;
  pipeline: Pipeline;
  instance: number;
}

interface RunningServer {
  spec: HTTPServerSpec;
  text: string;
  server: GatewayHttpServer;
  listener: Listener;
}

/** Ids the old process may still give while its successor starts: the successor's ids begin above them. */
const SUCCESSOR_ID_MARGIN = 1_000_000;

/** How long a listener handed over on the same port gets for the old one's socket to be released. */
const HANDOVER_RETRY_MS = [20, 50, 100, 200, 400];

function listenerFor(server: GatewayHttpServer, spec: HTTPServerSpec, address: AddressInfo): Listener {
  const paths = spec.rules.flatMap((rule) =>
    rule.paths.map((path) => path.path ?? path.pathPrefix ?? path.pathRegexp ?? "/"),
  );
  return { server: server.name, address, paths };
}

/**
 * The running gateway: its servers, their pipelines, and every live WebSocket session. A new config is applied as a
 * difference: unchanged objects are kept as they are, sessions keep the filters and pool they started with.
 */
export class Gateway {
  readonly sessions = new SessionRegistry();
  /** Its metrics, access logs and pool status: its own, passed down to everything it builds. */
  readonly telemetry: GatewayTelemetry;
  /** Whether `telemetry` was made here, so that `stop` releases it (an embedder's is the embedder's to release). */
  private readonly ownsTelemetry: boolean;
  /** What the servers route to: pipeline name → its current version. Applies change it in place. */
  private readonly pipelines = new Map<string, Pipeline>();
  private running = new Map<string, RunningPipeline>();
  private servers = new Map<string, RunningServer>();
  /** Replaced versions of pipelines that still have sessions; each is closed when its last session ends. */
  private readonly retired = new Map<number, Pipeline>();
  /** Route keys new sessions may have; a handshake under way when its route went away is closed on arrival. */
  private liveRoutes = new Set<string>();
  private readonly drains = new Set<SessionDrain>();
  /** Sessions some drain already has, so that a later apply does not queue them twice. */
  private readonly draining = new WeakSet<LiveSession>();
  private nextInstance = 1;
  /** Applies run one after the other. */
  private applying: Promise<unknown> = Promise.resolve();
  private stopped = false;

  private constructor(
    private readonly log: Logger,
    private readonly options: GatewayOptions,
  ) {
    this.ownsTelemetry = options.telemetry === undefined;
    this.telemetry = options.telemetry ?? createGatewayTelemetry({ processMetrics: false });
    if (options.firstSessionId !== undefined) this.sessions.reserveIdsBelow(options.firstSessionId);
    this.sessions.onInstanceIdle((instance) => this.releaseRetired(instance));
    this.sessions.onAdded((session) => {
      // After the relay has started: the session is being set up while it is announced.
      if (!this.liveRoutes.has(session.origin.routeKey)) {
        setImmediate(() => session.close(CloseCode.GoingAway, ROUTE_REMOVED));
      }
    });
  }

  /** Builds the objects and opens every listener; a listener that cannot open closes the rest. */
  static async start(config: GatewayConfig, log: Logger, options: GatewayOptions = {}): Promise<Gateway> {
    const gateway = new Gateway(log, options);
    await gateway.apply(config);
    return gateway;
  }

  /**
   * Moves the running gateway to `config` (already validated) without dropping what it need not: sessions keep the
   * filters and pool they started with; deleted routes and pipelines drain with 1001 over `drainWindow`. All or
   * nothing: when a new listener cannot open, what this apply built is closed and the running config stays.
   */
  apply(config: GatewayConfig): Promise<ApplySummary> {
    const run = this.applying.then(() => this.applyNow(this.withBindAddress(config)));
    this.applying = run.catch(() => undefined);
    return run;
  }

  /**
   * Hands every movable live session to the gateway at the other end of `channel` (its `takeSessions`): see
   * /work/notes/r5/handover-api.md. Sessions that cannot move or settle stay here and go on.
   */
  handOverSessions(channel: HandoverChannel, options: HandOverOptions = {}): Promise<HandOverReport> {
    return handOverSessions(this.sessions.list(), channel, options, this.log);
  }

  /** Takes up the sessions the gateway at the other end of `channel` hands over (`handOverSessions`). */
  takeSessions(channel: HandoverChannel): TakeSessions {
    return takeSessions(channel, (moved) => this.placeMoved(moved), this.log);
  }

  /** A moved session goes to the WebSocketProxy of its pipeline and name in this config; without one, it is closed. */
  private placeMoved(moved: MovedSession): TakeVerdict {
    const { record } = moved;
    if (this.stopped) return { kind: "refused", reason: "the gateway is stopping" };
    const filter = this.pipelines.get(record.pipeline)?.filters.get(record.origin.filter);
    if (!(filter instanceof WebSocketProxy)) {
      return { kind: "closed", reason: `no WebSocketProxy ${record.pipeline}/${record.origin.filter} any more` };
    }
    // Its token renewals are checked by its Validator as in this config, where that still reads renewals.
    const origin = renewalOrigin(record.renewal);
    const renewer = origin && this.pipelines.get(record.pipeline)?.filters.get(origin.validator);
    const credential = origin !== undefined && isCredentialRenewer(renewer) ? renewer.resumedExpiry(origin) : undefined;
    return filter.placeMoved(moved, this.telemetry, credential);
  }

  /** The first session id for a successor process, above every id given here so far (and a margin for new ones). */
  sessionIdsForSuccessor(): number {
    return this.sessions.peekNextId() + SUCCESSOR_ID_MARGIN;
  }

  get listening(): readonly Listener[] {
    return [...this.servers.values()].map((running) => running.listener);
  }

  /**
   * Graceful stop: no new connections, close 1001 to every session, wait up to `drainMs` for the close
   * handshakes, then cut what is left.
   */
  async stop(drainMs: number): Promise<void> {
    this.stopped = true;
    await this.applying;
    for (const drain of this.drains) drain.cancel();
    this.drains.clear();
    const servers = [...this.servers.values()].map((running) => running.server);
    const closing = Promise.all(servers.map((server) => server.close()));
    this.sessions.closeAll(CloseCode.GoingAway, "gateway shutting down");
    const drained = await this.sessions.waitUntilEmpty(drainMs);
    if (!drained) {
      this.log.warn({ left: this.sessions.size }, "drain time over, cutting remaining sessions");
      this.sessions.terminateAll();
    }
    for (const server of servers) server.closeAllConnections();
    await closing;
    for (const running of this.running.values()) running.pipeline.close();
    for (const pipeline of this.retired.values()) pipeline.close();
    this.retired.clear();
    if (this.ownsTelemetry) this.telemetry.accessLogs.close();
  }

  /** Each server's listening socket, for a successor process (`wsgate upgrade`). */
  listeningSockets(): ListeningSocket[] {
    return [...this.servers.values()].map(({ spec, server, listener }) => ({
      spec,
      address: listener.address,
      socket: server.listeningSocket,
    }));
  }

  /** Upgrade: stops accepting on every listener (a successor accepts on the same sockets); sessions go on. */
  stopAccepting(): Promise<void> {
    const run = this.applying.then(() => {
      for (const running of this.servers.values()) {
        running.server.stopAccepting().catch((error: unknown) => {
          this.log.warn({ server: running.spec.name, err: error }, "closing a handed-over listener failed");
        });
      }
    });
    this.applying = run.catch(() => undefined);
    return run;
  }

  /** A failed upgrade after `stopAccepting`: every server listens again, on the port it had. */
  acceptAgain(): Promise<void> {
    const run = this.applying.then(async () => {
      for (const [name, running] of this.servers) {
        const again = await this.openServer(
          { ...running.spec, port: running.listener.address.port },
          HANDOVER_RETRY_MS,
        );
        this.servers.set(name, { ...again, spec: running.spec, text: running.text });
        // A cluster worker's socket shared by its primary (`{ fd }`) is listened on again here.
        again.server.acceptInherited();
      }
    });
    this.applying = run.catch(() => undefined);
    return run;
  }

  private withBindAddress(config: GatewayConfig): GatewayConfig {
    const address = this.options.bindAddress;
    if (address === undefined) return config;
    return { ...config, httpServers: config.httpServers.map((spec) => ({ ...spec, address })) };
  }

  private async applyNow(config: GatewayConfig): Promise<ApplySummary> {
    if (this.stopped) throw new GatewayStoppedError();
    const pipelineDiff = diffSpecs(mapTexts(this.running), config.pipelines);
    const serverDiff = diffSpecs(mapTexts(this.servers), config.httpServers);

    // 1. Build what is new, open the listeners that must change; on any failure undo it all.
    const built = new Map<string, RunningPipeline>();
    const opened = new Map<string, RunningServer>();
    try {
      for (const spec of [...pipelineDiff.added, ...pipelineDiff.updated]) {
        built.set(spec.name, this.buildPipeline(spec, this.running.get(spec.name)));
      }
      await this.openListeners(config.httpServers, serverDiff.deleted, opened);
    } catch (error) {
      // Not awaited: a connection that came in meanwhile would hold the close; the port is what must be freed.
      for (const running of opened.values()) this.closeListener(running);
      for (const running of built.values()) running.pipeline.close();
      throw error;
    }

    // 2. Switch over; nothing below can fail.
    const relistened = [...opened.keys()].filter((name) => this.servers.has(name));
    const retiring: RunningPipeline[] = [];
    for (const [name, running] of built) {
      const previous = this.running.get(name);
      if (previous !== undefined) retiring.push(previous);
      this.running.set(name, running);
      this.pipelines.set(name, running.pipeline);
    }
    for (const name of pipelineDiff.deleted) {
      const previous = this.running.get(name);
      if (previous !== undefined) retiring.push(previous);
      this.running.delete(name);
      this.pipelines.delete(name);
    }
    const servers = new Map<string, RunningServer>();
    for (const spec of config.httpServers) {
      const current = this.servers.get(spec.name);
      const fresh = opened.get(spec.name);
      if (fresh !== undefined) {
        // The old listener closes only now that the new one is open (a port handover closed it already).
        if (current !== undefined) this.closeListener(current);
        servers.set(spec.name, fresh);
      } else if (current !== undefined) {
        const text = specText(spec);
        if (text !== current.text) current.server.update(spec);
        servers.set(spec.name, {
          ...current,
          spec,
          text,
          listener: listenerFor(current.server, spec, current.listener.address),
        });
      }
    }
    for (const name of serverDiff.deleted) {
      const current = this.servers.get(name);
      if (current !== undefined) this.closeListener(current);
    }
    this.servers = servers;
    this.liveRoutes = routeKeysOf(config.httpServers);
    // Sockets taken over from a predecessor accept only now that routing has its pipelines.
    for (const running of opened.values()) running.server.acceptInherited();

    // 3. End what the new config no longer has, spread out; then let go of replaced pipelines without sessions.
    const live = this.sessions.list();
    const drained = this.drain([
      ...routeDrains(live, config.httpServers, config.pipelines),
      ...removedServerDrains(live, config.pipelines),
    ]);
    for (const previous of retiring) {
      if (this.sessions.countOf(previous.instance) === 0) previous.pipeline.close();
      else this.retired.set(previous.instance, previous.pipeline);
    }
    // Series of servers, routes and pools this config no longer has go from /metrics (a retired pipeline's pools stay
    // registered while its sessions run).
    void this.telemetry.metrics.keepOnly(liveLabelsOf(config.httpServers, this.telemetry.upstreamStatus));
    return {
      added: [...named("HTTPServer", serverDiff.added), ...named("Pipeline", pipelineDiff.added)],
      updated: [...named("HTTPServer", serverDiff.updated), ...named("Pipeline", pipelineDiff.updated)],
      deleted: [
        ...serverDiff.deleted.map((name) => `HTTPServer/${name}`),
        ...pipelineDiff.deleted.map((name) => `Pipeline/${name}`),
      ],
      relistened,
      drained,
    };
  }

  /** A new version of a pipeline; filters of the same name in `previous` hand over their state (rate counters). */
  private buildPipeline(spec: PipelineSpec, previous: RunningPipeline | undefined): RunningPipeline {
    const instance = this.nextInstance++;
    const deps: FilterDeps = {
      log: this.log.child({ pipeline: spec.name }),
      sessions: this.sessions,
      pipeline: spec.name,
      pipelineInstance: instance,
      telemetry: this.telemetry,
      upstreamStatus: this.telemetry.upstreamStatus,
    };
    const filters = new Map<string, Filter>();
    try {
      for (const filter of spec.filters) {
        filters.set(filter.name, buildFilter(filter, deps, previous?.pipeline.filters.get(filter.name)));
      }
      return { spec, text: specText(spec), pipeline: new Pipeline(spec.name, spec, filters), instance };
    } catch (error) {
      for (const filter of filters.values()) filter.close();
      throw error;
    }
  }

  /**
   * Opens a listener for every server that is new or whose listener fields changed, into `opened`. The new listener
   * opens before the old one closes; only when it wants the very port one of ours holds and gives up (a server
   * renamed, or moved between addresses) does the old one close first, and that one comes back if the new one fails.
   */
  private async openListeners(
    specs: readonly HTTPServerSpec[],
    deleted: readonly string[],
    opened: Map<string, RunningServer>,
  ): Promise<void> {
    const needed = specs.filter((spec) => {
      const current = this.servers.get(spec.name);
      return current === undefined || listenerOf(current.spec) !== listenerOf(spec);
    });
    // Ports that this apply takes from servers of ours: deleted ones, and ones moving to another listener.
    const released = new Map<number, RunningServer>();
    for (const running of this.servers.values()) {
      const moving = needed.some((spec) => spec.name === running.spec.name);
      if (moving || deleted.includes(running.spec.name)) released.set(running.listener.address.port, running);
    }
    const handovers: HTTPServerSpec[] = [];
    for (const spec of needed) {
      if (released.has(spec.port)) handovers.push(spec);
      else opened.set(spec.name, await this.openServer(spec));
    }
    for (const spec of handovers) {
      const holder = released.get(spec.port);
      if (holder === undefined) continue;
      // Not awaited: that waits for every connection to end, upgraded sessions included; the port is free sooner.
      this.closeListener(holder);
      try {
        opened.set(spec.name, await this.openServer(spec, HANDOVER_RETRY_MS));
      } catch (error) {
        this.servers.set(holder.spec.name, await this.openServer(holder.spec, HANDOVER_RETRY_MS).catch(() => holder));
        throw error;
      }
      released.delete(spec.port);
    }
  }

  /** A server and its open listener; `retries` are waits before trying again while the port is still in use. */
  private async openServer(spec: HTTPServerSpec, retries: readonly number[] = []): Promise<RunningServer> {
    for (let attempt = 0; ; attempt++) {
      const server = new GatewayHttpServer(spec, this.pipelines, this.log, this.telemetry);
      try {
        const address = await server.listen(this.options.inherited?.take(spec));
        return { spec, text: specText(spec), server, listener: listenerFor(server, spec, address) };
      } catch (error) {
        await server.close();
        const wait = retries[attempt];
        if (!(error instanceof ListenerError) || error.reason !== "EADDRINUSE" || wait === undefined) throw error;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
    }
  }

  /** Stops the listener of a server that is deleted or replaced; its upgraded sessions are not its own and go on. */
  private closeListener(running: RunningServer): void {
    running.server.close().catch((error: unknown) => {
      this.log.warn({ server: running.spec.name, err: error }, "closing a replaced listener failed");
    });
  }

  /** Starts closing `orders`' sessions with 1001, those of one reason and window spread evenly over it. */
  private drain(orders: readonly DrainOrder[]): number {
    const groups = new Map<string, { reason: string; code: number; overMs: number; sessions: LiveSession[] }>();
    for (const { session, reason, code, overMs } of orders) {
      if (this.draining.has(session)) continue;
      this.draining.add(session);
      const key = `${overMs}\u0000${reason}\u0000${code}`;
      let group = groups.get(key);
      if (group === undefined) groups.set(key, (group = { reason, code, overMs, sessions: [] }));
      group.sessions.push(session);
    }
    let count = 0;
    for (const drain of this.drains) if (drain.pending === 0) this.drains.delete(drain);
    for (const { reason, code, overMs, sessions } of groups.values()) {
      count += sessions.length;
      sessions.sort((a, b) => a.id - b.id);
      this.log.info(
        { event: "sessions_drain", reason, code, sessions: sessions.length, overMs },
        "closing the sessions the new config ends, spread out",
      );
      const isLive = (session: unknown): boolean => this.sessions.has(session as LiveSession);
      this.drains.add(new SessionDrain(sessions, 0, overMs, isLive, reason, code));
    }
    return count;
  }

  private releaseRetired(instance: number): void {
    const pipeline = this.retired.get(instance);
    if (pipeline === undefined) return;
    this.retired.delete(instance);
    pipeline.close();
    this.log.debug({ pipeline: pipeline.name, instance }, "replaced pipeline's last session ended: released");
  }
}

function mapTexts(running: ReadonlyMap<string, { text: string }>): Map<string, string> {
  return new Map([...running].map(([name, { text }]) => [name, text]));
}

function named(kind: string, specs: ReadonlyArray<{ name: string }>): string[] {
  return specs.map((spec) => `${kind}/${spec.name}`);
}

/** The metric labels a config runs under: its HTTPServers, their routes, and the pools built now. */
function liveLabelsOf(servers: readonly HTTPServerSpec[], status: UpstreamStatusRegistry): LiveLabels {
  const routes = servers.flatMap((spec) =>
    routeIdentities(spec.name, spec.rules).flatMap((paths) => paths.map((route) => `${spec.name}\u0000${route.label}`)),
  );
  return {
    servers: new Set(servers.map((spec) => spec.name)),
    routes: new Set(routes),
    pools: new Set(status.pools().map((pool) => pool.pool)),
  };
}
