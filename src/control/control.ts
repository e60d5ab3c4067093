import type { DrainedServer, PoolStatus } from "../upstream/status.js";
import type { ObjectStore } from "./object-store.js";
import type { ObjectSources } from "./object-sources.js";

/** A live WebSocket session as the admin API and `wsgate sessions` show it. */
export interface SessionView {
  /** Unique in the gateway: "<n>", or "<worker>-<n>" when several workers run. */
  id: string;
  server: string;
  /** The route the upgrade matched (rule host and path). */
  route: string;
  pipeline: string;
  backend: string;
  client: string;
  clientIp: string;
  startedAt: string;
  ageMs: number;
  clientMessages: number;
  clientBytes: number;
  backendMessages: number;
  backendBytes: number;
  /** The negotiated subprotocol; absent when none was. */
  protocol?: string;
  /** `h1`: the client's own HTTP/1.1 connection; `h2`: a stream of an HTTP/2 connection (RFC 8441). */
  transport?: "h1" | "h2";
  /** When the gateway will close the session (ms since epoch); absent when it has no deadline. */
  deadline?: number;
  worker?: number;
}

export interface ListenerView {
  server: string;
  /** As bound, without an IPv4-mapped prefix: "127.0.0.1", "::1", "::" (every address). */
  address: string;
  port: number;
  /** Address and port as one shows them: "127.0.0.1:8080", "[::1]:8080", "*:8080" (every address). */
  endpoint: string;
}

/** What `GET /apis/v2/status/objects` answers: per object, and the pools with their servers. */
export interface StatusView {
  listeners: ListenerView[];
  pools: PoolStatus[];
  sessions: number;
  /** The last config change that could not be applied (e.g. a port in use), if the latest one failed. */
  lastApplyError?: string;
}

/** Live sessions counted per HTTPServer, route ("<server> <route>") and backend, and the first few of them. */
export interface SessionSummary {
  count: number;
  counts: { servers: Record<string, number>; routes: Record<string, number>; backends: Record<string, number> };
  /** The first `rows` sessions, oldest first. */
  first: SessionView[];
}

/** One counter's series, as prom-client's `get()` gives them. */
export interface CounterSeries {
  name: string;
  values: Array<{ labels: Record<string, string | number | undefined>; value: number }>;
}

/** What the dashboard charts, read straight from the telemetry rather than rendered as text and parsed back. */
export interface ChartTotals {
  /** Messages and bytes relayed each way, by every session so far. */
  relayed: { fromClient: { messages: number; bytes: number }; fromBackend: { messages: number; bytes: number } };
  /** The series of the counters asked for (absent names are left out). */
  counters: CounterSeries[];
}

/**
 * The running gateway as the admin API drives it, whether it runs in this process or in workers behind a primary.
 * Object changes go through `store`; the control applies every change the store reports.
 */
export interface GatewayControl {
  readonly store: ObjectStore;
  /** On a gateway run from files: which objects the files define (not writable here) and where the API's are saved. */
  readonly sources?: ObjectSources | undefined;
  sessions(): Promise<SessionView[]>;
  /** Closes one session as the gateway, with `code`; false when no session has that id. */
  closeSession(id: string, code: number, reason: string): Promise<boolean>;
  /**
   * Takes the upstream servers `server` names ("host:port" or URL) out of every pool, or of `pool` only: no new
   * connections, live sessions closed with 1001 over `overMs`. Empty when no pool has such a server.
   */
  drainServer(server: string, overMs: number, pool?: string): Promise<DrainedServer[]>;
  status(): Promise<StatusView>;
  /** Prometheus text exposition of the whole gateway. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /**
   * Cheap reads for the dashboard's once-a-second sample (control/dashboard-reads.ts); optional, so that a control
   * without them (a test's, an embedder's) is read through `sessions()` and `metrics()` instead.
   */
  sessionSummary?(rows: number): Promise<SessionSummary>;
  chartTotals?(counters: readonly string[]): Promise<ChartTotals>;
  /** Resolves once every change reported so far is applied; the error of the last one, if it failed. */
  settled(): Promise<string | undefined>;
}
