// A gateway's Prometheus metrics: one registry per Gateway (its embedder serves it: the admin API's GET /metrics, or a
// cluster worker's answer to the primary). Nothing here is process-wide: two gateways in one process count apart.
//
// Events (a handshake answered, a session ended, a request done, an upstream failure) update counters as they
// happen. What live sessions relayed is read at scrape time from `LiveSession.totals()` and added to the totals of
// the sessions that already ended, so counts are exact without any per-frame work in the relay.
//
// Labels stay bounded and mean one thing in every family: `server` is the HTTPServer's name, `route` its rule and path,
// `pipeline`-scoped `pool` a pool's label, `backend` an upstream server's configured "host:port"; status and close
// codes are small integer sets. No session ids, no client addresses. A reload that removes a server, route or pool
// removes its series (`keepOnly`).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { CarriedCounters, snapshotCounters, type CounterSnapshot } from "./carried-counters.js";
import { MessageMetrics, closeCodeClass } from "./message-metrics.js";
import { DeferredHistogram } from "./deferred-histogram.js";
import { LabelKeys } from "./label-keys.js";
import { SessionBook, type SessionTotals } from "./session-book.js";
import type { LiveSession } from "./sessions.js";

/** How a config reload ended: `applied`, or `rejected` (invalid, or it could not run; the running config stays). */
export type ReloadResult = "applied" | "rejected";

/** What a config runs now, for `keepOnly`: HTTPServer names, their route labels ("server\u0000route"), pool labels. */
export interface LiveLabels {
  servers: ReadonlySet<string>;
  routes: ReadonlySet<string>;
  pools: ReadonlySet<string>;
}

/** `client_to_backend`: what the client sent (relayed to the backend); `backend_to_client`: the other way. */
export type Direction = "client_to_backend" | "backend_to_client";

/** accepted: 101; rejected: a 4xx (the gateway's or the backend's); failed: a 5xx. */
export type HandshakeResult = "accepted" | "rejected" | "failed";

/** Who started a session's close, as the relay reports it. */
export type ClosedBy = "client" | "backend" | "gateway";

/**
 * What the metrics read of the pools at scrape time. Declared here, implemented by the upstream status registry (a
 * layer above): the collector depends on this reader, not on upstream/.
 */
export interface PoolStatusReader {
  pools(): Iterable<{
    readonly pool: string;
    readonly servers: ReadonlyArray<{
      readonly backend: string;
      readonly eligible: boolean;
      readonly activeConnections: number;
    }>;
  }>;
}

/** A reader with no pools: a cluster primary, which serves no traffic itself. */
export const NO_POOLS: PoolStatusReader = { pools: () => [] };

export interface GatewayMetricsOptions {
  /** Node.js process metrics (CPU, memory, event loop); default true. */
  processMetrics?: boolean;
  /** For wsgate_build_info; the embedder (the CLI) knows the package version. */
  build?: { version: string };
}

/** Session lengths, in seconds: a second to a day. */
const SESSION_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 14400, 86400];

const MESSAGES_TOTAL = "wsgate_websocket_messages_total";
const BYTES_TOTAL = "wsgate_websocket_bytes_total";

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** prom-client's deprecated duplicates of nodejs_active_handles, _requests and _resources. */
const DEPRECATED_PROCESS_GAUGES = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/** Methods known by name; any other is counted as "other" (a client can send any token). */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"]);

export function handshakeResultOf(status: number): HandshakeResult {
  if (status === 101) return "accepted";
  return status >= 500 ? "failed" : "rejected";
}

function methodLabel(method: string | undefined): string {
  const upper = (method ?? "").toUpperCase();
  return METHODS.has(upper) ? upper : "other";
}

/**
 * Counts by label set, added to a prom-client counter when it is read (its `collect`, run by every `get()` and
 * scrape): one `inc` per label set and scrape instead of prom-client's label checks and hashing per event.
 */
class DeferredCounts<L extends string> {
  readonly #entries = new Map<string, { labels: Partial<Record<L, string>>; count: number }>();

