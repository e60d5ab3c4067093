/**
 * Every failure wsgate names, as data: one row per stable `WSG_` code, in one of three tables, and one root class per
 * table (after undici's lib/core/errors.js and pingora's error type).
 * - TRAFFIC_ERRORS, root GatewayError: a request or session refused or failed on the traffic path. Each row says the
 *   HTTP status (or the WebSocket close code, after the 101), who caused it, whether another backend may be tried,
 *   the short fixed reason logs and metrics label it with, and what the client reads.
 * - API_ERRORS, root ApiError: an admin API request refused, with the status of the answer.
 * - STARTUP_ERRORS, root StartupError: the process cannot start, with its exit code.
 * A class's code selects its row; test/errors/error-table.test.ts checks that every code in src/ is a row's.
 */

/** Who caused a failure: the client, a backend, or the gateway itself. */
export type FailureSide = "client" | "upstream" | "gateway";

/** One traffic failure. */
export interface TrafficRow {
  /** The HTTP status of the gateway's answer; absent after the 101 (frames) or when the backend's own is relayed. */
  readonly status?: number;
  /** The WebSocket close code that answers it, for failures inside a session. */
  readonly closeCode?: number;
  /** Who caused it; "peer" for a frame failure: whichever side sent the frame. */
  readonly side: FailureSide | "peer";
  /** Another backend may be tried: nothing reached the one that failed. */
  readonly retryable: boolean;
  /** Short, fixed, snake_case: the `reason` of logs and metrics, never grown by a message (bounded label sets). */
  readonly logReason: string;
  /**
   * What the client reads unless its HTTPServer sets `exposeErrors` (the body of the answer, or the close reason):
   * null for the error's own message (the client's own mistakes, said as they are); otherwise words that name no
   * backend address, pool, filter or internal host.
   */
  readonly publicReason: string | null;
}

// Close codes (RFC 6455 7.4.1), as numbers: the protocol module sits above this file.
const PROTOCOL_ERROR = 1002;
const INVALID_PAYLOAD = 1007;
const MESSAGE_TOO_BIG = 1009;
const POLICY_VIOLATION = 1008;
const UNSUPPORTED_DATA = 1003;

const GATEWAY_FAILED = "gateway error";
const BACKEND_FAILED = "backend failed";

/** A row of a failure answered with an HTTP status. */
interface HttpRow extends TrafficRow {
  readonly status: number;
  readonly side: FailureSide;
}

/** A row of a failure inside a session. */
interface FrameRow extends TrafficRow {
  readonly closeCode: number;
  readonly publicReason: string;
}

/** A refusal of the client's own request: its status, nothing retried, the message as the client reads it. */
function byClient(status: number, logReason: string): HttpRow {
  return { status, side: "client", retryable: false, logReason, publicReason: null };
}

/** A frame that breaks the protocol: closed with `closeCode`, `publicReason` the close frame's reason. */
function badFrame(logReason: string, publicReason: string, closeCode = PROTOCOL_ERROR): FrameRow {
  return { closeCode, side: "peer", retryable: false, logReason, publicReason };
}

