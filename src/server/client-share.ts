import type { EventEmitter } from "node:events";
import { Counts } from "../util/counts.js";

/**
 * `maxConnectionsPerIP` of an HTTPServer: how many places one client address holds at once. A place is a request in
 * flight (until its response closes) or an upgraded connection (until its socket closes); idle kept-alive
 * connections hold none, as they may carry many clients' requests behind a balancer (and `keepAliveTimeout` ends them).
 */
export class ClientShares {
  private readonly held = new Counts<string>();

  constructor(
    /** 0: no limit (nothing is counted). */
    public limit: number,
  ) {}

  /** Takes a place for `ip` until `holder` emits `close`; false, taking nothing, when `ip` holds its share. */
  take(ip: string, holder: EventEmitter & { readonly destroyed: boolean }): boolean {
    // A holder already gone would never emit `close`: it holds nothing.
    if (this.limit <= 0 || holder.destroyed) return true;
    if (this.held.of(ip) >= this.limit) return false;
    this.held.add(ip);
    holder.once("close", () => this.held.remove(ip));
    return true;
  }
}

/** The share one address may hold: `maxConnectionsPerIP`, else a quarter of `maxConnections` (at least 1). */
export function clientShareOf(spec: { maxConnections: number; maxConnectionsPerIP?: number | undefined }): number {
  return spec.maxConnectionsPerIP ?? Math.max(1, Math.ceil(spec.maxConnections / 4));
}
