import http, { type ClientRequest, type IncomingMessage } from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import {
  GatewayError,
  UpstreamConnectError,
  UpstreamDialTimeoutError,
  UpstreamHandshakeTimeoutError,
  UpstreamResetError,
} from "../errors.js";
import type { BackendTlsOptions } from "../upstream/tls-options.js";

/**
 * The TLS handshake with a backend failed: its certificate did not verify (CERT_HAS_EXPIRED,
 * UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID, ...), or it refused ours, or it does not speak TLS.
 * Another server of the pool may still be tried.
 */
export class UpstreamTlsError extends GatewayError {
  readonly code = "WSG_UPSTREAM_TLS";
  readonly status = 502;
  readonly side = "upstream";
  override readonly retryable = true;
  constructor(
    readonly backend: string,
    /** OpenSSL's or Node's code, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE. */
    readonly tlsCode: string,
    readonly detail: string,
  ) {
    super(`TLS handshake with backend ${backend} failed: ${tlsCode}${detail === tlsCode ? "" : ` (${detail})`}`);
  }
}

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

export interface BackendHandshakeRequest {
  /** The backend: ws:// or wss:// (http:// and https:// are taken as the same). */
  url: URL;
  /** `host:port`, for messages. */
  label: string;
  /** Request target: path and query. */
  target: string;
  /** Every header to send, in order, `Host` included. */
  headers: ReadonlyArray<readonly [string, string]>;
  dialTimeout: number;
  handshakeTimeout: number;
  /** For wss:// backends: CA, SNI, client certificate (see upstream/tls-options.ts). The system CAs otherwise. */
  tls?: BackendTlsOptions | undefined;
}

export type BackendHandshakeResult =
  | { kind: "upgraded"; response: IncomingMessage; socket: Socket; head: Buffer }
  /** The backend answered with something other than 101; the answer is the client's to see. */
  | { kind: "answered"; response: IncomingMessage };

export interface BackendHandshake {
  readonly result: Promise<BackendHandshakeResult>;
  /** Gives up (the client left): the backend connection is destroyed. */
  abort(): void;
}

function hostOf(url: URL): string {
  // URL keeps IPv6 literals in brackets; sockets want them bare.
  return url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
}

/** Opens a TCP (or TLS) connection to a backend and sends the upgrade request; settles once it answers. */
export function openBackendHandshake(request: BackendHandshakeRequest): BackendHandshake {
  const secure = request.url.protocol === "wss:" || request.url.protocol === "https:";
  const flatHeaders: string[] = [];
  for (const [name, value] of request.headers) flatHeaders.push(name, value);
  const options = {
    host: hostOf(request.url),
    port: request.url.port === "" ? (secure ? 443 : 80) : Number(request.url.port),
    method: "GET",
    path: request.target,
    headers: flatHeaders,
    setHost: false,
    agent: false as const,
    ...(secure ? request.tls : undefined),
  };
  let clientRequest: ClientRequest | undefined;
  const result = new Promise<BackendHandshakeResult>((resolve, reject) => {
    let connected = false;
    let tcpConnected = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (error: GatewayError | null, value?: BackendHandshakeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error !== null) {
        req.destroy();
        reject(error);
      } else if (value !== undefined) {
        resolve(value);
      }
    };
    const req = (secure ? https : http).request(options);
    clientRequest = req;
    timer = setTimeout(() => settle(new UpstreamDialTimeoutError(request.label)), request.dialTimeout);
    req.on("socket", (socket: Socket) => {
      socket.setNoDelay(true);
      if (secure) socket.once("connect", () => (tcpConnected = true));
      socket.once(secure ? "secureConnect" : "connect", () => {
        connected = true;
        clearTimeout(timer);
        timer = setTimeout(() => settle(new UpstreamHandshakeTimeoutError(request.label)), request.handshakeTimeout);
      });
    });
    req.on("upgrade", (response: IncomingMessage, socket: Socket, head: Buffer) => {
      if (settled) {
        socket.destroy();
        return;
      }
      socket.pause();
      settle(null, { kind: "upgraded", response, socket, head });
    });
    req.on("response", (response: IncomingMessage) => {
      response.pause();
      settle(null, { kind: "answered", response });
    });
    req.on("error", (error: NodeJS.ErrnoException) => {
      const reason = error.code ?? error.message;
      // Between TCP connect and a finished TLS handshake every failure is the handshake's; after it, an alert (a
      // backend refusing our client certificate, in TLS 1.3) still names itself with ERR_SSL_*.
      if (secure && ((tcpConnected && !connected) || isTlsErrorCode(error.code))) {
        const failure = tlsFailure(error);
        settle(new UpstreamTlsError(request.label, failure.code, failure.detail));
        return;
      }
      settle(
        connected ? new UpstreamResetError(request.label, reason) : new UpstreamConnectError(request.label, reason),
      );
    });
    req.end();
  });
  return {
    result,
    abort: () => clientRequest?.destroy(),
  };
}
