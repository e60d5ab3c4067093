// Fewest active connections per unit of weight; ties rotate so equally loaded servers share new connections.
import type { BalanceContext, LoadBalancer } from "../balance-types.js";
import { effectiveWeight, isEligible } from "../eligibility.js";
import type { UpstreamServer } from "../server.js";

export class LeastConnectionsBalancer implements LoadBalancer {
  readonly #servers: readonly UpstreamServer[];
  /** Where the next scan starts; the first of several tied servers from here wins. */
  #cursor = 0;

  constructor(servers: readonly UpstreamServer[]) {
    this.#servers = servers;
  }

  pick(_context: BalanceContext, exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined {
    const count = this.#servers.length;
    let best: UpstreamServer | undefined;
    let bestIndex = 0;
    for (let step = 0; step < count; step++) {
      const index = (this.#cursor + step) % count;
      const server = this.#servers[index];
      if (server === undefined || !isEligible(server, exclude)) continue;
      if (best === undefined || lessLoaded(server, best)) {
        best = server;
        bestIndex = index;
      }
    }
    if (best !== undefined) this.#cursor = (bestIndex + 1) % count;
    return best;
  }
}

// a.active / a.weight < b.active / b.weight, cross-multiplied so that equal ratios compare exactly equal.
function lessLoaded(a: UpstreamServer, b: UpstreamServer): boolean {
  return a.activeConnections * effectiveWeight(b) < b.activeConnections * effectiveWeight(a);
}
