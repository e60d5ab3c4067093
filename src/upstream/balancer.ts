// Builds the configured balancing policy over a server list.
import type { LoadBalancer, LoadBalanceSpec, RandomSource } from "./balance-types.js";
import { CookieHashBalancer } from "./policies/cookie-hash.js";
import { HeaderHashBalancer } from "./policies/header-hash.js";
import { IpHashBalancer } from "./policies/ip-hash.js";
import { LeastConnectionsBalancer } from "./policies/least-connections.js";
import { RoundRobinBalancer } from "./policies/round-robin.js";
import { WeightedRandomBalancer } from "./policies/weighted-random.js";
import type { UpstreamServer } from "./server.js";
import { StandbyFallback } from "./standby-fallback.js";

export type {
  BalanceContext,
  LoadBalancePolicy,
  LoadBalanceSpec,
  LoadBalancer,
  RandomSource,
} from "./balance-types.js";

export interface LoadBalancerOptions {
  /** Source for the random policies; Math.random unless a test seeds one. */
  random?: RandomSource;
}

/**
 * Weight 0 on every server means equal weights. Weight 0 next to positive weights marks a standby server,
 * picked only when no weighted server is eligible.
 */
export function createLoadBalancer(
  spec: LoadBalanceSpec,
  servers: readonly UpstreamServer[],
  options: LoadBalancerOptions = {},
): LoadBalancer {
  const weighted = servers.filter((server) => server.weight > 0);
  const standby = servers.filter((server) => server.weight === 0);
  if (weighted.length === 0 || standby.length === 0) return createPolicy(spec, servers, options);
  return new StandbyFallback(createPolicy(spec, weighted, options), createPolicy(spec, standby, options));
}

function createPolicy(
  spec: LoadBalanceSpec,
  servers: readonly UpstreamServer[],
  options: LoadBalancerOptions,
): LoadBalancer {
  switch (spec.policy) {
    case "roundRobin":
      return new RoundRobinBalancer(servers);
    case "random":
      return new WeightedRandomBalancer(servers, options.random, equalWeight);
    case "weightedRandom":
      return new WeightedRandomBalancer(servers, options.random);
    case "leastConnections":
      return new LeastConnectionsBalancer(servers);
    case "ipHash":
      return new IpHashBalancer(servers);
    case "headerHash":
      if (spec.headerHashKey === undefined || spec.headerHashKey.length === 0) {
        throw new Error("loadBalance: policy headerHash needs headerHashKey");
      }
      return new HeaderHashBalancer(servers, spec.headerHashKey);
    case "cookieHash":
      if (spec.cookieHashKey === undefined || spec.cookieHashKey.length === 0) {
        throw new Error("loadBalance: policy cookieHash needs cookieHashKey");
      }
      return new CookieHashBalancer(servers, spec.cookieHashKey);
    default:
      throw new Error(`loadBalance: unknown policy ${JSON.stringify(spec.policy satisfies never)}`);
  }
}

function equalWeight(): number {
  return 1;
}