  /** One more under `key` if that label set was seen before (no closure to build a set per event); else false. */
  addSeen(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    entry.count++;
    return true;
  }

  /** One more under `key`, a label set's identity; `labels` builds the set the first time the key is seen. */
  add(key: string, labels: () => Partial<Record<L, string>>): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) this.#entries.set(key, { labels: labels(), count: 1 });
    else entry.count++;
  }

  /** Drops the label sets `gone` says are no longer configured. */
  forget(gone: (labels: Partial<Record<L, string>>) => boolean): void {
    for (const [key, entry] of this.#entries) if (gone(entry.labels)) this.#entries.delete(key);
  }

  flushInto(counter: Counter<L>): void {
    for (const entry of this.#entries.values()) {
      if (entry.count === 0) continue;
      counter.inc(entry.labels, entry.count);
      entry.count = 0;
    }
  }
}

export class GatewayMetrics {
  readonly registry = new Registry();
  /** What sessions relayed, read at scrape time. */
  readonly #sessions = new SessionBook();

  readonly #handshakeCounts = new DeferredCounts<"server" | "route" | "result" | "status">();
  readonly #handshakeSeconds: DeferredHistogram<"server" | "route" | "result">;
  readonly #closeCounts = new DeferredCounts<"server" | "side" | "code">();
  /** The keys `sessionEnded` counts under (close counts, session seconds), built once per label set. */
  readonly #sessionEndKeys = new LabelKeys();
  readonly #refusalCounts = new DeferredCounts<"server" | "route" | "reason">();
  readonly #upstreamErrors: Counter<"pool" | "backend" | "reason">;
  readonly #httpRequests: Counter<"server" | "route" | "method" | "status">;
  readonly #httpSeconds: Histogram<"server" | "route" | "method">;
  readonly #reloads: Counter<"result">;
  readonly #sessionSeconds: DeferredHistogram<"server" | "code">;
  /** Per-message histograms and control frames: the relay counts into `messages.tallies(server, route)`. */
  readonly messages: MessageMetrics;
  /** A predecessor's counter totals (`wsgate upgrade`), served on top of this gateway's own. */
  #carried: CarriedCounters | undefined;

  constructor(status: PoolStatusReader, options: GatewayMetricsOptions = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) {
      // The event-loop lag gauges sample with a timer: prom-client's default of every 10 ms wakes an idle gateway
      // (each worker and the primary too) 100 times a second. Every 100 ms still gives ~150 samples per scrape.
      collectDefaultMetrics({ register: this.registry, prefix: "wsgate_", eventLoopMonitoringPrecision: 100 });
      // Gauges named like counters (promtool refuses them); prom-client also serves them without the suffix.
      for (const name of DEPRECATED_PROCESS_GAUGES) this.registry.removeSingleMetric(`wsgate_${name}`);
    }
    const sessions = this.#sessions;
    const handshakeCounts = this.#handshakeCounts;
    const closeCounts = this.#closeCounts;
    const refusalCounts = this.#refusalCounts;

