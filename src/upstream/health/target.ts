// Where a check goes: the server's host, the check's port (or the server's), the check's uri (or the server's path).
import type { DialTlsOptions } from "../connect/dial.js";
import type { UpstreamServer } from "../server.js";

/** TLS settings for checks of wss:// and https:// servers: the pool's, so that checks trust what connections trust. */
export type CheckTlsOptions = DialTlsOptions;

/** A server's TLS settings for its checks; undefined means Node's defaults (system CAs, the URL's host). */
export type CheckTlsResolver = (server: UpstreamServer) => CheckTlsOptions | undefined;

export interface CheckTarget {
  /** Host for sockets: IPv6 without brackets. */
  hostname: string;
  /** Host as written in a URL: IPv6 in brackets. */
  urlHost: string;
  port: number;
  /** Path and query. */
  path: string;
  secure: boolean;
}

export function checkTarget(server: UpstreamServer, port: number | undefined, uri: string | undefined): CheckTarget {
  return {
    hostname: server.hostname,
    urlHost: server.url.hostname,
    port: port ?? server.port,
    path: uri ?? `${server.url.pathname}${server.url.search}`,
    secure: server.secure,
  };
}
