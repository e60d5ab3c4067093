// What the request path reports to metrics and access logs: one call per event, from the contexts (rejections,
// request ends), the WebSocketProxy (handshake answered, session ended) and the proxy filters (upstream failures).
// Each event goes to the telemetry of the gateway the request came to, which the request carries (`TrafficRecord`).
//
// The request is described by the small types below, which this module owns: the pipeline's contexts implement them,
// so pipeline/context.ts imports this module and never the other way round.
import type { IncomingMessage, ServerResponse } from "node:http";
import { performance } from "node:perf_hooks";
import type { GatewayError } from "../errors.js";
import type { AccessEntry, AccessLog } from "./access-log.js";
import type { ClosedBy } from "./metrics.js";
import { redactedPath } from "./redact.js";
import type { LiveSession } from "./sessions.js";
import type { Telemetry } from "./telemetry.js";
import { upstreamFailureReason } from "./upstream-failure-reason.js";

/** How a request was routed, as far as metrics and access lines name it. */
export interface TrafficRoute {
  /** The HTTPServer's name. */
  readonly server: string;
  /** The pipeline the route sends to; empty when nothing matched. */
  readonly pipeline: string;
  /** The route's label for status views; empty when nothing matched. */
  readonly routeLabel: string;
  /** `ruleIndex` -1: no rule matched. */
  readonly match: { readonly ruleIndex: number };
}

/** A request as its events describe it (the pipeline's contexts are these). */
export interface TrafficRecord {
  readonly req: IncomingMessage;
  readonly route: TrafficRoute;
  readonly clientIp: string;
  /** performance.now() at arrival. */
  readonly receivedAt: number;
  /** What filters learned on the way: the backend ("host:port") that served it. */
  readonly notes: { readonly backend?: string };
  /** The server's access log when it has one, as it was when the request arrived. */
  readonly accessLog: AccessLog | undefined;
  /** The gateway's telemetry: where the events are counted. */
  readonly telemetry: Telemetry;
}

/** A plain request, answered through its ServerResponse. */
export interface RequestRecord extends TrafficRecord {
  readonly res: ServerResponse;
}

/**
 * The route a request matched as metrics and logs name it: the same readable label as the session views (host then
 * path, e.g. `example.com/ws`, `*` for any host), so it survives rules moving around it; "none" when no rule matched.
 */
export function routeName(route: TrafficRoute): string {
  return route.match.ruleIndex < 0 || route.routeLabel === "" ? "none" : route.routeLabel;
}

/**
 * What an HTTP line and a WebSocket line share; each event adds its fields to this object rather than spreading it
 * into a new one (on Node 20 a spread copy that is then extended gets a map of its own, and every later access misses
 * V8's caches).
 */
function commonEntry(context: TrafficRecord): AccessEntry {
  const { req, route } = context;
  const entry: AccessEntry = {
    server: route.server,
    route: routeName(route),
    method: req.method ?? "GET",
    path: redactedPath(req.url ?? "", context.telemetry.secrets),
    clientIp: context.clientIp,
    transport: req.httpVersionMajor === 2 ? "h2" : "h1",
  };
  if (route.pipeline !== "") entry.pipeline = route.pipeline;
  if (context.notes.backend !== undefined) entry.backend = context.notes.backend;
  const userAgent = req.headers["user-agent"];
  if (userAgent !== undefined) entry.userAgent = userAgent;
  const requestId = req.headers["x-request-id"];
  if (typeof requestId === "string") entry.requestId = requestId;
  return entry;
}

function elapsedMs(context: TrafficRecord): number {
  return performance.now() - context.receivedAt;
}