export const TRAFFIC_ERRORS = {
  // The request itself (server/, pipeline/).
  WSG_ROUTE_NOT_FOUND: byClient(404, "route_not_found"),
  WSG_METHOD_NOT_ALLOWED: byClient(405, "method_not_allowed"),
  WSG_UPGRADE_REQUIRED: byClient(426, "upgrade_required"),
  WSG_BAD_HANDSHAKE: byClient(400, "bad_client_handshake"),
  WSG_UNSUPPORTED_VERSION: byClient(426, "unsupported_version"),
  WSG_TARGET_MALFORMED: byClient(400, "target_malformed"),
  WSG_TARGET_CONTROL: byClient(400, "target_control"),
  WSG_TARGET_ENCODED_SLASH: byClient(400, "target_encoded_slash"),
  WSG_TARGET_BACKSLASH: byClient(400, "target_backslash"),
  WSG_TARGET_PATH_PARAMETER: byClient(400, "target_path_parameter"),
  WSG_TARGET_AUTHORITY_MISMATCH: byClient(400, "target_authority_mismatch"),
  WSG_BAD_FORWARDED_FOR: byClient(400, "bad_forwarded_for"),
  WSG_DUPLICATE_HEADER: byClient(400, "duplicate_header"),
  WSG_TOO_MANY_HEADERS: byClient(431, "too_many_headers"),
  WSG_CLIENT_SHARE_EXCEEDED: byClient(429, "client_share_exceeded"),
  WSG_BODY_TOO_LARGE: byClient(413, "body_too_large"),
  WSG_UPGRADE_NOT_SERVED: byClient(400, "upgrade_not_served"),
  WSG_UNFRAMABLE_BODY: byClient(400, "unframable_body"),
  // Handshake filters' refusals (HandshakeRefusedError): the filter gives the headers and, if any, the public text.
  WSG_IP_BLOCKED: byClient(403, "ip_blocked"),
  WSG_ORIGIN_FORBIDDEN: byClient(403, "origin_forbidden"),
  WSG_MAX_CONNECTIONS: byClient(429, "max_connections"),
  WSG_MAX_CONNECTIONS_PER_IP: byClient(429, "max_connections_per_ip"),
  WSG_VALIDATION_HEADER: byClient(403, "validation_header"),
  WSG_VALIDATION_JWT: byClient(401, "validation_jwt"),
  WSG_VALIDATION_BASIC: byClient(401, "validation_basic"),
  WSG_VALIDATION_CERT: byClient(403, "validation_cert"),
  WSG_RATE_LIMITED: byClient(429, "rate_limited"),
  WSG_DUPLICATE_TOKEN: byClient(400, "duplicate_token"),
  // The gateway: nothing to route to, too busy, or its own flow broke.
  WSG_NO_UPSTREAM: {
    status: 503,
    side: "gateway",
    retryable: false,
    logReason: "no_upstream",
    publicReason: "no backend available",
  },
  // Names only the route's limit.
  WSG_ROUTE_BUSY: { status: 503, side: "gateway", retryable: false, logReason: "route_busy", publicReason: null },
  WSG_AUTH_BUSY: {
    status: 503,
    side: "gateway",
    retryable: false,
    logReason: "auth_busy",
    publicReason: "too many credential checks pending; try again",
  },
  WSG_PIPELINE_NO_ANSWER: {
    status: 500,
    side: "gateway",
    retryable: false,
    logReason: "pipeline_no_answer",
    publicReason: GATEWAY_FAILED,
  },
  WSG_FILTER_FAILED: {
    status: 500,
    side: "gateway",
    retryable: false,
    logReason: "filter_failed",
    publicReason: GATEWAY_FAILED,
  },
  // A backend: connecting (nothing reached it: retryable), its handshake, its answer.
  WSG_UPSTREAM_CONNECT: {
    status: 502,
    side: "upstream",
    retryable: true,
    // Refined from the errno by UpstreamConnectError ("connection_refused", ...).
    logReason: "connect_failed",
    publicReason: "backend unreachable",
  },
  WSG_UPSTREAM_DIAL_TIMEOUT: {
    status: 504,
    side: "upstream",
    retryable: true,
    logReason: "dial_timeout",
    publicReason: "backend did not accept the connection in time",
  },
  WSG_UPSTREAM_TLS: {
    status: 502,
    side: "upstream",
    retryable: true,
    logReason: "tls",
    publicReason: "TLS handshake with the backend failed",
  },
  WSG_UPSTREAM_HANDSHAKE_TIMEOUT: {
    status: 504,
    side: "upstream",
    retryable: false,
    logReason: "handshake_timeout",
    publicReason: "backend did not answer the upgrade in time",
  },
  WSG_UPSTREAM_BAD_HANDSHAKE: {
    status: 502,
    side: "upstream",
    retryable: false,
    logReason: "bad_handshake",
    publicReason: "backend answered the upgrade wrongly",
  },
  WSG_UPSTREAM_RESET: {
    status: 502,
    side: "upstream",
    retryable: false,
    logReason: "reset_during_handshake",
    publicReason: "backend closed the connection during the handshake",
  },
  WSG_UPSTREAM_NO_ANSWER: {
    status: 502,
    side: "upstream",
    retryable: false,
    logReason: "no_answer",
    publicReason: "backend closed the connection without answering",
  },
  WSG_UPSTREAM_RESPONSE_TIMEOUT: {
    status: 504,
    side: "upstream",
    retryable: false,
    logReason: "response_timeout",
    publicReason: "backend did not answer in time",
  },
  // The backend answered the upgrade with another status: its own answer is relayed, so no status of ours.
  WSG_BACKEND_REFUSED: {
    side: "upstream",
    retryable: false,
    logReason: "backend_refused",
    publicReason: "backend refused the upgrade",
  },
  // Inside a session: a peer's frame broke the protocol (websocket/frame-error.ts).
  WSG_FRAME_RESERVED_OPCODE: badFrame("frame_reserved_opcode", "reserved opcode"),
  WSG_FRAME_RSV_BITS: badFrame("frame_rsv_bits", "RSV bits not negotiated"),
  WSG_FRAME_CONTROL_TOO_LONG: badFrame("frame_control_too_long", "control frame over 125 bytes"),
  WSG_FRAME_CONTROL_FRAGMENTED: badFrame("frame_control_fragmented", "fragmented control frame"),
  WSG_FRAME_MASK_MISSING: badFrame("frame_mask_missing", "frame not masked"),
  WSG_FRAME_MASK_UNEXPECTED: badFrame("frame_mask_unexpected", "masked frame from a server"),
  WSG_FRAME_UNEXPECTED_CONTINUATION: badFrame("frame_unexpected_continuation", "continuation without a message"),
  WSG_FRAME_EXPECTED_CONTINUATION: badFrame("frame_expected_continuation", "new message before the last one ended"),
  WSG_FRAME_LENGTH_MSB: badFrame("frame_length_msb", "64-bit length with the top bit set"),
  WSG_FRAME_MESSAGE_TOO_BIG: badFrame("frame_message_too_big", "message too big", MESSAGE_TOO_BIG),
  WSG_FRAME_CLOSE_LENGTH: badFrame("frame_close_length", "close payload of 1 byte"),
  WSG_FRAME_CLOSE_CODE: badFrame("frame_close_code", "invalid close code"),
  WSG_FRAME_CLOSE_UTF8: badFrame("frame_close_utf8", "close reason is not UTF-8", INVALID_PAYLOAD),
  // Inside a session: a peer's frame broke a limit of the route (websocket/frame-policy.ts).
  WSG_FRAME_TOO_BIG: badFrame("frame_too_big", "frame too big", MESSAGE_TOO_BIG),
  WSG_FRAME_TOO_MANY_FRAGMENTS: badFrame("frame_too_many_fragments", "too many fragments", POLICY_VIOLATION),
  WSG_FRAME_CONTROL_RATE: badFrame("frame_control_rate", "control frame rate exceeded", POLICY_VIOLATION),
  WSG_FRAME_TEXT_NOT_ALLOWED: badFrame("frame_text_not_allowed", "text messages not accepted", UNSUPPORTED_DATA),
  WSG_FRAME_BINARY_NOT_ALLOWED: badFrame("frame_binary_not_allowed", "binary messages not accepted", UNSUPPORTED_DATA),
} as const satisfies Readonly<Record<`WSG_${string}`, TrafficRow>>;

