// Failures of a proxied HTTP request that the WebSocket handshake errors do not name; the connect failures
// (refused, dial timeout, TLS) are shared with WebSocketProxy (src/errors.ts, src/websocket/backend-handshake.ts).
import { trafficError } from "../../errors.js";

export class BodyTooLargeError extends trafficError("WSG_BODY_TOO_LARGE") {
  constructor(limit: number) {
    super(`request body over ${limit} bytes (clientMaxBodySize)`);
  }
}

export class UpstreamResponseTimeoutError extends trafficError("WSG_UPSTREAM_RESPONSE_TIMEOUT") {
  constructor(readonly backend: string) {
    super(`backend ${backend} did not answer in time`);
  }
}

/** The backend closed or reset the connection after the request reached it, before any answer. */
export class UpstreamNoAnswerError extends trafficError("WSG_UPSTREAM_NO_ANSWER") {
  constructor(
    readonly backend: string,
    readonly reason: string,
  ) {
    super(`backend ${backend} closed the connection without answering: ${reason}`);
  }
}

/** An upgrade reached a pipeline that serves plain HTTP only. */
export class UpgradeNotServedError extends trafficError("WSG_UPGRADE_NOT_SERVED") {
  constructor() {
    super("this route serves plain HTTP; it does not upgrade to WebSocket");
  }
}

/** A request whose body the gateway could not frame for the backend exactly as the client framed it. */
export class UnframableBodyError extends trafficError("WSG_UNFRAMABLE_BODY") {
  constructor(reason: string) {
    super(`request body framing refused: ${reason}`);
  }
}