function rounded(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function handshakeAnswered(context: TrafficRecord, status: number): void {
  context.telemetry.metrics.handshakeAnswered(
    { server: context.route.server, route: routeName(context.route) },
    status,
    elapsedMs(context) / 1000,
  );
}

/**
 * An upgrade answered with something else than 101: counted (by status, and by `logReason`: the error table's short
 * fixed reason), and its access line written.
 */
function handshakeRefused(
  context: TrafficRecord,
  status: number,
  reason: string,
  code: string,
  logReason: string,
): void {
  handshakeAnswered(context, status);
  context.telemetry.metrics.handshakeRefused(context.route.server, routeName(context.route), logReason);
  if (context.accessLog === undefined) return;
  const entry = commonEntry(context);
  entry.event = "websocket_rejected";
  entry.status = status;
  entry.durationMs = rounded(elapsedMs(context));
  entry.reason = reason;
  entry.code = code;
  context.accessLog.write(entry);
}

/** The gateway refused or failed an upgrade with `error` (plain requests are reported when they end). */
export function upgradeRejected(context: TrafficRecord, error: GatewayError): void {
  handshakeRefused(context, error.status, error.message, error.code, error.logReason);
}

/** The backend answered the upgrade with something else than 101; its answer was relayed to the client. */
export function upgradeRefusedByBackend(context: TrafficRecord, status: number): void {
  handshakeRefused(context, status, "backend refused the upgrade", "WSG_BACKEND_REFUSED", "backend_refused");
}

/**
 * What a session's end needs from its handshake, taken at the start so that a session keeps no request alive: the
 * metrics it is counted in, and its access log with the line's entry (an idle session without access log keeps
 * only the metrics, which every session of the gateway shares: no object of its own).
 */
export type SessionTrace =
  Telemetry["metrics"] | { metrics: Telemetry["metrics"]; accessLog: AccessLog; entry: AccessEntry };

/** The 101 is out: counts the handshake and the session; the trace is for `sessionEnded`. */
export function upgradeAccepted(context: TrafficRecord, session: LiveSession): SessionTrace {
  handshakeAnswered(context, 101);
  const metrics = context.telemetry.metrics;
  metrics.sessionStarted(session);
  const accessLog = context.accessLog;
  return accessLog === undefined ? metrics : { metrics, accessLog, entry: commonEntry(context) };
}

export interface SessionEnd {
  closedBy: ClosedBy;
  closeCode: number;
  closeReason: string;
  durationMs: number;
  fromClient: { messages: number; bytes: number; largest: number };
  fromBackend: { messages: number; bytes: number; largest: number };
}

export function sessionEnded(trace: SessionTrace, session: LiveSession, end: SessionEnd): void {
  if (!("accessLog" in trace)) {
    trace.sessionEnded(session, end);
    return;
  }
  const { metrics, accessLog, entry } = trace;
  metrics.sessionEnded(session, end);
  // The session's own entry, taken when it started, completed here: it is written once.
  entry.event = "websocket_session";
  entry.backend = session.backend;
  entry.session = session.id;
  // An extended CONNECT (RFC 8441) is accepted with :status 200, not 101.
  entry.status = entry.transport === "h2" ? 200 : 101;
  entry.durationMs = end.durationMs;
  entry.bytesIn = end.fromClient.bytes;
  entry.bytesOut = end.fromBackend.bytes;
  entry.messagesIn = end.fromClient.messages;
  entry.messagesOut = end.fromBackend.messages;
  entry.largestIn = end.fromClient.largest;
  entry.largestOut = end.fromBackend.largest;
  entry.closeCode = end.closeCode;
  entry.closeReason = end.closeReason;
  entry.closedBy = end.closedBy;
  accessLog.write(entry);
}

/**
 * A session went on in another process: no close is counted and no access-log line written here (the session is
 * not over); the totals it relayed here stay counted.
 */
export function sessionHandedOver(trace: SessionTrace, session: LiveSession, end: SessionEnd): void {
  const metrics = "accessLog" in trace ? trace.metrics : trace;
  metrics.sessionMovedOut(session, end);
}

/**
 * A plain request is over: answered in full, or cut off. `rejection`: the gateway's own refusal, if it gave one.
 * `bytes`: what the connection read and wrote while the request ran.
 */
export function requestEnded(
  context: RequestRecord,
  rejection: GatewayError | undefined,
  bytes: { read: number; written: number },
): void {
  const { res } = context;
  // 499, as nginx logs it: the client left before an answer began.
  const status = res.headersSent ? res.statusCode : 499;
  const ms = elapsedMs(context);
  context.telemetry.metrics.httpRequestEnded(
    { server: context.route.server, route: routeName(context.route), method: context.req.method },
    status,
    ms / 1000,
  );
  if (context.accessLog === undefined) return;
  const entry = commonEntry(context);
  entry.event = "http_request";
  entry.status = status;
  entry.durationMs = rounded(ms);
  entry.bytesIn = bytes.read;
  entry.bytesOut = bytes.written;
  if (rejection !== undefined) {
    entry.reason = rejection.message;
    entry.code = rejection.code;
  }
  context.accessLog.write(entry);
}

/** A backend connection or handshake failed for `context`'s request (the client's leaving is not reported). */
export function upstreamFailed(
  context: Pick<TrafficRecord, "telemetry">,
  pool: string,
  backend: string,
  error: GatewayError,
): void {
  context.telemetry.metrics.upstreamConnectFailed(pool, backend, upstreamFailureReason(error));
}
