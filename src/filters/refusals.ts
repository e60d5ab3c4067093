import { GatewayError } from "../errors.js";

/** A handshake filter said no: 401 (with `WWW-Authenticate`), 403, 429 (with `Retry-After`) and the like. */
export class HandshakeRefusedError extends GatewayError {
  readonly side = "client";
  override readonly headers: Readonly<Record<string, string>>;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.headers = headers;
  }
}

/** 429 with `Retry-After` in whole seconds (at least 1). */
export function tooManyRequests(code: string, message: string, retryAfterMs: number): HandshakeRefusedError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new HandshakeRefusedError(429, code, message, { "Retry-After": String(seconds) });
}
