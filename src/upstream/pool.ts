// A pool as built once per config load: its servers, their balancer, sticky sessions, health (active checks and
// passive outlier detection), the live sessions on each server, and its status. Selection reads server.healthy, which
// health sets, and server.draining, which the operator sets (`wsgate drain`); nothing else decides who takes traffic.
import type { Logger } from "../observability/logger.js";
import type { BalanceContext, LoadBalancer, LoadBalanceSpec, RandomSource } from "./balance-types.js";
import { createLoadBalancer } from "./balancer.js";
import { ActiveHealthChecker } from "./health/checker.js";
import {
  DRAIN_CLOSE_CODE,
  DRAIN_CLOSE_REASON,
  OPERATOR_DRAIN_REASON,
  SessionDrain,
  type DrainableSession,
} from "./health/drain.js";
import { ServerHealth } from "./health/server-health.js";
import type { CheckTlsOptions, CheckTlsResolver } from "./health/target.js";
import type { HealthCheckSpec, PassiveHealthSpec } from "./health/types.js";
import {
  createRequestMatcher,
  type MatchRequest,
  type RequestMatcher,
  type RequestMatcherSpec,
} from "./request-matcher.js";
import { passiveHealthSchema } from "./pool-spec.js";
import { UpstreamServer, serverMatches, type UpstreamServerSpec } from "./server.js";
import type { DrainedServer, PoolStatus, ServerState } from "./status.js";
import type { UpstreamStatusRegistry } from "./status.js";
import { StickySession, type StickySessionSpec } from "./sticky-session.js";
import { LinkedSet } from "../util/linked-set.js";

export interface PoolSpec {
  servers: readonly UpstreamServerSpec[];
  serverTags: readonly string[];
  loadBalance: LoadBalanceSpec & { stickySession?: StickySessionSpec };
  healthCheck?: HealthCheckSpec;
  passiveHealth?: PassiveHealthSpec;
  /** Candidate pools have one; the main pool has none. */
  filter?: RequestMatcherSpec;
  /** WebSocketProxy pools: the close code drained sessions get (`drained`, default 1001). */
  backendCloseCodes?: { drained: number };
}

export interface PoolOptions {
  /** Names the pool in logs and status: "pipeline/filter/pools[i]". */
  label: string;
  log: Logger;
  /** TLS settings for checks of wss:// servers: each server's own (`tlsFor`), else the pool's (`tls`). */
  tls?: CheckTlsOptions;
  tlsFor?: CheckTlsResolver;
  random?: RandomSource;
  /** Where the pool lists itself while open: its gateway's registry. */
  registry: UpstreamStatusRegistry;
}

/** Passive health for a pool that does not configure it: the schema's own defaults, written in one place. */
export const DEFAULT_PASSIVE_HEALTH: PassiveHealthSpec = passiveHealthSchema.parse({});

export class ServerPool<Spec extends PoolSpec = PoolSpec> {
  readonly spec: Spec;
  readonly label: string;
  readonly servers: readonly UpstreamServer[];
  /** The pool's `filter`; undefined for the main pool. */
  readonly matcher: RequestMatcher | undefined;
  /** Settles once the first round of checks is done (at once without active checks). */
  readonly ready: Promise<void>;
  #isReady = false;
  readonly #log: Logger;
  readonly #balancer: LoadBalancer;
  readonly #sticky: StickySession | undefined;
  readonly #healths: ReadonlyMap<UpstreamServer, ServerHealth>;
  readonly #checker: ActiveHealthChecker | undefined;
  readonly #sessions = new Map<UpstreamServer, LinkedSet<DrainableSession>>();
  readonly #drains = new Map<UpstreamServer, SessionDrain>();
  /** The operator's drains (`wsgate drain`): apart from health's, which a recovery cancels. */
  readonly #operatorDrains = new Map<UpstreamServer, SessionDrain>();
  readonly #registry: UpstreamStatusRegistry;
  #available = true;
  #closed = false;

