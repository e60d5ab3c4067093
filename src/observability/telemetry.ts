// What one Gateway reports to: made by the Gateway (or handed to it by its embedder) and passed down to its servers,
// request contexts, filters and pools, as traefik hands its health checker its metrics. Nothing here is process-wide:
// two gateways in one process count, log and redact apart.
import { AccessLogRegistry } from "./access-log.js";
import { GatewayMetrics, type GatewayMetricsOptions, type PoolStatusReader } from "./metrics.js";
import { SecretQueryParams } from "./redact.js";

export interface Telemetry {
  readonly metrics: GatewayMetrics;
  /** The HTTPServers' access logs, by server name. */
  readonly accessLogs: AccessLogRegistry;
  /** Query parameters whose values never reach a log line (`access_token`, the Validators' `jwt.queryParam`s). */
  readonly secrets: SecretQueryParams;
}

/** A fresh set; `pools` is what the pool gauges read at scrape time. */
export function createTelemetry(pools: PoolStatusReader, options: GatewayMetricsOptions = {}): Telemetry {
  return {
    metrics: new GatewayMetrics(pools, options),
    accessLogs: new AccessLogRegistry(),
    secrets: new SecretQueryParams(),
  };
}
