// What the request path reports to metrics and access logs: one call per event, from the contexts (rejections,
// request ends), the WebSocketProxy (handshake answered, session ended) and the proxy filters (upstream failures).
import { performance } from "node:perf_hooks";
import type { GatewayError } from "../errors.js";
import type { HandshakeContext, RequestContext, RouteInfo, UpgradeContext } from "../pipeline/context.js";
import type { AccessEntry, AccessLog } from "./access-log.js";
import { gatewayMetrics, type ClosedBy } from "./metrics.js";
import { redactedPath } from "./redact.js";
import type { LiveSession } from "./sessions.js";
import { upstreamFailureReason } from "./upstream-failure-reason.js";

/**
 * The route a request matched as metrics and logs name it: the same readable label as the session views (host then
 * path, e.g. `example.com/ws`, `*` for any host), so it survives rules moving around it; "none" when no rule matched.
 */
export function routeName(route: RouteInfo): string {
  return route.match.ruleIndex < 0 || route.routeLabel === "" ? "none" : route.routeLabel;
}

/**
 * What an HTTP line and a WebSocket line share; each event adds its fields to this object rather than spreading it
 * into a new one (on Node 20 a spread copy that is then extended gets a map of its own, and every later access misses
 * V8's caches).
 */
function commonEntry(context: HandshakeContext): AccessEntry {
  const { req, route } = context;
  const entry: AccessEntry = {
    server: route.server,
    route: routeName(route),
    method: req.method ?? "GET",
    path: redactedPath(req.url ?? ""),
    clientIp: context.clientIp,
  };
  if (route.pipeline !== "") entry.pipeline = route.pipeline;
  if (context.notes.backend !== undefined) entry.backend = context.notes.backend;
  const userAgent = req.headers["user-agent"];
  if (userAgent !== undefined) entry.userAgent = userAgent;
  const requestId = req.headers["x-request-id"];
  if (typeof requestId === "string") entry.requestId = requestId;
  return entry;
}

function elapsedMs(context: HandshakeContext): number {
  return performance.now() - context.receivedAt;
}

function rounded(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function handshakeAnswered(context: UpgradeContext, status: number): void {
  gatewayMetrics.handshakeAnswered(
    { server: context.route.server, route: routeName(context.route) },
    status,
    elapsedMs(context) / 1000,
  );
}

/** An upgrade answered with something else than 101: counted, and its access line written. */
function handshakeRefused(context: UpgradeContext, status: number, reason: string, code: string): void {
  handshakeAnswered(context, status);
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
export function upgradeRejected(context: UpgradeContext, error: GatewayError): void {
  handshakeRefused(context, error.status, error.message, error.code);
}

/** The backend answered the upgrade with something else than 101; its answer was relayed to the client. */
export function upgradeRefusedByBackend(context: UpgradeContext, status: number): void {
  handshakeRefused(context, status, "backend refused the upgrade", "WSG_BACKEND_REFUSED");
}

/** 101 sent: the session starts. */
/** What a session's end line needs from its handshake, taken at the start so that a session keeps no request alive. */
export interface SessionTrace {
  accessLog: AccessLog;
  entry: AccessEntry;
}

/** The 101 is out: counts the handshake and the session; the trace is for `sessionEnded` (none without access log). */
export function upgradeAccepted(context: UpgradeContext, session: LiveSession): SessionTrace | undefined {
  handshakeAnswered(context, 101);
  gatewayMetrics.sessionStarted(session);
  const accessLog = context.accessLog;
  return accessLog === undefined ? undefined : { accessLog, entry: commonEntry(context) };
}

export interface SessionEnd {
  closedBy: ClosedBy;
  closeCode: number;
  closeReason: string;
  durationMs: number;
  fromClient: { messages: number; bytes: number };
  fromBackend: { messages: number; bytes: number };
}

export function sessionEnded(trace: SessionTrace | undefined, session: LiveSession, end: SessionEnd): void {
  gatewayMetrics.sessionEnded(session, end);
  if (trace === undefined) return;
  // The session's own entry, taken when it started, completed here: it is written once.
  const entry = trace.entry;
  entry.event = "websocket_session";
  entry.backend = session.backend;
  entry.session = session.id;
  entry.status = 101;
  entry.durationMs = end.durationMs;
  entry.bytesIn = end.fromClient.bytes;
  entry.bytesOut = end.fromBackend.bytes;
  entry.messagesIn = end.fromClient.messages;
  entry.messagesOut = end.fromBackend.messages;
  entry.closeCode = end.closeCode;
  entry.closeReason = end.closeReason;
  entry.closedBy = end.closedBy;
  trace.accessLog.write(entry);
}

/**
 * A plain request is over: answered in full, or cut off. `rejection`: the gateway's own refusal, if it gave one.
 * `bytes`: what the connection read and wrote while the request ran.
 */
export function requestEnded(
  context: RequestContext,
  rejection: GatewayError | undefined,
  bytes: { read: number; written: number },
): void {
  const { res } = context;
  // 499, as nginx logs it: the client left before an answer began.
  const status = res.headersSent ? res.statusCode : 499;
  const ms = elapsedMs(context);
  gatewayMetrics.httpRequestEnded(
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

/** A backend connection or handshake failed (the client's leaving is not reported). */
export function upstreamFailed(pool: string, backend: string, error: GatewayError): void {
  gatewayMetrics.upstreamConnectFailed(pool, backend, upstreamFailureReason(error));
}
