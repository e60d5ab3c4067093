import type { Registry } from "prom-client";
import { gatewayMetrics } from "../observability/metrics.js";

/** The registry a worker exposes to the primary, which aggregates every worker's into one `/metrics`. */
export function workerMetricsRegistry(): Registry {
  return gatewayMetrics.registry;
}
