import type { EventEmitter } from "node:events";

/**
 * `maxConnectionsPerIP` of an HTTPServer: how many places one client address holds at once. A place is a request in
 * flight (until its response closes) or an upgraded connection (until its socket closes); idle kept-alive
 * connections hold none, as they may carry many clients' requests behind a balancer (and `keepAliveTimeout` ends them).
 */
export class ClientShares {
  private readonly held = new Map<string, number>();

  constructor(
    /** 0: no limit (nothing is counted). */
    public limit: number,
  ) {}

  /** Takes a place for `ip` until `holder` emits `close`; false, taking nothing, when `ip` holds its share. */
  take(ip: string, holder: EventEmitter & { readonly destroyed: boolean }): boolean {
    // A holder already gone would never emit `close`: it holds nothing.
    if (this.limit <= 0 || holder.destroyed) return true;
    const mine = this.held.get(ip) ?? 0;
    if (mine >= this.limit) return false;
    this.held.set(ip, mine + 1);
    holder.once("close", () => this.giveBack(ip));
    return true;
  }

  private giveBack(ip: string): void {
    const left = (this.held.get(ip) ?? 1) - 1;
    if (left > 0) this.held.set(ip, left);
    else this.held.delete(ip);
  }
}

/** The share one address may hold: `maxConnectionsPerIP`, else a quarter of `maxConnections` (at least 1). */
export function clientShareOf(spec: { maxConnections: number; maxConnectionsPerIP?: number | undefined }): number {
  return spec.maxConnectionsPerIP ?? Math.max(1, Math.ceil(spec.maxConnections / 4));
}
