// A WebSocketProxy's `maxSessionDuration` (per pool too) with its jitter, and how a session's deadline is made from
// it and from the credential that admitted the session (context.credentialExpiry, the Validator's).
import { z } from "zod";
import { docMeta } from "../../schema/doc-meta.js";
import { durationSchema } from "../../schema/duration.js";
import {
  earlierExpiry,
  type CredentialExpiry,
  type MovableRenewalReader,
  type RenewalState,
  type RenewalVerdict,
} from "../../proxy/credential-expiry.js";
import type { ClientMessageInspector, RelayDeadline, SessionControl } from "../../websocket/relay-deadline.js";
import { CloseCode } from "../../websocket/protocol.js";
import { closeCodeSchema } from "../close-code-schema.js";

export const LIFETIME_REASON = "session lifetime reached";
export const INVALID_RENEWAL_CODE = CloseCode.PolicyViolation;

/** A share of the duration: 0.2, or "20%". */
const jitterSchema = z
  .union([z.number(), z.string().regex(/^\d+(\.\d+)?%$/, { error: "a share such as 0.2 or 20%" })])
  .transform((value) => (typeof value === "number" ? value : Number(value.slice(0, -1)) / 100))
  .refine((share) => share >= 0 && share <= 1, { error: "must be between 0 and 1 (0% and 100%)" });
docMeta.add(jitterSchema, { type: "share (0.2 or 20%)" });

const lifetimeObjectSchema = z.strictObject({
  duration: durationSchema.describe("The longest a session lives; 0: no limit."),
  jitter: jitterSchema
    .default(0)
    .describe(
      "Each session's end is drawn uniformly between `duration * (1 - jitter)` and `duration`, so that clients do not all reconnect at once.",
    ),
  closeCode: closeCodeSchema
    .default(CloseCode.GoingAway)
    .describe("What the client gets at the end: 1001 (going away) or e.g. 1012 (service restart)."),
});

/** `maxSessionDuration`: a duration, or `{duration, jitter, closeCode}`. */
export const lifetimeSchema = z
  .union([durationSchema, lifetimeObjectSchema])
  .transform((value) =>
    typeof value === "number" ? { duration: value, jitter: 0, closeCode: CloseCode.GoingAway as number } : value,
  );

export const LIFETIME_DESCRIPTION =
  "The longest a session lives: a duration (`1h`), or `{duration: 1h, jitter: 20%, closeCode: 1012}` where each session's end is drawn uniformly in [duration × (1 − jitter), duration] and the client gets `closeCode` (default 1001; the backend 1001). Absent or 0: no limit. A pool's value replaces the filter's.";

export type LifetimeSpec = z.output<typeof lifetimeSchema>;

/** The end a lifetime gives a session starting `now` (jitter drawn per session); undefined: no limit. */
export function lifetimeDeadline(spec: LifetimeSpec | undefined, now: number): RelayDeadline | undefined {
  if (spec === undefined || spec.duration <= 0) return undefined;
  const spread = spec.duration * spec.jitter * Math.random();
  return { at: now + Math.round(spec.duration - spread), code: spec.closeCode, reason: LIFETIME_REASON };
}

function expiryDeadline(expiry: CredentialExpiry, at = expiry.at): RelayDeadline {
  return { at, code: expiry.code, reason: expiry.reason, warning: expiry.warning, warnBefore: expiry.warnBefore };
}

/**
 * A renewal message's reader, one per session whose token may be renewed: a message with a token is kept from the
 * backend; when the token checks out the session's end moves to its `exp` (a lifetime still holds), else 1008.
 */
class RenewalReader implements ClientMessageInspector, MovableRenewalReader {
  readonly maxMessageSize: number;

  constructor(
    private readonly expiry: CredentialExpiry & { renewal: NonNullable<CredentialExpiry["renewal"]> },
    private readonly lifetime: RelayDeadline | undefined,
  ) {
    this.maxMessageSize = expiry.renewal.maxMessageSize;
  }

  /** A check under way: renewals sent meanwhile are consumed unchecked, so a flood costs one check at a time. */
  private checking = false;

  renewalState(): RenewalState | undefined {
    const origin = this.expiry.renewal.origin;
    return origin === undefined ? undefined : { origin, lifetime: this.lifetime };
  }

  inspect(payload: Buffer, session: SessionControl): boolean {
    const token = this.expiry.renewal.tokenIn(payload);
    if (token === undefined) return false;
    if (!this.checking) void this.renew(token, session);
    return true;
  }

  private async renew(token: string, session: SessionControl): Promise<void> {
    let outcome: RenewalVerdict;
    this.checking = true;
    try {
      outcome = await this.expiry.renewal.verify(token);
    } catch {
      outcome = { ok: false, reason: "invalid token" };
    } finally {
      this.checking = false;
    }
    if (!outcome.ok) {
      session.expire(INVALID_RENEWAL_CODE, "invalid token");
      return;
    }
    const next = earlierExpiry(expiryDeadline(this.expiry, outcome.at), this.lifetime);
    if (next !== undefined) session.setDeadline(next);
  }
}

/**
 * The renewal reader of a session moved in from another process (its deadline came with it): `credential` is its
 * Validator's, made again here; `lifetime` the end no renewal passes.
 */
export function resumedRenewalReader(
  credential: CredentialExpiry | undefined,
  lifetime: RelayDeadline | undefined,
): ClientMessageInspector | undefined {
  if (credential?.renewal === undefined) return undefined;
  return new RenewalReader({ ...credential, renewal: credential.renewal }, lifetime);
}

/** The relay's deadline and renewal reader for a session: none of either when nothing ends it. */
export function sessionDeadline(
  expiry: CredentialExpiry | undefined,
  lifetime: RelayDeadline | undefined,
): { deadline?: RelayDeadline; clientInspector?: ClientMessageInspector } {
  const credential = expiry === undefined ? undefined : expiryDeadline(expiry);
  // The credential's end when the two tie.
  const deadline = earlierExpiry(credential, lifetime);
  if (deadline === undefined) return {};
  if (expiry?.renewal === undefined) return { deadline };
  return { deadline, clientInspector: new RenewalReader({ ...expiry, renewal: expiry.renewal }, lifetime) };
}
