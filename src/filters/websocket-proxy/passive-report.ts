// How a failed backend handshake reads in passive-health log lines ("connection refused", "handshake timeout").
import {
  UpstreamConnectError,
  UpstreamDialTimeoutError,
  UpstreamHandshakeError,
  UpstreamHandshakeTimeoutError,
  UpstreamResetError,
  type GatewayError,
} from "../../errors.js";
import { reasonOfCode } from "../../upstream/health/reasons.js";

export function failureReason(error: GatewayError): string {
  if (error instanceof UpstreamConnectError) return reasonOfCode(error.reason);
  if (error instanceof UpstreamDialTimeoutError) return "dial timeout";
  if (error instanceof UpstreamHandshakeTimeoutError) return "handshake timeout";
  if (error instanceof UpstreamResetError) return `${reasonOfCode(error.reason)} during the handshake`;
  if (error instanceof UpstreamHandshakeError) return `bad 101: ${error.reason}`;
  return error.message;
}

/** The path of a request target, without the query: what a pool filter's `urls` test. */
export function pathOf(target: string): string {
  const query = target.indexOf("?");
  return query < 0 ? target : target.slice(0, query);
}