export type TrafficCode = keyof typeof TRAFFIC_ERRORS;

/** The codes a handshake filter may refuse with (HandshakeRefusedError, tooManyRequests). */
export type HandshakeRefusalCode =
  | "WSG_IP_BLOCKED"
  | "WSG_ORIGIN_FORBIDDEN"
  | "WSG_MAX_CONNECTIONS"
  | "WSG_MAX_CONNECTIONS_PER_IP"
  | "WSG_VALIDATION_HEADER"
  | "WSG_VALIDATION_JWT"
  | "WSG_VALIDATION_BASIC"
  | "WSG_VALIDATION_CERT"
  | "WSG_RATE_LIMITED";

/** The codes of failures inside a session: a close code, no HTTP status. */
export type FrameFailureCode = Extract<TrafficCode, `WSG_FRAME_${string}`>;

/** The row of `code`; undefined for a code no row has (a test keeps src/ free of those). */
export function trafficRow(code: string): TrafficRow | undefined {
  return Object.hasOwn(TRAFFIC_ERRORS, code) ? TRAFFIC_ERRORS[code as TrafficCode] : undefined;
}

/**
 * A request or session the gateway refuses or fails, on the traffic path. Subclasses are thin: `trafficError(code)`
 * gives one its code, status, side and retryable from its row; it adds the message and any headers.
 */
