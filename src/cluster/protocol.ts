// The IPC protocol between the primary and its workers, one place for both sides. Messages travel over node:cluster's
// channel as JSON-like data; every request carries a reqId so that late answers (after a timeout) are told apart.
import type { ConfigObject } from "../config/load.js";
import type { ChartTotals, ListenerView, SessionSummary, SessionView, StatusView } from "../control/control.js";
import type { ApplySummary } from "../gateway.js";
import type { ListenerMessage } from "../control/upgrade-protocol.js";
import type { HandOverReport } from "../proxy/handover-types.js";
import type { DrainedServer } from "../upstream/status.js";

/** One metric as prom-client's `registry.getMetricsAsJSON()` gives it; the primary aggregates them. */
export type MetricJson = object;

// ---- primary → worker ----

/** The whole object set to run; `seq` counts changes so that acknowledgements name the change they answer. */
export interface ApplyMessage {
  type: "apply";
  seq: number;
  objects: ConfigObject[];
  /** Listening sockets this primary holds (taken over by `wsgate upgrade`): a server on one listens on its fd. */
  sharedListeners?: SharedListenerFd[];
  /** After `wsgate upgrade`: the first session id a worker's gateway gives, above those of the sessions it takes. */
  firstSessionId?: number;
}

/** A listening socket a successor primary received from its predecessor, as its workers listen on it. */
export interface SharedListenerFd {
  /** Where the predecessor's worker listened: as configured (address, port) and as bound. */
  server: string;
  address: string | undefined;
  port: number;
  boundPort: number;
  /** The bound address and family, as `address()` says. */
  boundAddress: string;
  family: string;
  /** The descriptor in the primary, which node:cluster shares with the workers listening on `{ fd }`. */
  fd: number;
}

// ---- `wsgate upgrade` with workers (upgrade-primary.ts, worker-upgrade.ts) ----

/**
 * With `handles`, send every listening socket's handle (`listenerHandle`, one per message); then
 * `listenerHandlesSent`, with the first session id a successor may give.
 */
export interface ListenerHandlesRequest {
  type: "listenerHandles";
  reqId: number;
  handles: boolean;
}
/** Stop accepting (the successor's workers accept on the same sockets) and hand the sessions over. */
export interface UpgradeHandOverMessage {
  type: "upgradeHandOver";
  reqId: number;
  settleMs: number;
}
/** The upgrade failed after `upgradeHandOver`: listen again, on the sockets the primary kept (as `{ fd }`). */
export interface UpgradeAcceptAgainMessage {
  type: "upgradeAcceptAgain";
  reqId: number;
  sharedListeners: SharedListenerFd[];
}
/** The upgrade is done: serve what stayed until it ends or `drainMs`, then close it with 1001 and exit. */
export interface UpgradeDrainMessage {
  type: "upgradeDrain";
  drainMs: number;
}
export interface SessionsRequest {
  type: "sessions";
  reqId: number;
}
export interface CloseSessionRequest {
  type: "closeSession";
  reqId: number;
  /** The id as the gateway shows it ("<worker>-<n>"); each worker closes only its own. */
  id: string;
  code: number;
  reason: string;
}
/** Each worker drains its own copy of the pools (see GatewayControl.drainServer). */
export interface DrainServerRequest {
  type: "drainServer";
  reqId: number;
  server: string;
  overMs: number;
  pool?: string;
}
export interface StatusRequest {
  type: "status";
  reqId: number;
}
export interface MetricsRequest {
  type: "metrics";
  reqId: number;
}
/** The dashboard's sample: session counts and the first `rows` views (GatewayControl.sessionSummary). */
export interface SessionSummaryRequest {
  type: "sessionSummary";
  reqId: number;
  rows: number;
}
/** The dashboard's sample: the named counters' series and the relayed sums (GatewayControl.chartTotals). */
export interface ChartTotalsRequest {
  type: "chartTotals";
  reqId: number;
  counters: string[];
}
/** Drain (close every session with 1001, wait up to `drainMs`) and exit 0. */
export interface StopMessage {
  type: "stop";
  drainMs: number;
}

