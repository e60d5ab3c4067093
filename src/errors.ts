/**
 * Every way a request can fail before its WebSocket is relayed, one class each: a stable code for logs and metrics,
 * the HTTP status the client gets, who caused it, and whether another backend may be tried.
 */
export type FailureSide = "client" | "upstream" | "gateway";

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
   * What the client is told unless its HTTPServer sets `exposeErrors` (the message goes to the logs either way): its
   * own mistakes as the message says them; a backend's or the gateway's failure in words that name no backend
   * address, pool, filter or internal host. Subclasses give a more precise text of the same kind.
   */
  get publicReason(): string {
    return this.side === "client" ? this.message : GENERIC_REASONS[this.side];
  }
}

const GENERIC_REASONS: Readonly<Record<Exclude<FailureSide, "client">, string>> = {
  upstream: "backend failed",
  gateway: "gateway error",
};

/** The body text of a refusal: the whole message when `exposeErrors` is set, else the public reason. */
export function clientReason(error: GatewayError, exposeErrors: boolean): string {
  return exposeErrors ? error.message : error.publicReason;
}

export class RouteNotFoundError extends GatewayError {
  readonly code = "WSG_ROUTE_NOT_FOUND";
  readonly status = 404;
  readonly side = "client";
  constructor() {
    super("no route matches");
  }
}

export class MethodNotAllowedError extends GatewayError {
  readonly code = "WSG_METHOD_NOT_ALLOWED";
  readonly status = 405;
  readonly side = "client";
  override readonly headers = { Allow: "GET" };
  constructor(method: string) {
    super(`method ${method} cannot open a WebSocket (use GET)`);
  }
}

export class UpgradeRequiredError extends GatewayError {
  readonly code = "WSG_UPGRADE_REQUIRED";
  readonly status = 426;
  readonly side = "client";
  override readonly headers = { Upgrade: "websocket", Connection: "Upgrade" };
  constructor() {
    super("this route serves WebSocket only: send an Upgrade: websocket request");
  }
}

export class BadHandshakeError extends GatewayError {
  readonly code = "WSG_BAD_HANDSHAKE";
  readonly status = 400;
  readonly side = "client";
}

export class UnsupportedVersionError extends GatewayError {
  readonly code = "WSG_UNSUPPORTED_VERSION";
  readonly status = 426;
  readonly side = "client";
  override readonly headers = { "Sec-WebSocket-Version": "13" };
  constructor(version: string) {
    super(`unsupported Sec-WebSocket-Version '${version}' (this gateway speaks 13)`);
  }
}

export class NoUpstreamError extends GatewayError {
  readonly code = "WSG_NO_UPSTREAM";
  readonly status = 503;
  readonly side = "gateway";
  override readonly headers: Readonly<Record<string, string>>;
  /** `retryAfterSeconds`: when a retry may find a server again (e.g. after the next health check). */
  override get publicReason(): string {
    return "no backend available";
  }
  constructor(retryAfterSeconds = 5, message = "no backend available") {
    super(message);
    this.headers = { "Retry-After": String(retryAfterSeconds) };
  }
}

export class RouteBusyError extends GatewayError {
  readonly code = "WSG_ROUTE_BUSY";
  readonly status = 503;
  readonly side = "gateway";
  override readonly headers = { "Retry-After": "1" };
  override readonly shed = true;
  /** Names only the route's limit. */
  override get publicReason(): string {
    return this.message;
  }
  constructor(limit: number) {
    super(`too many handshakes pending on this route (${limit}); try again`);
  }
}

export class UpstreamConnectError extends GatewayError {
  readonly code = "WSG_UPSTREAM_CONNECT";
  readonly status = 502;
  readonly side = "upstream";
  override readonly retryable = true;
  override get publicReason(): string {
    return "backend unreachable";
  }
  constructor(
    readonly backend: string,
    readonly reason: string,
  ) {
    super(`cannot connect to backend ${backend}: ${reason}`);
  }
}

