// When the credential that admitted a session stops admitting it: what a handshake filter (the Validator) finds and
// the filter that starts the session (WebSocketProxy) turns into the relay's deadline.
import type { RelayDeadline } from "../websocket/relay-deadline.js";

/** A renewed token's check: the session's new end (ms since epoch), or why the token is refused. */
export type RenewalVerdict = { ok: true; at: number } | { ok: false; reason: string };

/**
 * A session's renewal as plain data, so that it goes on in another process (`wsgate upgrade`): the filter (by name, in
 * the session's pipeline) that checks its renewed tokens, the subject they must name, and the end they cannot pass.
 */
export interface RenewalOrigin {
  validator: string;
  subject?: string | undefined;
  /** The end a renewal cannot move (a certificate's, a duration's), ms since epoch; null: none. */
  cap: number | null;
  /** The close reason the credential's end gives. */
  reason: string;
}

/** A session's renewal reader as plain data: whose renewals, and the lifetime that holds whatever they say. */
export interface RenewalState {
  origin: RenewalOrigin;
  lifetime: RelayDeadline | undefined;
}

/** A client message inspector that can say how to take its session's renewals up again elsewhere. */
export interface MovableRenewalReader {
  renewalState(): RenewalState | undefined;
}

export function renewalStateOf(inspector: object | undefined): RenewalState | undefined {
  const reader = inspector as Partial<MovableRenewalReader> | undefined;
  return typeof reader?.renewalState === "function" ? reader.renewalState() : undefined;
}

/** A filter that checks renewed tokens: it makes a moved session's credential again, from its origin. */
export interface CredentialRenewer {
  resumedExpiry(origin: RenewalOrigin): CredentialExpiry | undefined;
}

export function isCredentialRenewer(filter: unknown): filter is CredentialRenewer {
  return typeof (filter as Partial<CredentialRenewer> | undefined)?.resumedExpiry === "function";
}

/** A token renewal the client may send as a message, as the filter that checked the token describes it. */
export interface TokenRenewal {
  /** Largest client text message read for a renewal (bytes). */
  readonly maxMessageSize: number;
  /** The token a client message carries where the operator said; undefined: not a renewal, relayed as it came. */
  tokenIn(payload: Buffer): string | undefined;
  /** Checks a renewed token: its expiry (ms since epoch, the skew included), or why it is refused. */
  verify(token: string): Promise<RenewalVerdict>;
  /** Where it comes from, for a session moved to another process. */
  readonly origin?: RenewalOrigin | undefined;
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