export abstract class GatewayError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  abstract readonly side: FailureSide;
  readonly retryable: boolean = false;
  /** Extra response headers, e.g. Sec-WebSocket-Version on a 426. */
  readonly headers: Readonly<Record<string, string>> = {};
  /** Under overload: let go of the connection as soon as the answer is out, without waiting for the client. */
  readonly shed: boolean = false;

  /**
   * What the client is told unless its HTTPServer sets `exposeErrors` (the message goes to the logs either way): the
   * row's public reason, or the message itself where the row says so.
   */
  get publicReason(): string {
    const row = trafficRow(this.code);
    if (row !== undefined) return row.publicReason ?? this.message;
    return this.side === "client" ? this.message : this.side === "upstream" ? BACKEND_FAILED : GATEWAY_FAILED;
  }

  /** The row's `logReason`: what logs and metrics label this failure with. */
  get logReason(): string {
    return trafficRow(this.code)?.logReason ?? this.code.replace(/^WSG_/, "").toLowerCase();
  }
}

/** The body text of a refusal: the whole message when `exposeErrors` is set, else the public reason. */
export function clientReason(error: GatewayError, exposeErrors: boolean): string {
  return exposeErrors ? error.message : error.publicReason;
}

/** The base of a traffic error class whose code, status, side and retryable are its row's. */
export function trafficError<C extends TrafficCode>(code: C) {
  const row: TrafficRow = TRAFFIC_ERRORS[code];
  const { status, side } = row;
  if (status === undefined || side === "peer") throw new Error(`${code} has no HTTP status: it is not a GatewayError`);
  abstract class TrafficErrorOfRow extends GatewayError {
    readonly code: C = code;
    readonly status: number = status as number;
    readonly side: FailureSide = side as FailureSide;
    override readonly retryable: boolean = row.retryable;
  }
  return TrafficErrorOfRow;
}

export class RouteNotFoundError extends trafficError("WSG_ROUTE_NOT_FOUND") {
  constructor() {
    super("no route matches");
  }
}

export class MethodNotAllowedError extends trafficError("WSG_METHOD_NOT_ALLOWED") {
  override readonly headers = { Allow: "GET" };
  constructor(method: string) {
    super(`method ${method} cannot open a WebSocket (use GET)`);
  }
}

export class UpgradeRequiredError extends trafficError("WSG_UPGRADE_REQUIRED") {
  override readonly headers = { Upgrade: "websocket", Connection: "Upgrade" };
  constructor() {
    super("this route serves WebSocket only: send an Upgrade: websocket request");
  }
}

export class BadHandshakeError extends trafficError("WSG_BAD_HANDSHAKE") {}

