// When the credential that admitted a session stops admitting it: what a handshake filter (the Validator) finds and
// the filter that starts the session (WebSocketProxy) turns into the relay's deadline.

/** A renewed token's check: the session's new end (ms since epoch), or why the token is refused. */
export type RenewalVerdict = { ok: true; at: number } | { ok: false; reason: string };

/** A token renewal the client may send as a message, as the filter that checked the token describes it. */
export interface TokenRenewal {
  /** Largest client text message read for a renewal (bytes). */
  readonly maxMessageSize: number;
  /** The token a client message carries where the operator said; undefined: not a renewal, relayed as it came. */
  tokenIn(payload: Buffer): string | undefined;
  /** Checks a renewed token: its expiry (ms since epoch, the skew included), or why it is refused. */
  verify(token: string): Promise<RenewalVerdict>;
}

/** A credential's end: the session closes then, the client with `code` and `reason`. */
export interface CredentialExpiry {
  /** ms since epoch. */
  readonly at: number;
  readonly code: number;
  readonly reason: string;
  /** A whole data frame for the client, sent `warnBefore` ms before `at`. */
  readonly warning?: Buffer | undefined;
  readonly warnBefore?: number | undefined;
  readonly renewal?: TokenRenewal | undefined;
}

/**
 * The earlier of two ends (several credential checks in one flow; a credential's end against a lifetime's); the
 * first when they tie.
 */
export function earlierExpiry<End extends { readonly at: number }>(
  a: End | undefined,
  b: End | undefined,
): End | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return b.at < a.at ? b : a;
}
