// The one classifier of connect failures: what a socket error means depends on how far the connection got. Both
// proxy filters (the backend upgrade and the HTTP exchange) and the health checks read their dial failures here.
import type { Socket } from "node:net";
import {
  UpstreamConnectError,
  UpstreamDialTimeoutError,
  UpstreamHandshakeError,
  UpstreamHandshakeTimeoutError,
  UpstreamResetError,
  UpstreamTlsError,
  type GatewayError,
} from "../../errors.js";
import { reasonOfCode } from "../health/reasons.js";

/** OpenSSL's protocol errors carry ERR_SSL_*; certificate checks carry X509 codes, or ERR_TLS_* from Node. */
function isTlsErrorCode(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_"));
}

/**
 * The code and text of a TLS failure. Node names certificate errors (CERT_HAS_EXPIRED, ...) and most OpenSSL ones
 * (ERR_SSL_*) itself; a bare EPROTO gets the ERR_SSL_* name of the OpenSSL reason in its message, as Node would.
 */
function tlsFailure(error: NodeJS.ErrnoException): { code: string; detail: string } {
  const openssl = /error:[0-9A-F]+:SSL routines:[^:]*:([^:\n]+)/i.exec(error.message)?.[1]?.trim();
  const detail = openssl ?? error.message.split("\n", 1)[0] ?? error.message;
  let code = error.code ?? "TLS_ERROR";
  if (code === "EPROTO" && openssl !== undefined) code = `ERR_SSL_${openssl.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}`;
  return { code, detail };
}

/**
 * How far one connection to a backend got: TCP connected, then (for TLS) the TLS handshake done. Watches a socket's
 * events; `dialFailure` reads a socket error against it.
 */
export class DialStage {
  /** The TCP connection is up (TLS: the handshake may still be running). */
  tcpConnected = false;
  /** The connection is usable: TCP up, and the TLS handshake done for a secure one. */
  connected = false;

  constructor(
    /** `host:port`, for messages. */
    readonly backend: string,
    readonly secure: boolean,
  ) {}

  /** Follows `socket` to its connection (Nagle off); `onConnected` runs once it is usable. */
  watch(socket: Socket, onConnected: () => void): void {
    socket.setNoDelay(true);
    if (this.secure) socket.once("connect", () => (this.tcpConnected = true));
    socket.once(this.secure ? "secureConnect" : "connect", () => {
      this.connected = true;
      onConnected();
    });
  }

  /** A socket already connected (a kept-alive one). */
  markConnected(): void {
    this.tcpConnected = true;
    this.connected = true;
  }

  /**
   * A socket error as a dial failure: the TLS handshake's, or the TCP connect's; undefined once the connection is
   * up, when what failed is the exchange on it (the caller's protocol says how that reads).
   */
  dialFailure(error: NodeJS.ErrnoException): GatewayError | undefined {
    // Between TCP connect and a finished TLS handshake every failure is the handshake's; after it, an alert (a
    // backend refusing our client certificate, in TLS 1.3) still names itself with ERR_SSL_*.
    if (this.secure && ((this.tcpConnected && !this.connected) || isTlsErrorCode(error.code))) {
      const failure = tlsFailure(error);
      return new UpstreamTlsError(this.backend, failure.code, failure.detail);
    }
    if (!this.connected) return new UpstreamConnectError(this.backend, error.code ?? error.message);
    return undefined;
  }

  /** A socket error during the backend upgrade: a dial failure, or the backend closing before its answer. */
  upgradeFailure(error: NodeJS.ErrnoException): GatewayError {
    return this.dialFailure(error) ?? new UpstreamResetError(this.backend, error.code ?? error.message);
  }
}

/**
 * How a failed connect reads in passive-health log lines and pool status ("connection refused", "handshake
 * timeout"): one short reason per failure, whichever filter met it.
 */
export function failureReason(error: GatewayError): string {
  if (error instanceof UpstreamConnectError) return reasonOfCode(error.reason);
  if (error instanceof UpstreamDialTimeoutError) return "dial timeout";
  if (error instanceof UpstreamHandshakeTimeoutError) return "handshake timeout";
  if (error instanceof UpstreamResetError) return `${reasonOfCode(error.reason)} during the handshake`;
  if (error instanceof UpstreamHandshakeError) return `bad 101: ${error.reason}`;
  return error.message;
}
