// Client IP on a consistent-hash ring: a client sticks to one server while the set of servers is stable.
import type { BalanceContext, LoadBalancer } from "../balance-types.js";
import { hash32 } from "../hash32.js";
import { HashRing } from "../hash-ring.js";
import type { UpstreamServer } from "../server.js";

const IPV4_MAPPED_PREFIX = "::ffff:";

export class IpHashBalancer implements LoadBalancer {
  readonly #ring: HashRing;

  constructor(servers: readonly UpstreamServer[]) {
    this.#ring = new HashRing(servers);
  }

  pick(context: BalanceContext, exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined {
    return this.#ring.pick(hashClientIp(context.clientIp), exclude);
  }
}

/** Dual-stack sockets report IPv4 clients as "::ffff:a.b.c.d"; hash the plain IPv4 form so both listeners agree. */
export function hashClientIp(clientIp: string): number {
  const mapped = clientIp.startsWith(IPV4_MAPPED_PREFIX) && clientIp.includes(".", IPV4_MAPPED_PREFIX.length);
  return hash32(clientIp, mapped ? IPV4_MAPPED_PREFIX.length : 0);
}