export class UnsupportedVersionError extends trafficError("WSG_UNSUPPORTED_VERSION") {
  override readonly headers = { "Sec-WebSocket-Version": "13" };
  constructor(version: string) {
    super(`unsupported Sec-WebSocket-Version '${version}' (this gateway speaks 13)`);
  }
}

export class NoUpstreamError extends trafficError("WSG_NO_UPSTREAM") {
  override readonly headers: Readonly<Record<string, string>>;
  /** `retryAfterSeconds`: when a retry may find a server again (e.g. after the next health check). */
  constructor(retryAfterSeconds = 5, message = "no backend available") {
    super(message);
    this.headers = { "Retry-After": String(retryAfterSeconds) };
  }
}

export class RouteBusyError extends trafficError("WSG_ROUTE_BUSY") {
  override readonly headers = { "Retry-After": "1" };
  override readonly shed = true;
  constructor(limit: number) {
    super(`too many handshakes pending on this route (${limit}); try again`);
  }
}

export class UpstreamConnectError extends trafficError("WSG_UPSTREAM_CONNECT") {
  /** `reason`: the errno (ECONNREFUSED) or its reading ("connection refused"). */
  constructor(
    readonly backend: string,
    readonly reason: string,
  ) {
    super(`cannot connect to backend ${backend}: ${reason}`);
  }

  /** "connection_refused" and the like for the usual errno codes, else the row's "connect_failed". */
  override get logReason(): string {
    const reading = errnoReason(this.reason);
    return ERRNO_READINGS.has(reading) ? reading.replaceAll(" ", "_") : super.logReason;
  }
}

export class UpstreamDialTimeoutError extends trafficError("WSG_UPSTREAM_DIAL_TIMEOUT") {
  constructor(readonly backend: string) {
    super(`backend ${backend} did not accept the connection in time`);
  }
}

export class UpstreamHandshakeTimeoutError extends trafficError("WSG_UPSTREAM_HANDSHAKE_TIMEOUT") {
  constructor(readonly backend: string) {
    super(`backend ${backend} did not answer the upgrade in time`);
  }
}

export class UpstreamHandshakeError extends trafficError("WSG_UPSTREAM_BAD_HANDSHAKE") {
  constructor(
    readonly backend: string,
    readonly reason: string,
  ) {
    super(`backend ${backend} answered the upgrade wrongly: ${reason}`);
  }
}

export class UpstreamResetError extends trafficError("WSG_UPSTREAM_RESET") {
  constructor(
    readonly backend: string,
    readonly reason: string,
  ) {
    super(`backend ${backend} closed the connection during the handshake: ${reason}`);
  }
}

/** Why a request-target was refused (src/server/request-target.ts); each a stable code of RequestTargetError. */
export type RequestTargetRefusal = Extract<TrafficCode, `WSG_TARGET_${string}`>;

/** A request-target two parsers could read differently, or not a target at all: refused before routing. */
export class RequestTargetError extends GatewayError {
  readonly status: number;
  readonly side: FailureSide = "client";
  constructor(
    readonly code: RequestTargetRefusal,
    reason: string,
  ) {
    super(reason);
    this.status = TRAFFIC_ERRORS[code].status ?? 400;
  }
}

/** A trusted proxy's X-Forwarded-For holds something that is not an IP address: no client address can be read. */
export class InvalidForwardedForError extends trafficError("WSG_BAD_FORWARDED_FOR") {
  constructor() {
    super("invalid X-Forwarded-For: every element must be an IP address");
  }
}

/**
 * Basic auth's password check cannot run now: its queue is full (a flood of guesses), refused at once rather than
 * queued without end; or the check was stopped with its pool. Never a pass.
 */
export class CredentialCheckBusyError extends trafficError("WSG_AUTH_BUSY") {
  override readonly headers = { "Retry-After": "1" };
  override readonly shed = true;
}

