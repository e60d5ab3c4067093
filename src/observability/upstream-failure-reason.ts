// The `reason` label of wsgate_upstream_connect_errors_total: a short, fixed vocabulary, so that a backend's error
// messages can never grow the number of series.
import type { GatewayError } from "../errors.js";
import { reasonOfCode } from "../upstream/health/reasons.js";

const BY_GATEWAY_CODE: Readonly<Record<string, string>> = {
  WSG_UPSTREAM_DIAL_TIMEOUT: "dial_timeout",
  WSG_UPSTREAM_HANDSHAKE_TIMEOUT: "handshake_timeout",
  WSG_UPSTREAM_BAD_HANDSHAKE: "bad_handshake",
  WSG_UPSTREAM_RESET: "reset_during_handshake",
  WSG_UPSTREAM_TLS: "tls",
  WSG_UPSTREAM_NO_ANSWER: "no_answer",
  WSG_UPSTREAM_RESPONSE_TIMEOUT: "response_timeout",
};

/** What reasonOfCode makes of the usual errno codes. */
const CONNECT_REASONS = new Set([
  "connection refused",
  "connection reset",
  "timeout",
  "host unreachable",
  "network unreachable",
  "host not found",
]);

export function upstreamFailureReason(error: GatewayError): string {
  const known = BY_GATEWAY_CODE[error.code];
  if (known !== undefined) return known;
  if (error.code === "WSG_UPSTREAM_CONNECT") {
    // The errno (WebSocketProxy) or its reading (Proxy): "connection refused" either way.
    const raw = "reason" in error && typeof error.reason === "string" ? reasonOfCode(error.reason) : "";
    return CONNECT_REASONS.has(raw) ? raw.replaceAll(" ", "_") : "connect_failed";
  }
  return error.code.replace(/^WSG_/, "").toLowerCase();
}