export class UpstreamDialTimeoutError extends GatewayError {
  readonly code = "WSG_UPSTREAM_DIAL_TIMEOUT";
  readonly status = 504;
  readonly side = "upstream";
  override readonly retryable = true;
  override get publicReason(): string {
    return "backend did not accept the connection in time";
  }
  constructor(readonly backend: string) {
    super(`backend ${backend} did not accept the connection in time`);
  }
}

export class UpstreamHandshakeTimeoutError extends GatewayError {
  readonly code = "WSG_UPSTREAM_HANDSHAKE_TIMEOUT";
  readonly status = 504;
  readonly side = "upstream";
  override get publicReason(): string {
    return "backend did not answer the upgrade in time";
  }
  constructor(readonly backend: string) {
    super(`backend ${backend} did not answer the upgrade in time`);
  }
}

export class UpstreamHandshakeError extends GatewayError {
  readonly code = "WSG_UPSTREAM_BAD_HANDSHAKE";
  readonly status = 502;
  readonly side = "upstream";
  override get publicReason(): string {
    return "backend answered the upgrade wrongly";
  }
  constructor(
    readonly backend: string,
    readonly reason: string,
  ) {
    super(`backend ${backend} answered the upgrade wrongly: ${reason}`);
  }
}

export class UpstreamResetError extends GatewayError {
  readonly code = "WSG_UPSTREAM_RESET";
  readonly status = 502;
  readonly side = "upstream";
  override get publicReason(): string {
    return "backend closed the connection during the handshake";
  }
  constructor(
    readonly backend: string,
    readonly reason: string,
  ) {
    super(`backend ${backend} closed the connection during the handshake: ${reason}`);
  }
}

/** A failure the admin API answers as it is: a stable code and the HTTP status of the answer. */
export abstract class ApiError extends Error {
  abstract readonly code: string;
  abstract readonly status: number;
}

/** Failures of the object stores (memory, etcd). */
export abstract class ObjectStoreError extends ApiError {}

export class ObjectExistsError extends ObjectStoreError {
  readonly code = "WSG_OBJECT_EXISTS";
  readonly status = 409;
  constructor(name: string) {
    super(`object ${name} already exists`);
  }
}

export class ObjectNotFoundError extends ObjectStoreError {
  readonly code = "WSG_OBJECT_NOT_FOUND";
  readonly status = 404;
  constructor(name: string) {
    super(`object ${name} not found`);
  }
}

export class StaleRevisionError extends ObjectStoreError {
  readonly code = "WSG_STALE_REVISION";
  readonly status = 409;
  constructor(name: string, expected: number, actual: number) {
    super(`object ${name} changed since revision ${expected} (now ${actual}): read it again and retry`);
  }
}

/** The cluster store (etcd) cannot be reached: a write is refused; reads still answer from the last known state. */
export class StoreUnavailableError extends ObjectStoreError {
  readonly code = "WSG_STORE_UNAVAILABLE";
  readonly status = 503;
  constructor(what: string, reason: string) {
    super(`cannot ${what}: the cluster store is unavailable (${reason}); try again when it is back`);
  }
}

/** A member started while its store is down gave up waiting: the CLI exits non-zero with this message. */
export class StoreStartTimeoutError extends Error {
  readonly code = "WSG_STORE_START_TIMEOUT";
  constructor(endpoints: readonly string[], waitedMs: number, reason: string) {
    super(`etcd at ${endpoints.join(",")} did not answer within ${waitedMs} ms (${reason}); not starting`);
  }
}

/** Why a request-target was refused (src/server/request-target.ts); each a stable code of RequestTargetError. */
export type RequestTargetRefusal =
  | "WSG_TARGET_MALFORMED"
  | "WSG_TARGET_CONTROL"
  | "WSG_TARGET_ENCODED_SLASH"
  | "WSG_TARGET_BACKSLASH"
  | "WSG_TARGET_PATH_PARAMETER"
  | "WSG_TARGET_AUTHORITY_MISMATCH";

/** A request-target two parsers could read differently, or not a target at all: refused before routing. */
export class RequestTargetError extends GatewayError {
  readonly status = 400;
  readonly side = "client";
  constructor(
    readonly code: RequestTargetRefusal,
    reason: string,
  ) {
    super(reason);
  }
}

