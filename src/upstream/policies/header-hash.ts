// First value of a configured header on a consistent-hash ring (session affinity by user, tenant, ...).
import type { BalanceContext, LoadBalancer } from "../balance-types.js";
import { hash32 } from "../hash32.js";
import { HashRing } from "../hash-ring.js";
import type { UpstreamServer } from "../server.js";

/** Requests without the header hash the empty string, so they all share one server (per ring state). */
export class HeaderHashBalancer implements LoadBalancer {
  readonly #ring: HashRing;
  readonly #headerName: string;

  constructor(servers: readonly UpstreamServer[], headerName: string) {
    this.#ring = new HashRing(servers);
    // Node delivers header names lowercased.
    this.#headerName = headerName.toLowerCase();
  }

  pick(context: BalanceContext, exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined {
    const value = context.headers[this.#headerName];
    const key = (Array.isArray(value) ? value[0] : value) ?? "";
    return this.#ring.pick(hash32(key), exclude);
  }
}