export type WorkerRequest =
  | SessionsRequest
  | CloseSessionRequest
  | DrainServerRequest
  | StatusRequest
  | MetricsRequest
  | SessionSummaryRequest
  | ChartTotalsRequest;
export type UpgradeRequest =
  ListenerHandlesRequest | UpgradeHandOverMessage | UpgradeAcceptAgainMessage | UpgradeDrainMessage;
export type PrimaryMessage = ApplyMessage | StopMessage | WorkerRequest | UpgradeRequest;

// ---- worker → primary ----

/** The worker is up and waits for its first `apply`. */
export interface ReadyMessage {
  type: "ready";
}
/** An `apply` is done; `listeners` are the addresses the worker serves (the real port when the config says 0). */
export interface AppliedMessage {
  type: "applied";
  seq: number;
  error?: string;
  listeners: ListenerView[];
  /** What this worker's gateway changed (absent for its first objects, and on an error). */
  summary?: ApplySummary;
}

export type Answer =
  | { kind: "sessions"; sessions: SessionView[] }
  | { kind: "closeSession"; closed: boolean }
  | { kind: "drainServer"; drained: DrainedServer[] }
  | { kind: "status"; status: StatusView }
  | { kind: "metrics"; metrics: MetricJson[] }
  | { kind: "sessionSummary"; summary: SessionSummary }
  | { kind: "chartTotals"; totals: ChartTotals };

export interface ReplyMessage {
  type: "reply";
  reqId: number;
  answer: Answer;
}

/** One listening socket; its handle (the raw `server._handle`, never accepted on by whoever receives it) comes with it. */
export interface ListenerHandleMessage {
  type: "listenerHandle";
  reqId: number;
  listener: ClusterListenerMessage;
}

/** A listener as an old primary sends it to its successor: with the bound address its workers report. */
export interface ClusterListenerMessage extends ListenerMessage {
  boundAddress: string;
  family: string;
}
export interface ListenerHandlesSentMessage {
  type: "listenerHandlesSent";
  reqId: number;
  count: number;
  /** Above every session id this worker gave (Gateway.sessionIdsForSuccessor). */
  firstSessionId: number;
}
export interface HandedOverMessage {
  type: "handedOver";
  reqId: number;
  report: HandOverReport;
}
export interface AcceptingAgainMessage {
  type: "acceptingAgain";
  reqId: number;
  error?: string;
}
export type UpgradeReply =
  ListenerHandleMessage | ListenerHandlesSentMessage | HandedOverMessage | AcceptingAgainMessage;

export type WorkerMessage = ReadyMessage | AppliedMessage | ReplyMessage | UpgradeReply;

/** The answer kind each request gets. */
export type AnswerOf<K extends WorkerRequest["type"]> = Extract<Answer, { kind: K }>;

const WORKER_MESSAGE_TYPES: ReadonlySet<string> = new Set([
  "ready",
  "applied",
  "reply",
  "listenerHandle",
  "listenerHandlesSent",
  "handedOver",
  "acceptingAgain",
]);
const PRIMARY_MESSAGE_TYPES: ReadonlySet<string> = new Set([
  "apply",
  "stop",
  "sessions",
  "closeSession",
  "drainServer",
  "status",
  "metrics",
  "sessionSummary",
  "chartTotals",
  "listenerHandles",
  "upgradeHandOver",
  "upgradeAcceptAgain",
  "upgradeDrain",
]);

function typeOf(message: unknown): string | undefined {
  if (typeof message !== "object" || message === null || !("type" in message)) return undefined;
  return typeof message.type === "string" ? message.type : undefined;
}

// Both ends are this program, so the type field is enough; other senders on the channel (prom-client's own cluster
// messages, node internals) are ignored.
export function isWorkerMessage(message: unknown): message is WorkerMessage {
  const type = typeOf(message);
  return type !== undefined && WORKER_MESSAGE_TYPES.has(type);
}

export function isPrimaryMessage(message: unknown): message is PrimaryMessage {
  const type = typeOf(message);
  return type !== undefined && PRIMARY_MESSAGE_TYPES.has(type);
}
