// The one rule every policy applies before balancing: healthy, not drained by the operator, not already tried.
import type { UpstreamServer } from "./server.js";

export function isEligible(server: UpstreamServer, exclude: ReadonlySet<UpstreamServer> | undefined): boolean {
  return server.healthy && !server.draining && exclude?.has(server) !== true;
}

/** Policies get all-positive or all-zero weights (see createLoadBalancer); all-zero means equal. */
export function effectiveWeight(server: UpstreamServer): number {
  return Math.max(server.weight, 1);
}
