// Uniform choice among eligible servers, weights ignored.
import type { BalanceContext, LoadBalancer, RandomSource } from "../balance-types.js";
import { isEligible } from "../eligibility.js";
import type { UpstreamServer } from "../server.js";

export class RandomBalancer implements LoadBalancer {
  readonly #servers: readonly UpstreamServer[];
  readonly #random: RandomSource;

  constructor(servers: readonly UpstreamServer[], random: RandomSource = Math.random) {
    this.#servers = servers;
    this.#random = random;
  }

  // Two passes (count, then select) instead of building a filtered array per request.
  pick(_context: BalanceContext, exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined {
    let eligible = 0;
    for (const server of this.#servers) if (isEligible(server, exclude)) eligible++;
    if (eligible === 0) return undefined;
    let skip = Math.min(eligible - 1, Math.floor(this.#random() * eligible));
    for (const server of this.#servers) {
      if (!isEligible(server, exclude)) continue;
      if (skip === 0) return server;
      skip--;
    }
    return undefined;
  }
}