  constructor(spec: Spec, options: PoolOptions) {
    this.spec = spec;
    this.label = options.label;
    this.#log = options.log;
    this.#registry = options.registry;
    const tagged =
      spec.serverTags.length === 0
        ? spec.servers
        : spec.servers.filter((server) => server.tags.some((tag) => spec.serverTags.includes(tag)));
    this.servers = tagged.map((server) => new UpstreamServer(server));
    const random = options.random ?? Math.random;
    this.matcher = spec.filter === undefined ? undefined : createRequestMatcher(spec.filter, random);
    this.#balancer = createLoadBalancer(spec.loadBalance, this.servers, { random });
    const sticky = spec.loadBalance.stickySession;
    this.#sticky = sticky === undefined ? undefined : new StickySession(sticky, this.servers, random);

    const check = spec.healthCheck;
    const passive = spec.passiveHealth ?? DEFAULT_PASSIVE_HEALTH;
    const healths = this.servers.map(
      (server) =>
        new ServerHealth(server, {
          pool: this.label,
          log: this.#log,
          checked: check !== undefined,
          fails: check?.fails ?? 1,
          pass: check?.pass ?? 1,
          passive: { ...passive, fails: passive.fails ?? check?.fails ?? 1 },
          onChange: (health, previous) => this.#onHealthChange(health, previous),
        }),
    );
    this.#healths = new Map(healths.map((health) => [health.server, health]));
    const tlsFor: CheckTlsResolver = (server) => options.tlsFor?.(server) ?? options.tls;
    const onError = (error: unknown): void =>
      this.#log.error({ err: error, pool: this.label }, "recording a health check result failed");
    this.#checker = check === undefined ? undefined : new ActiveHealthChecker(check, healths, tlsFor, onError);
    this.ready = (this.#checker?.firstRound ?? Promise.resolve()).then(() => {
      this.#isReady = true;
      this.#checkAvailability();
    });
    this.#registry.add(this);
  }

  /** True once the first round of checks is done; until then `pick` must wait for `ready`. */
  get isReady(): boolean {
    return this.#isReady;
  }

  /** A candidate pool takes the requests its filter matches; the main pool takes any. */
  matches(request: MatchRequest): boolean {
    return this.matcher?.matches(request) ?? true;
  }

  /**
   * The server for a new connection, not in `exclude`: the sticky cookie's server, else the policy's choice among
   * eligible servers. When every healthy server is only ejected (passive), the one whose ejection ends first gets a
   * trial rather than the client a 503. Undefined when nothing is left.
   */
  pick(context: BalanceContext, exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined {
    const chosen = this.#sticky?.pick(context, exclude) ?? this.#balancer.pick(context, exclude);
    if (chosen !== undefined) return chosen;
    let trial: ServerHealth | undefined;
    for (const health of this.#healths.values()) {
      if (
        !health.ejected ||
        health.active !== "healthy" ||
        health.server.draining ||
        exclude?.has(health.server) === true
      )
        continue;
      if (trial === undefined || health.ejectedUntil < trial.ejectedUntil) trial = health;
    }
    return trial?.server;
  }

  /** The connection to `server` succeeded (101, or a proper answer below 500). */
  reportSuccess(server: UpstreamServer): void {
    this.#healths.get(server)?.recordSuccess();
  }

  /** The connection to `server` failed on its side; counts towards ejection. */
  reportFailure(server: UpstreamServer, reason: string): void {
    this.#healths.get(server)?.recordFailure(reason);
  }

  /** The Set-Cookie header value for a 101 from `server`, when the pool has a sticky lbCookieName. */
  stickyCookie(server: UpstreamServer, context: BalanceContext): string | undefined {
    return this.#sticky?.setCookie(server, context);
  }

  /** Seconds a client should wait before retrying when no server is available: until the next check is done. */
  retryAfterSeconds(): number {
    const checker = this.#checker;
    const spec = this.spec.healthCheck;
    const ms = checker === undefined || spec === undefined ? 5000 : checker.msUntilNextCheck() + spec.timeout;
    return Math.min(3600, Math.max(1, Math.ceil(ms / 1000)));
  }

  sessionOpened(server: UpstreamServer, session: DrainableSession): void {
    server.activeConnections++;
    let live = this.#sessions.get(server);
    if (live === undefined) this.#sessions.set(server, (live = new LinkedSet()));
    live.add(session);
  }

  sessionClosed(server: UpstreamServer, session: DrainableSession): void {
    const live = this.#sessions.get(server);
    if (live?.delete(session) !== true) return;
    server.activeConnections--;
  }

  status(): PoolStatus {
    return {
      pool: this.label,
      main: this.matcher === undefined,
      policy: this.spec.loadBalance.policy,
      healthCheck: this.#checker !== undefined,
      available: this.servers.some((server) => server.healthy && !server.draining),
      servers: this.servers.map((server) => {
        const status = this.#healths.get(server)?.status(server.activeConnections) ?? missingStatus(server);
        return server.draining
          ? { ...status, state: "draining", eligible: false, reason: "drained by the operator" }
          : status;
      }),
    };
  }

  /**
   * The operator takes the servers `text` names out (`wsgate drain`): no new connections from now on, and their live
   * sessions closed with 1001 (or `backendCloseCodes.drained`) one at a time, session i at about i/n of `overMs`. Lasts as long as this pool (until its config changes). A
   * second drain of a server whose drain is still running leaves that one be.
   */
  drainServer(text: string, overMs: number): DrainedServer[] {
    if (this.#closed) return [];
    return this.servers
      .filter((server) => serverMatches(server, text))
      .map((server) => ({
        pool: this.label,
        backend: server.hostPort,
        url: server.url.href,
        ...this.#drainOne(server, overMs),
      }));
  }

  #drainOne(server: UpstreamServer, overMs: number): { sessions: number; overMs: number; code: number } {
    server.draining = true;
    const code = this.#drainCode;
    const running = this.#operatorDrains.get(server);
    if (running !== undefined && running.pending > 0) return { sessions: running.pending, overMs, code };
    running?.cancel();
    const live = this.#sessions.get(server);
    const sessions = [...(live ?? [])];
    this.#log.info(
      { event: "backend_drain", pool: this.label, backend: server.hostPort, sessions: sessions.length, overMs, code },
      "operator drains a backend: no new connections, its sessions closed over the window",
    );
    const drain = new SessionDrain(
      sessions,
      0,
      overMs,
      (session) => live?.has(session) === true,
      OPERATOR_DRAIN_REASON,
      code,
    );
    this.#operatorDrains.set(server, drain);
    return { sessions: sessions.length, overMs, code };
  }

  /** Stops checks, ejection and drain timers; live sessions keep running (shutdown closes them). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#checker?.close();
    for (const health of this.#healths.values()) health.close();
    for (const drain of [...this.#drains.values(), ...this.#operatorDrains.values()]) drain.cancel();
    this.#drains.clear();
    this.#operatorDrains.clear();
    this.#registry.delete(this);
  }

  #onHealthChange(health: ServerHealth, previous: ServerState): void {
    if (this.#closed) return;
    const server = health.server;
    if (health.state === "unhealthy" && previous !== "unknown") this.#startDrain(server);
    if (health.state !== "unhealthy") this.#cancelDrain(server);
    if (this.#isReady) this.#checkAvailability();
  }

  #startDrain(server: UpstreamServer): void {
    const drain = this.spec.healthCheck?.drainSessions;
    const live = this.#sessions.get(server);
    if (drain === undefined || live === undefined || live.size === 0 || this.#drains.has(server)) return;
    this.#log.info(
      {
        event: "backend_drain",
        pool: this.label,
        backend: server.hostPort,
        sessions: live.size,
        afterMs: drain.after,
        overMs: drain.over,
      },
      "closing the sessions of an unhealthy backend",
    );
    const isLive = (session: DrainableSession): boolean => live.has(session);
    this.#drains.set(
      server,
      new SessionDrain([...live], drain.after, drain.over, isLive, DRAIN_CLOSE_REASON, this.#drainCode),
    );
  }

  get #drainCode(): number {
    return this.spec.backendCloseCodes?.drained ?? DRAIN_CLOSE_CODE;
  }

  #cancelDrain(server: UpstreamServer): void {
    const drain = this.#drains.get(server);
    if (drain === undefined) return;
    this.#drains.delete(server);
    if (drain.pending > 0) {
      this.#log.info(
        { event: "backend_drain", pool: this.label, backend: server.hostPort, kept: drain.pending },
        "backend healthy again: its remaining sessions stay",
      );
    }
    drain.cancel();
  }

  /** Logs once when no server of the pool passes its checks any more, and once when one does again. */
  #checkAvailability(): void {
    if (this.#closed) return;
    const available = [...this.#healths.values()].some((health) => health.active === "healthy");
    if (available === this.#available) return;
    this.#available = available;
    const entry = { event: "pool_health", pool: this.label, servers: this.servers.length, available };
    if (available) this.#log.info(entry, "pool has a healthy server again");
    else this.#log.warn(entry, "no healthy server in pool: new connections get 503");
  }
}

function missingStatus(server: UpstreamServer): PoolStatus["servers"][number] {
  return {
    url: server.url.href,
    backend: server.hostPort,
    weight: server.weight,
    tags: server.tags,
    state: "unknown",
    eligible: server.healthy,
    activeConnections: server.activeConnections,
    since: new Date(0).toISOString(),
    reason: "",
    passive: { consecutiveFailures: 0, ejections: 0 },
  };
}