/** A header that must come once came twice (Host, Authorization): two parsers could each take a different copy. */
export class DuplicateHeaderError extends trafficError("WSG_DUPLICATE_HEADER") {
  constructor(name: string) {
    super(`more than one ${name} header`);
  }
}

/** More request headers than the gateway keeps (`clientMaxHeaders`): refused rather than cut short. */
export class TooManyHeadersError extends trafficError("WSG_TOO_MANY_HEADERS") {
  constructor(limit: number) {
    super(`more than ${limit} request headers`);
  }
}

/** The token came in more than one copy: the backend might read another copy than the one the gateway checked. */
export class DuplicateTokenError extends trafficError("WSG_DUPLICATE_TOKEN") {
  constructor(where: string) {
    super(`more than one token (${where})`);
  }
}

/** One client address already holds its share of an HTTPServer's connections (`maxConnectionsPerIP`). */
export class ClientShareExceededError extends trafficError("WSG_CLIENT_SHARE_EXCEEDED") {
  override readonly headers = { "Retry-After": "1" };
  override readonly shed = true;
  constructor(limit: number) {
    super(`this client address holds its share of the server's connections (${limit})`);
  }
}

// How the usual errno codes read in health log lines and connect-failure labels.
const BY_ERRNO: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  EPIPE: "connection reset",
  ETIMEDOUT: "timeout",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found",
};

const ERRNO_READINGS: ReadonlySet<string> = new Set(Object.values(BY_ERRNO));

/** "connection refused" for ECONNREFUSED and the like; the code (or text) itself otherwise. */
export function errnoReason(code: string): string {
  return BY_ERRNO[code] ?? code;
}

/** One problem in the configuration, placed where the user can fix it (formatted by src/config/errors.ts). */
export interface ConfigError {
  /** The file as the user named it (or as found in a directory they named). */
  file: string;
  /** 1-based line of the offending value (or key, or parent map); 0 when the problem is the whole file. */
  line: number;
  /** 1-based column on that line; 0 when line is 0. */
  column: number;
  /** The object, as "<kind in lower case> <name>", e.g. "pipeline ws-rr". */
  object?: string;
  /** The filter name when the problem is inside a pipeline's filter. */
  filter?: string;
  /** Where in the object (or in the filter, when `filter` is set), e.g. "pools[0].loadBalance.policy". */
  path: string;
  message: string;
  /** The offending value, when there is one. */
  value?: unknown;
}

/** One admin API failure: the status of the answer (its body is `{error, code, errors}`). */
export interface ApiRow {
  readonly status: number;
}

export const API_ERRORS = {
  // The request itself (admin/).
  WSG_UNAUTHORIZED: { status: 401 },
  WSG_ADMIN_HOST: { status: 421 },
  WSG_ADMIN_ORIGIN: { status: 403 },
  WSG_DUPLICATE_HOST: { status: 400 },
  WSG_PATH_NOT_FOUND: { status: 404 },
  WSG_ADMIN_METHOD_NOT_ALLOWED: { status: 405 },
  WSG_ADMIN_BODY_TOO_LARGE: { status: 413 },
  WSG_UNSUPPORTED_MEDIA_TYPE: { status: 415 },
  WSG_SECRETS_NEED_TOKEN: { status: 403 },
  WSG_INVALID_QUERY: { status: 400 },
  WSG_INVALID_REVISION: { status: 400 },
  WSG_INVALID_DRAIN: { status: 400 },
  WSG_NO_CLUSTER: { status: 404 },
  // The dashboard (admin/dashboard/).
  WSG_TOO_MANY_STREAMS: { status: 503 },
  WSG_DASHBOARD_NOT_BUILT: { status: 503 },
  // The objects it sends.
  WSG_INVALID_OBJECT: { status: 400 },
  WSG_NOT_ONE_OBJECT: { status: 400 },
  WSG_NAME_MISMATCH: { status: 400 },
  WSG_KIND_CHANGE: { status: 400 },
  WSG_PIPELINE_IN_USE: { status: 400 },
  // The gateway it drives (control/).
  WSG_INVALID_CLOSE_CODE: { status: 400 },
  WSG_SESSION_NOT_FOUND: { status: 404 },
  WSG_SERVER_NOT_FOUND: { status: 404 },
  WSG_APPLY_FAILED: { status: 500 },
  WSG_OBJECT_FROM_FILE: { status: 409 },
  WSG_STATE_NOT_SAVED: { status: 500 },
  WSG_API_OBJECTS_OFF: { status: 409 },
  WSG_GATEWAY_STOPPED: { status: 500 },
  // `wsgate upgrade` (control/upgrade.ts).
  WSG_UPGRADE_FAILED: { status: 500 },
  WSG_UPGRADE_BUSY: { status: 409 },
  WSG_UPGRADE_UNSUPPORTED: { status: 409 },
  // The object stores (memory, etcd).
  WSG_OBJECT_EXISTS: { status: 409 },
  WSG_OBJECT_NOT_FOUND: { status: 404 },
  WSG_STALE_REVISION: { status: 409 },
  WSG_STORE_UNAVAILABLE: { status: 503 },
  // Anything else that escaped a handler.
  WSG_INTERNAL: { status: 500 },
} as const satisfies Readonly<Record<`WSG_${string}`, ApiRow>>;