/** A trusted proxy's X-Forwarded-For holds something that is not an IP address: no client address can be read. */
export class InvalidForwardedForError extends GatewayError {
  readonly code = "WSG_BAD_FORWARDED_FOR";
  readonly status = 400;
  readonly side = "client";
  constructor() {
    super("invalid X-Forwarded-For: every element must be an IP address");
  }
}

/**
 * Basic auth's password check cannot run now: its queue is full (a flood of guesses), refused at once rather than
 * queued without end; or the check was stopped with its pool. Never a pass.
 */
export class CredentialCheckBusyError extends GatewayError {
  readonly code = "WSG_AUTH_BUSY";
  readonly status = 503;
  readonly side = "gateway";
  override readonly headers = { "Retry-After": "1" };
  override readonly shed = true;
  override get publicReason(): string {
    return "too many credential checks pending; try again";
  }
}

/** A header that must come once came twice (Host, Authorization): two parsers could each take a different copy. */
export class DuplicateHeaderError extends GatewayError {
  readonly code = "WSG_DUPLICATE_HEADER";
  readonly status = 400;
  readonly side = "client";
  constructor(name: string) {
    super(`more than one ${name} header`);
  }
}

/** More request headers than the gateway keeps (`clientMaxHeaders`): refused rather than cut short. */
export class TooManyHeadersError extends GatewayError {
  readonly code = "WSG_TOO_MANY_HEADERS";
  readonly status = 431;
  readonly side = "client";
  constructor(limit: number) {
    super(`more than ${limit} request headers`);
  }
}

/** The token came in more than one copy: the backend might read another copy than the one the gateway checked. */
export class DuplicateTokenError extends GatewayError {
  readonly code = "WSG_DUPLICATE_TOKEN";
  readonly status = 400;
  readonly side = "client";
  constructor(where: string) {
    super(`more than one token (${where})`);
  }
}

/** One client address already holds its share of an HTTPServer's connections (`maxConnectionsPerIP`). */
export class ClientShareExceededError extends GatewayError {
  readonly code = "WSG_CLIENT_SHARE_EXCEEDED";
  readonly status = 429;
  readonly side = "client";
  override readonly headers = { "Retry-After": "1" };
  override readonly shed = true;
  constructor(limit: number) {
    super(`this client address holds its share of the server's connections (${limit})`);
  }
}

/**
 * The TLS handshake with a backend failed: its certificate did not verify (CERT_HAS_EXPIRED,
 * UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID, ...), or it refused ours, or it does not speak TLS.
 * Another server of the pool may still be tried. (Moved here from websocket/backend-handshake.ts: both proxies and
 * the health checks meet it.)
 */
export class UpstreamTlsError extends GatewayError {
  readonly code = "WSG_UPSTREAM_TLS";
  readonly status = 502;
  readonly side = "upstream";
  override readonly retryable = true;
  override get publicReason(): string {
    return "TLS handshake with the backend failed";
  }
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
export class OriginForbiddenError extends GatewayError {
  readonly code = "WSG_ORIGIN_FORBIDDEN";
  readonly status = 403;
  readonly side = "client";
  constructor(origin: string) {
    super(`origin '${origin.slice(0, 100)}' is not allowed`);
  }
}

/** The WebSocketProxy's `maxConnections` are all in use. */
export class ConnectionLimitError extends GatewayError {
  readonly code = "WSG_MAX_CONNECTIONS";
  readonly status = 429;
  readonly side = "client";
  override readonly headers = { "Retry-After": "1" };
  constructor(limit: number) {
    super(`connection limit reached (${limit})`);
  }
}

/** One client address holds the WebSocketProxy's `maxConnectionsPerIP`. */
export class ConnectionLimitPerIpError extends GatewayError {
  readonly code = "WSG_MAX_CONNECTIONS_PER_IP";
  readonly status = 429;
  readonly side = "client";
  override readonly headers = { "Retry-After": "1" };
  constructor(limit: number) {
    super(`connection limit per client IP reached (${limit})`);
  }
}
