// Random choice among eligible servers with probability proportional to weight; `random` is the same with equal weights.
import type { BalanceContext, LoadBalancer, RandomSource } from "../balance-types.js";
import { effectiveWeight, isEligible } from "../eligibility.js";
import type { UpstreamServer } from "../server.js";

export class WeightedRandomBalancer implements LoadBalancer {
  readonly #servers: readonly UpstreamServer[];
  readonly #random: RandomSource;
  readonly #weightOf: (server: UpstreamServer) => number;

  constructor(
    servers: readonly UpstreamServer[],
    random: RandomSource = Math.random,
    weightOf: (server: UpstreamServer) => number = effectiveWeight,
  ) {
    this.#servers = servers;
    this.#random = random;
    this.#weightOf = weightOf;
  }

  pick(_context: BalanceContext, exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined {
    let totalWeight = 0;
    for (const server of this.#servers) if (isEligible(server, exclude)) totalWeight += this.#weightOf(server);
    if (totalWeight === 0) return undefined;
    let remaining = this.#random() * totalWeight;
    let last: UpstreamServer | undefined;
    for (const server of this.#servers) {
      if (!isEligible(server, exclude)) continue;
      remaining -= this.#weightOf(server);
      if (remaining < 0) return server;
      last = server;
    }
    // Only reached through floating-point rounding at the top of the range.
    return last;
  }
}