export type ApiCode = keyof typeof API_ERRORS;

/** An admin API request refused or failed, answered as it is: a stable code and the HTTP status of the answer. */
export abstract class ApiError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
  readonly headers: Readonly<Record<string, string>> = {};
  /** Configuration errors, each placed in the request body or in the stored objects. */
  readonly errors: readonly ConfigError[] = [];
}

/** The base of an admin API error class whose code and status are its row's. */
export function apiError<C extends ApiCode>(code: C) {
  const row: ApiRow = API_ERRORS[code];
  abstract class ApiErrorOfRow extends ApiError {
    readonly code: C = code;
    readonly status: number = row.status;
  }
  return ApiErrorOfRow;
}

/** Failures of the object stores (memory, etcd). */
export abstract class ObjectStoreError extends ApiError {}

function objectStoreError<C extends ApiCode>(code: C) {
  const row: ApiRow = API_ERRORS[code];
  abstract class ObjectStoreErrorOfRow extends ObjectStoreError {
    readonly code: C = code;
    readonly status: number = row.status;
  }
  return ObjectStoreErrorOfRow;
}

export class ObjectExistsError extends objectStoreError("WSG_OBJECT_EXISTS") {
  constructor(name: string) {
    super(`object ${name} already exists`);
  }
}

export class ObjectNotFoundError extends objectStoreError("WSG_OBJECT_NOT_FOUND") {
  constructor(name: string) {
    super(`object ${name} not found`);
  }
}

export class StaleRevisionError extends objectStoreError("WSG_STALE_REVISION") {
  constructor(name: string, expected: number, actual: number) {
    super(`object ${name} changed since revision ${expected} (now ${actual}): read it again and retry`);
  }
}

/** The cluster store (etcd) cannot be reached: a write is refused; reads still answer from the last known state. */
export class StoreUnavailableError extends objectStoreError("WSG_STORE_UNAVAILABLE") {
  constructor(what: string, reason: string) {
    super(`cannot ${what}: the cluster store is unavailable (${reason}); try again when it is back`);
  }
}

/** One start-up failure: the process's exit code (2: the command line or the settings; 1: the rest). */
export interface StartupRow {
  readonly exitCode: number;
}

