import { Registry, collectDefaultMetrics } from "prom-client";

let registry: Registry | undefined;

/**
 * SEAM (until the metrics branch is merged): the registry this worker exposes to the primary. After the merge, return
 * the process registry of src/observability/metrics.ts instead; nothing else in src/cluster needs to change.
 */
export function workerMetricsRegistry(): Registry {
  if (registry === undefined) {
    registry = new Registry();
    collectDefaultMetrics({ register: registry });
  }
  return registry;
}
