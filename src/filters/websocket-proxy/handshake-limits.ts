import type { IncomingMessage } from "node:http";
import { ConnectionLimitError, ConnectionLimitPerIpError, OriginForbiddenError } from "../../errors.js";
import { originAllowed, type OriginPattern } from "./origin-pattern.js";
import { Counts } from "../../util/counts.js";

/**
 * The `originPatterns` check against cross-site WebSocket hijacking: a request without `Origin` (not a browser) passes;
 * otherwise the origin's scheme, host and port must match a pattern (see origin-pattern.ts). The requested host itself
 * is not exempt: under DNS rebinding the `Host` header names whatever the attacker's page was loaded from.
 */
export function originRefusal(
  req: IncomingMessage,
  patterns: readonly OriginPattern[],
): OriginForbiddenError | undefined {
  if (patterns.length === 0) return undefined;
  const origin = req.headers.origin;
  if (origin === undefined || originAllowed(origin, patterns)) return undefined;
  return new OriginForbiddenError(origin);
}

/** A counted place among a filter's live sessions; released once, whether the handshake failed or the session ended. */
export interface ConnectionLease {
  release(): void;
  /** The session started: the place is now released when it ends, not when the handshake returns. */
  keep(): void;
  readonly kept: boolean;
}

/**
 * `maxConnections` / `maxConnectionsPerIP`: counted from the handshake's start (so concurrent handshakes cannot
 * overshoot) until the handshake fails or the session ends. Without a per-IP limit the per-IP counts are not kept.
 */
export class ConnectionLimits {
  private total = 0;
  private readonly perIp = new Counts<string>();

  constructor(
    private readonly maxConnections: number,
    private readonly maxPerIp: number,
  ) {}

  acquire(ip: string): ConnectionLease | ConnectionLimitError | ConnectionLimitPerIpError {
    if (this.maxConnections > 0 && this.total >= this.maxConnections)
      return new ConnectionLimitError(this.maxConnections);
    if (this.maxPerIp > 0) {
      if (this.perIp.of(ip) >= this.maxPerIp) return new ConnectionLimitPerIpError(this.maxPerIp);
      this.perIp.add(ip);
    }
    this.total++;
    return new CountedLease(this, this.maxPerIp > 0 ? ip : undefined);
  }

  /** Counts a session that exists already (moved in from another process), over the limits or not. */
  adopt(ip: string): ConnectionLease {
    if (this.maxPerIp > 0) this.perIp.add(ip);
    this.total++;
    return new CountedLease(this, this.maxPerIp > 0 ? ip : undefined);
  }

  /** Gives back a place taken by `acquire`; `ip` where a per-IP count was taken. */
  giveBack(ip: string | undefined): void {
    this.total--;
    if (ip !== undefined) this.perIp.remove(ip);
  }
}

/**
 * A class rather than an object literal with a getter: a literal whose accessor is a new closure each time cannot
 * share a map, so V8 would make every lease a dictionary object.
 */
class CountedLease implements ConnectionLease {
  kept = false;
  private released = false;

  constructor(
    private readonly limits: ConnectionLimits,
    /** Set where a per-IP count was taken. */
    private readonly ip: string | undefined,
  ) {}

  keep(): void {
    this.kept = true;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.limits.giveBack(this.ip);
  }
}