    new Gauge({
      name: "wsgate_websocket_sessions_active",
      help: "WebSocket sessions open now.",
      labelNames: ["server", "route", "backend"] as const,
      registers,
      collect() {
        this.reset();
        for (const { labels, count } of sessions.active()) this.set({ ...labels }, count);
      },
    });
    new Gauge({
      name: "wsgate_websocket_sessions_by_transport",
      help: "WebSocket sessions open now, by how the client's side travels: h1 (its own connection) or h2 (an HTTP/2 stream, RFC 8441).",
      labelNames: ["server", "transport"] as const,
      registers,
      collect() {
        this.reset();
        for (const { server, transport, count } of sessions.byTransport()) this.set({ server, transport }, count);
      },
    });
    new Counter({
      name: MESSAGES_TOTAL,
      help: "WebSocket data messages relayed, by direction (client_to_backend, backend_to_client); control frames not counted.",
      labelNames: ["server", "route", "backend", "direction"] as const,
      registers,
      collect() {
        this.reset();
        for (const { labels, totals } of sessions.totals()) {
          this.inc({ ...labels, direction: "client_to_backend" }, totals.fromClient.messages);
          this.inc({ ...labels, direction: "backend_to_client" }, totals.fromBackend.messages);
        }
      },
    });
    new Counter({
      name: BYTES_TOTAL,
      help: "WebSocket bytes read from each peer (frame headers and control frames included), by direction (client_to_backend, backend_to_client).",
      labelNames: ["server", "route", "backend", "direction"] as const,
      registers,
      collect() {
        this.reset();
        for (const { labels, totals } of sessions.totals()) {
          this.inc({ ...labels, direction: "client_to_backend" }, totals.fromClient.bytes);
          this.inc({ ...labels, direction: "backend_to_client" }, totals.fromBackend.bytes);
        }
      },
    });
    // Both counters are filled from the deferred counts when read.
    new Counter({
      name: "wsgate_websocket_handshakes_total",
      help: "WebSocket handshakes answered, by result (accepted, rejected: 4xx, failed: 5xx) and HTTP status.",
      labelNames: ["server", "route", "result", "status"] as const,
      registers,
      collect() {
        handshakeCounts.flushInto(this);
      },
    });
    new Counter({
      name: "wsgate_websocket_handshake_refusals_total",
      help: "WebSocket handshakes not accepted, by reason: the error table's short reason (route_not_found, no_upstream, dial_timeout, backend_refused...).",
      labelNames: ["server", "route", "reason"] as const,
      registers,
      collect() {
        refusalCounts.flushInto(this);
      },
    });
    // Observed into plain arrays, read by the registry as a family of its own (deferred-histogram.ts).
    this.#handshakeSeconds = new DeferredHistogram({
      name: "wsgate_websocket_handshake_duration_seconds",
      help: "From the upgrade request's arrival to the gateway's answer (101 or an error status).",
      labelNames: ["server", "route", "result"] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    new Counter({
      name: "wsgate_websocket_closes_total",
      help: "Ended WebSocket sessions, by the side that started the close (client, backend, gateway) and close code.",
      labelNames: ["server", "side", "code"] as const,
      registers,
      collect() {
        closeCounts.flushInto(this);
      },
    });
    this.#upstreamErrors = new Counter({
      name: "wsgate_upstream_connect_errors_total",
      help: "Backend connections or handshakes that failed before the backend answered, by reason.",
      labelNames: ["pool", "backend", "reason"] as const,
      registers,
    });
    this.#httpRequests = new Counter({
      name: "wsgate_http_requests_total",
      help: "Plain HTTP requests answered (proxied, or refused by the gateway), by status; 499: the client left first.",
      labelNames: ["server", "route", "method", "status"] as const,
      registers,
    });
    this.#httpSeconds = new Histogram({
      name: "wsgate_http_request_duration_seconds",
      help: "From a plain HTTP request's arrival to the end of its answer.",
      labelNames: ["server", "route", "method"] as const,
      buckets: LATENCY_BUCKETS,
      registers,
    });
    new Gauge({
      name: "wsgate_upstream_server_healthy",
      help: "1 when the backend takes new connections (healthy, or on trial after an ejection), else 0.",
      labelNames: ["pool", "backend"] as const,
      registers,
      collect() {
        this.reset();
        for (const pool of status.pools()) {
          for (const server of pool.servers)
            this.set({ pool: pool.pool, backend: server.backend }, server.eligible ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: "wsgate_upstream_server_active_connections",
      help: "Live connections on the backend: WebSocket sessions, and plain HTTP requests in flight.",
      labelNames: ["pool", "backend"] as const,
      registers,
      collect() {
        this.reset();
        for (const pool of status.pools()) {
          for (const server of pool.servers) {
            this.set({ pool: pool.pool, backend: server.backend }, server.activeConnections);
          }
        }
      },
    });
    this.#reloads = new Counter({
      name: "wsgate_config_reloads_total",
      help: "Config changes (files reloaded, admin API writes) by result: applied, or rejected (invalid or could not run).",
      labelNames: ["result"] as const,
      registers,
    });
    // Both results exist from the start, so that a rate() sees the first rejection.
    this.#reloads.inc({ result: "applied" }, 0);
    this.#reloads.inc({ result: "rejected" }, 0);
    this.#sessionSeconds = new DeferredHistogram({
      name: "wsgate_websocket_session_duration_seconds",
      help: "Ended WebSocket sessions by length and close code (1000-1015 as is; 3xxx, 4xxx for application codes).",
      labelNames: ["server", "code"] as const,
      buckets: SESSION_BUCKETS,
      registers,
    });
    this.messages = new MessageMetrics(this.registry);
    new Gauge({
      name: "wsgate_build_info",
      help: "1, labelled with the wsgate version and the Node.js version it runs on.",
      labelNames: ["version", "node"] as const,
      registers,
      // Every worker reports the same build: the cluster's sum would count workers.
      aggregator: "first",
    }).set({ version: options.build?.version ?? "unknown", node: process.versions.node }, 1);
  }

  /**
   * After a reload: removes the series of HTTPServers, routes and pools the config no longer has, so that a deleted
   * object does not stay on every scrape. Unmatched requests (route "none") stay while their server does.
   */
  async keepOnly(live: LiveLabels): Promise<void> {
    const gone = (labels: { server?: string | number; route?: string | number; pool?: string | number }): boolean => {
      const { server, route, pool } = labels;
      if (server !== undefined && !live.servers.has(String(server))) return true;
      if (
        server !== undefined &&
        route !== undefined &&
        route !== "none" &&
        !live.routes.has(`${server}\u0000${route}`)
      )
        return true;
      return pool !== undefined && !live.pools.has(String(pool));
    };
    this.#sessions.forget(gone);
    this.messages.forget(gone);
    this.#handshakeCounts.forget(gone);
    this.#handshakeSeconds.forget(gone);
    this.#sessionSeconds.forget(gone);
    this.#closeCounts.forget(gone);
    this.#sessionEndKeys.clear();
    this.#refusalCounts.forget(gone);
    for (const { name } of this.registry.getMetricsAsArray()) {
      const metric = this.registry.getSingleMetric(name);
      if (metric === undefined) continue;
      const { values } = await metric.get();
      const removed = new Set<string>();
      for (const { labels } of values) {
        // A histogram's bucket samples carry `le` on top of the series' own labels.
        const { le: _le, ...own } = labels;
        const key = JSON.stringify(own);
        if (removed.has(key) || !gone(own)) continue;
        removed.add(key);
        metric.remove(own);
      }
    }
  }

  /** A config reload ended. */
  configReloaded(result: ReloadResult): void {
    this.#reloads.inc({ result });
  }

  /** A handshake got its answer: `status` 101 when the session starts. */
  handshakeAnswered(labels: { server: string; route: string }, status: number, seconds: number): void {
    const result = handshakeResultOf(status);
    const { server, route } = labels;
    const series = `${server}\u0000${route}\u0000`;
    this.#handshakeCounts.add(series + String(status), () => ({ server, route, result, status: String(status) }));
    // Not `{ ...labels, result }`: on Node 20 an object made by a spread and then extended gets a map of its own.
    this.#handshakeSeconds.observe(series + result, () => ({ server, route, result }), seconds);
  }

  /** A handshake was refused or failed; `reason` is a row's `logReason` (a bounded set). */
  handshakeRefused(server: string, route: string, reason: string): void {
    this.#refusalCounts.add(`${server}\u0000${route}\u0000${reason}`, () => ({ server, route, reason }));
  }

  sessionStarted(session: LiveSession): void {
    this.#sessions.started(session);
  }

  /** A session handed to another process: its totals so far stay here as ended ones; no close is counted. */
  sessionMovedOut(session: LiveSession, totals: SessionTotals): void {
    this.#sessions.movedOut(session, totals);
  }

  /**
   * Every counter's totals, for the process that replaces this one (`wsgate upgrade`), once the sessions are handed
   * over: what the moved sessions relayed is left out of the messages and bytes (their relays count on from it there).
   */
  async counterSnapshot(): Promise<CounterSnapshot> {
    const snapshot = await snapshotCounters(this.registry);
    const movedAway = new Map<string, number>();
    for (const { labels, totals } of this.#sessions.movedAway()) {
      const { server, route, backend } = labels;
      for (const [direction, side] of [
        ["client_to_backend", totals.fromClient],
        ["backend_to_client", totals.fromBackend],
      ] as const) {
        const series = JSON.stringify([server, route, backend, direction]);
        movedAway.set(`${MESSAGES_TOTAL}\u0000${series}`, side.messages);
        movedAway.set(`${BYTES_TOTAL}\u0000${series}`, side.bytes);
      }
    }
    for (const family of snapshot) {
      if (family.name !== MESSAGES_TOTAL && family.name !== BYTES_TOTAL) continue;
      for (const entry of family.series) {
        const { server, route, backend, direction } = entry.labels;
        const series = JSON.stringify([server, route, backend, direction]);
        entry.value = Math.max(0, entry.value - (movedAway.get(`${family.name}\u0000${series}`) ?? 0));
      }
    }
    return snapshot;
  }

  /**
   * This gateway's counters go on from a predecessor's (`wsgate upgrade`): `arrival` brings its snapshot (undefined:
   * none comes). Reads of the counters wait for it, at most `holdMs`, rather than show totals that went back.
   */
  carryFrom(arrival: Promise<CounterSnapshot | undefined>, holdMs: number): void {
    const carried = new CarriedCounters();
    carried.hold(holdMs);
    carried.wrap(this.registry);
    this.#carried = carried;
    void arrival.then(
      (snapshot) => carried.carry(snapshot),
      () => carried.carry(undefined),
    );
  }

  /** Moves the session's final totals to the ended ones, and counts its close. */
  sessionEnded(
    session: LiveSession,
    outcome: SessionTotals & { closedBy: ClosedBy; closeCode: number; durationMs?: number },
  ): void {
    if (!this.#sessions.ended(session, outcome)) return;
    const { closedBy, closeCode } = outcome;
    const { durationMs } = outcome;
    const server = session.server;
    if (durationMs !== undefined) {
      const code = closeCodeClass(closeCode);
      const key = this.#sessionEndKeys.of(server, code);
      if (!this.#sessionSeconds.observeSeen(key, durationMs / 1000)) {
        this.#sessionSeconds.observe(key, () => ({ server, code }), durationMs / 1000);
      }
    }
    const key = this.#sessionEndKeys.of(server, closedBy, closeCode);
    if (!this.#closeCounts.addSeen(key)) {
      this.#closeCounts.add(key, () => ({ server, side: closedBy, code: String(closeCode) }));
    }
  }

  /** Messages and bytes relayed each way by every session, ended and live: the sum of the two counters' series. */
  relayedTotals(): SessionTotals {
    const sum = this.#sessions.sum();
    const carried = this.#carried;
    if (carried === undefined) return sum;
    for (const [name, field] of [
      [MESSAGES_TOTAL, "messages"],
      [BYTES_TOTAL, "bytes"],
    ] as const) {
      for (const { labels, value } of carried.seriesOf(name)) {
        const side = labels["direction"] === "client_to_backend" ? sum.fromClient : sum.fromBackend;
        side[field] += value;
      }
    }
    return sum;
  }

  upstreamConnectFailed(pool: string, backend: string, reason: string): void {
    this.#upstreamErrors.inc({ pool, backend, reason });
  }

  httpRequestEnded(
    labels: { server: string; route: string; method: string | undefined },
    status: number,
    seconds: number,
  ): void {
    const method = methodLabel(labels.method);
    this.#httpRequests.inc({ server: labels.server, route: labels.route, method, status: String(status) });
    this.#httpSeconds.observe({ server: labels.server, route: labels.route, method }, seconds);
  }

  /** Prometheus text exposition, as GatewayControl.metrics() answers it. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
