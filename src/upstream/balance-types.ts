// The contract between the proxy and the load-balancing policies.
import type { IncomingHttpHeaders } from "node:http";
import type { UpstreamServer } from "./server.js";

/** Every balancing policy; the config schema takes its list from here. */
export const LOAD_BALANCE_POLICIES = [
  "roundRobin",
  "random",
  "weightedRandom",
  "ipHash",
  "headerHash",
  "cookieHash",
  "leastConnections",
] as const;

export type LoadBalancePolicy = (typeof LOAD_BALANCE_POLICIES)[number];

export interface LoadBalanceSpec {
  policy: LoadBalancePolicy;
  /** Header whose first value headerHash hashes; required for that policy. */
  headerHashKey?: string;
  /** Cookie whose value cookieHash hashes; required for that policy. */
  cookieHashKey?: string;
}

export interface BalanceContext {
  clientIp: string;
  headers: IncomingHttpHeaders;
}

export interface LoadBalancer {
  /**
   * Chooses a healthy server not in `exclude`, or undefined when none is left. Calling again with the
   * returned servers added to `exclude` visits every eligible server exactly once (connect retries).
   */
  pick(context: BalanceContext, exclude?: ReadonlySet<UpstreamServer>): UpstreamServer | undefined;
}

/** Uniform in [0, 1), like Math.random; injectable so that tests can seed it. */
export type RandomSource = () => number;
