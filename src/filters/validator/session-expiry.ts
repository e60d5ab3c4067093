// When the sessions a Validator admits end: a token's `exp` plus `clockSkew` (renewable by a message when set), a
// client certificate's `notAfter`, `maxSessionDuration` for basic auth and certificates. Computed once per
// handshake; the close and the warning frame are made once per Validator.
import type { X509Certificate } from "node:crypto";
import type { JWTPayload } from "jose";
import type { CredentialExpiry, RenewalOrigin, RenewalVerdict, TokenRenewal } from "../../proxy/credential-expiry.js";
import { encodeWarningFrame } from "../../websocket/relay-deadline.js";
import type { JwtVerifier } from "./jwt.js";
import type { RenewalSpec } from "./session-spec.js";
import type { ValidatorSpec } from "./spec.js";

export const TOKEN_EXPIRED = "token expired";
export const CERTIFICATE_EXPIRED = "certificate expired";
export const DURATION_EXCEEDED = "session duration exceeded";

/** What admitted the request, as far as its session's end goes. */
export interface Admission {
  claims?: JWTPayload | undefined;
  basic: boolean;
  cert?: X509Certificate | undefined;
}

/** The token at `path` (dotted) of a JSON text message, or undefined: not a renewal message. */
export function tokenAtPath(payload: Buffer, path: readonly string[]): string | undefined {
  // Only a JSON object can hold the field: anything else is not parsed at all.
  let start = 0;
  while (
    start < payload.length &&
    (payload[start] === 0x20 || payload[start] === 0x0a || payload[start] === 0x0d || payload[start] === 0x09)
  )
    start++;
  if (payload[start] !== 0x7b) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(payload.toString("utf8"));
  } catch {
    return undefined;
  }
  for (const key of path) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === "string" ? value : undefined;
}

/** A session's token renewal: a message with a token at the operator's path, checked as the handshake's token was. */
class MessageRenewal implements TokenRenewal {
  readonly maxMessageSize: number;
  private readonly path: string[];

  constructor(
    spec: RenewalSpec,
    private readonly jwt: JwtVerifier,
    private readonly clockSkew: number,
    /** Its Validator, the session's subject (a renewed token must name the same one) and the end it cannot move. */
    readonly origin: RenewalOrigin,
  ) {
    this.maxMessageSize = spec.maxMessageSize;
    this.path = spec.tokenField.split(".");
  }

  tokenIn(payload: Buffer): string | undefined {
    return tokenAtPath(payload, this.path);
  }

  async verify(token: string): Promise<RenewalVerdict> {
    const outcome = await this.jwt.verifyToken(token);
    if (!outcome.ok) return { ok: false, reason: outcome.duplicate === undefined ? outcome.reason : "invalid token" };
    const { exp, sub } = outcome.claims;
    if (typeof exp !== "number") return { ok: false, reason: "renewed token has no exp" };
    if (sub !== this.origin.subject) return { ok: false, reason: "renewed token names another subject" };
    return { ok: true, at: Math.min(this.origin.cap ?? Infinity, exp * 1000 + this.clockSkew) };
  }
}

/** A Validator's session-end rules. */
export class SessionExpiryRules {
  private readonly code: number;
  private readonly warning: Buffer | undefined;
  private readonly warnBefore: number | undefined;

  constructor(
    private readonly spec: ValidatorSpec,
    private readonly jwt: JwtVerifier | undefined,
  ) {
    this.code = spec.expiryCloseCode;
    const warning = spec.expiryWarning;
    if (warning !== undefined) {
      const binary = warning.binary !== undefined;
      const payload = binary ? Buffer.from(warning.binary ?? "", "base64") : Buffer.from(warning.text ?? "", "utf8");
      this.warning = encodeWarningFrame(payload, binary);
      this.warnBefore = warning.before;
    }
  }

  /** The end of a session admitted as `admission` says, `now`; undefined when nothing ends it. */
  expiryOf(admission: Admission, now: number): CredentialExpiry | undefined {
    let at = Infinity;
    let reason = "";
    const limit = (when: number, why: string): void => {
      if (when < at) {
        at = when;
        reason = why;
      }
    };
    const maxDuration = this.spec.maxSessionDuration;
    if (admission.cert !== undefined && this.spec.clientCertificate?.closeAtNotAfter === true) {
      limit(Date.parse(admission.cert.validTo), CERTIFICATE_EXPIRED);
    }
    if (maxDuration > 0 && (admission.basic || admission.cert !== undefined))
      limit(now + maxDuration, DURATION_EXCEEDED);
    const cap = at;
    const exp = admission.claims?.exp;
    const skew = this.spec.jwt?.clockSkew ?? 0;
    if (typeof exp === "number") limit(exp * 1000 + skew, TOKEN_EXPIRED);
    const renewalSpec = this.spec.jwt?.renewal;
    // Without an end there is nothing to renew either: no message is read.
    if (at === Infinity) return undefined;
    const renewal =
      renewalSpec !== undefined && this.jwt !== undefined && admission.claims !== undefined
        ? new MessageRenewal(renewalSpec, this.jwt, skew, {
            validator: this.spec.name,
            subject: admission.claims.sub,
            cap: cap === Infinity ? null : cap,
            reason,
          })
        : undefined;
    return { at, code: this.code, reason, warning: this.warning, warnBefore: this.warnBefore, renewal };
  }

  /**
   * The credential of a session moved in from another process, for its renewals to be checked here as they were
   * there; undefined when this Validator reads no renewals (the session's deadline still holds).
   */
  resumed(origin: RenewalOrigin): CredentialExpiry | undefined {
    const renewalSpec = this.spec.jwt?.renewal;
    if (renewalSpec === undefined || this.jwt === undefined) return undefined;
    const skew = this.spec.jwt?.clockSkew ?? 0;
    const renewal = new MessageRenewal(renewalSpec, this.jwt, skew, { ...origin, validator: this.spec.name });
    const at = origin.cap ?? Infinity;
    const { code, warning, warnBefore } = this;
    return { at, code, reason: origin.reason, warning, warnBefore, renewal };
  }
}
