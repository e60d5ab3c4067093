// Failures of a proxied HTTP request that the WebSocket handshake errors do not name; the connect failures
// (refused, dial timeout, TLS) are shared with WebSocketProxy (src/errors.ts, src/websocket/backend-handshake.ts).
import { GatewayError } from "../../errors.js";

export class BodyTooLargeError extends GatewayError {
  readonly code = "WSG_BODY_TOO_LARGE";
  readonly status = 413;
  readonly side = "client";
  constructor(limit: number) {
    super(`request body over ${limit} bytes (clientMaxBodySize)`);
  }
}

export class UpstreamResponseTimeoutError extends GatewayError {
  readonly code = "WSG_UPSTREAM_RESPONSE_TIMEOUT";
  readonly status = 504;
  readonly side = "upstream";
  override get publicReason(): string {
    return "backend did not answer in time";
  }
  constructor(readonly backend: string) {
    super(`backend ${backend} did not answer in time`);
  }
}

/** The backend closed or reset the connection after the request reached it, before any answer. */
export class UpstreamNoAnswerError extends GatewayError {
  readonly code = "WSG_UPSTREAM_NO_ANSWER";
  readonly status = 502;
  readonly side = "upstream";
  override get publicReason(): string {
    return "backend closed the connection without answering";
  }
  constructor(
    readonly backend: string,
    readonly reason: string,
  ) {
    super(`backend ${backend} closed the connection without answering: ${reason}`);
  }
}

/** An upgrade reached a pipeline that serves plain HTTP only. */
export class UpgradeNotServedError extends GatewayError {
  readonly code = "WSG_UPGRADE_NOT_SERVED";
  readonly status = 400;
  readonly side = "client";
  constructor() {
    super("this route serves plain HTTP; it does not upgrade to WebSocket");
  }
}

/** A request whose body the gateway could not frame for the backend exactly as the client framed it. */
export class UnframableBodyError extends GatewayError {
  readonly code = "WSG_UNFRAMABLE_BODY";
  readonly status = 400;
  readonly side = "client";
  constructor(reason: string) {
    super(`request body framing refused: ${reason}`);
  }
}