export const STARTUP_ERRORS = {
  // The command line: fix the flags and run again.
  WSG_USAGE: { exitCode: 2 },
  WSG_STORE_FLAGS: { exitCode: 2 },
  // The settings the gateway or its admin listener cannot start with (a port in use, an unreadable file).
  WSG_START_FAILED: { exitCode: 2 },
  WSG_LISTEN_FAILED: { exitCode: 2 },
  WSG_CLUSTER_START_FAILED: { exitCode: 2 },
  // The configuration or the cluster store: a supervisor may try again later.
  WSG_CONFIG_INVALID: { exitCode: 1 },
  WSG_STORE_START_TIMEOUT: { exitCode: 1 },
  WSG_SEED_INVALID: { exitCode: 1 },
  WSG_CLUSTER_OBJECTS_INVALID: { exitCode: 1 },
} as const satisfies Readonly<Record<`WSG_${string}`, StartupRow>>;

export type StartupCode = keyof typeof STARTUP_ERRORS;

/** The exit code of a failure to start that is none of the table's (a bug, a store error, an unreadable file). */
export const UNEXPECTED_EXIT_CODE = 1;

/** The process cannot start: one line (or the lines of `report`) on stderr, and its row's exit code. */
export abstract class StartupError extends Error {
  abstract readonly code: string;
  abstract readonly exitCode: number;
  /** What stderr gets: `wsgate: ` and the message, unless the error has its own lines (config errors). */
  report(): string {
    return `wsgate: ${this.message}\n`;
  }
}

/** The base of a start-up error class whose code and exit code are its row's. */
export function startupError<C extends StartupCode>(code: C) {
  const row: StartupRow = STARTUP_ERRORS[code];
  abstract class StartupErrorOfRow extends StartupError {
    readonly code: C = code;
    readonly exitCode: number = row.exitCode;
  }
  return StartupErrorOfRow;
}

/** The exit code `error` asks for: its row's, or 1 for anything unforeseen. */
export function exitCodeOf(error: unknown): number {
  return error instanceof StartupError ? error.exitCode : UNEXPECTED_EXIT_CODE;
}

/** A member started while its store is down gave up waiting: the CLI exits non-zero with this message. */
export class StoreStartTimeoutError extends startupError("WSG_STORE_START_TIMEOUT") {
  constructor(endpoints: readonly string[], waitedMs: number, reason: string) {
    super(`etcd at ${endpoints.join(",")} did not answer within ${waitedMs} ms (${reason}); not starting`);
  }
}

/**
 * The TLS handshake with a backend failed: its certificate did not verify (CERT_HAS_EXPIRED,
 * UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID, ...), or it refused ours, or it does not speak TLS.
 * Another server of the pool may still be tried. (Moved here from websocket/backend-handshake.ts by the core engineer:
 * both proxies and the health checks meet it, through upstream/connect/failure.ts.)
 */
export class UpstreamTlsError extends trafficError("WSG_UPSTREAM_TLS") {
  constructor(
    readonly backend: string,
    /** OpenSSL's or Node's code, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE. */
    readonly tlsCode: string,
    readonly detail: string,
  ) {
    super(`TLS handshake with backend ${backend} failed: ${tlsCode}${detail === tlsCode ? "" : ` (${detail})`}`);
  }
}

/** The WebSocketProxy's `originPatterns` refused the request's Origin (cross-site WebSocket hijacking). */
export class OriginForbiddenError extends trafficError("WSG_ORIGIN_FORBIDDEN") {
  constructor(origin: string) {
    super(`origin '${origin.slice(0, 100)}' is not allowed`);
  }
}

/** The WebSocketProxy's `maxConnections` are all in use. */
export class ConnectionLimitError extends trafficError("WSG_MAX_CONNECTIONS") {
  override readonly headers = { "Retry-After": "1" };
  constructor(limit: number) {
    super(`connection limit reached (${limit})`);
  }
}

/** One client address holds the WebSocketProxy's `maxConnectionsPerIP`. */
export class ConnectionLimitPerIpError extends trafficError("WSG_MAX_CONNECTIONS_PER_IP") {
  override readonly headers = { "Retry-After": "1" };
  constructor(limit: number) {
    super(`connection limit per client IP reached (${limit})`);
  }
}
