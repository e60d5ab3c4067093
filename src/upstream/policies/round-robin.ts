// Smooth weighted round robin (nginx): weights 5,1,1 give a a b a c a a; equal weights give plain rotation.
import type { BalanceContext, LoadBalancer } from "../balance-types.js";
import { effectiveWeight, isEligible } from "../eligibility.js";
import type { UpstreamServer } from "../server.js";

interface Peer {
  readonly server: UpstreamServer;
  readonly weight: number;
  current: number;
}

export class RoundRobinBalancer implements LoadBalancer {
  readonly #peers: readonly Peer[];

  constructor(servers: readonly UpstreamServer[]) {
    this.#peers = servers.map((server) => ({ server, weight: effectiveWeight(server), current: 0 }));
  }

  pick(_context: BalanceContext, exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined {
    let best: Peer | undefined;
    let total = 0;
    for (const peer of this.#peers) {
      if (!isEligible(peer.server, exclude)) continue;
      peer.current += peer.weight;
      total += peer.weight;
      if (best === undefined || peer.current > best.current) best = peer;
    }
    if (best === undefined) return undefined;
    best.current -= total;
    return best.server;
  }
}
