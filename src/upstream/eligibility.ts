// The one rule every policy applies before balancing: healthy and not already tried.
import type { UpstreamServer } from "./server.js";

export function isEligible(server: UpstreamServer, exclude: ReadonlySet<UpstreamServer> | undefined): boolean {
  return server.healthy && exclude?.has(server) !== true;
}

/** Policies get all-positive or all-zero weights (see createLoadBalancer); all-zero means equal. */
export function effectiveWeight(server: UpstreamServer): number {
  return Math.max(server.weight, 1);
}
