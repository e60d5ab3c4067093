// The `reason` label of wsgate_upstream_connect_errors_total: the error's row of TRAFFIC_ERRORS (src/errors.ts) says
// it, a short fixed vocabulary, so that a backend's error messages can never grow the number of series.
import type { GatewayError } from "../errors.js";

export function upstreamFailureReason(error: GatewayError): string {
  return error.logReason;
}
