import { GatewayError, type HandshakeRefusalCode } from "../errors.js";

/**
 * A handshake filter said no: 401 (with `WWW-Authenticate`), 403, 429 (with `Retry-After`) and the like. The message
 * may name the filter or policy, for the logs; `publicReason`, when given, is what the client reads instead.
 */
export class HandshakeRefusedError extends GatewayError {
  readonly side = "client";
  override readonly headers: Readonly<Record<string, string>>;
  readonly #publicReason: string | undefined;
  constructor(
    readonly status: number,
    readonly code: HandshakeRefusalCode,
    message: string,
    headers: Readonly<Record<string, string>> = {},
    publicReason?: string,
  ) {
    super(message);
    this.headers = headers;
    this.#publicReason = publicReason;
  }

  override get publicReason(): string {
    return this.#publicReason ?? this.message;
  }
}

/** 429 with `Retry-After` in whole seconds (at least 1). */
export function tooManyRequests(
  code: HandshakeRefusalCode,
  message: string,
  retryAfterMs: number,
  publicReason?: string,
): HandshakeRefusedError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new HandshakeRefusedError(429, code, message, { "Retry-After": String(seconds) }, publicReason);
}
