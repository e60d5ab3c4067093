// Weight 0 among weighted servers marks a standby: used only once no weighted server is eligible.
import type { BalanceContext, LoadBalancer } from "./balance-types.js";
import type { UpstreamServer } from "./server.js";

export class StandbyFallback implements LoadBalancer {
  readonly #primary: LoadBalancer;
  readonly #standby: LoadBalancer;

  constructor(primary: LoadBalancer, standby: LoadBalancer) {
    this.#primary = primary;
    this.#standby = standby;
  }

  pick(context: BalanceContext, exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined {
    return this.#primary.pick(context, exclude) ?? this.#standby.pick(context, exclude);
  }
}
