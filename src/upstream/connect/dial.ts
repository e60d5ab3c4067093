// Opening a connection to a backend: TCP, or TLS over it, with an optional PROXY protocol header first. The backend
// upgrade of sessions and the WebSocket health check dial here.
import net, { type Socket } from "node:net";
import tls, { type ConnectionOptions } from "node:tls";

/** TLS settings of a connection to a backend: a pool's (upstream/tls-options.ts) or a health check's. */
export type DialTlsOptions = Pick<
  ConnectionOptions,
  | "ca"
  | "cert"
  | "key"
  | "passphrase"
  | "pfx"
  | "rejectUnauthorized"
  | "servername"
  | "checkServerIdentity"
  | "minVersion"
  | "maxVersion"
>;

export interface DialRequest {
  /** The backend: ws://, wss://, http:// or https://. */
  url: URL;
  /** For wss:// and https:// backends: CA, SNI, client certificate (see upstream/tls-options.ts). System CAs otherwise. */
  tls?: DialTlsOptions | undefined;
  /** A PROXY protocol header (the pool's `sendProxyProtocol`): the connection's first bytes, before TLS too. */
  proxyHeader?: Buffer | undefined;
}

/** What a dial reads of a backend URL. */
interface DialTarget {
  /** The URL's href when read: a URL changed since is read again. */
  href: string;
  secure: boolean;
  host: string;
  port: number;
}

/**
 * Each backend URL read once, not per dial: Node's URL getters (protocol, hostname, port) slice a new string on every
 * read, five per backend handshake. `href` is a stored string, so checking it costs no allocation.
 */
const targets = new WeakMap<URL, DialTarget>();

function targetOf(url: URL): DialTarget {
  const href = url.href;
  let target = targets.get(url);
  if (target === undefined || target.href !== href) {
    const secure = url.protocol === "wss:" || url.protocol === "https:";
    // URL keeps IPv6 literals in brackets; sockets want them bare.
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port === "" ? (secure ? 443 : 80) : Number(url.port);
    target = { href, secure, host, port };
    targets.set(url, target);
  }
  return target;
}

/** Whether a backend URL asks for TLS. */
export function isSecureUrl(url: URL): boolean {
  return targetOf(url).secure;
}

/** The host for sockets: URL keeps IPv6 literals in brackets; sockets want them bare. */
export function hostOf(url: URL): string {
  return targetOf(url).host;
}

/** The URL's port, or the scheme's default. */
export function portOf(url: URL): number {
  return targetOf(url).port;
}

/**
 * Options for net.connect, as an object with a null prototype. net.Socket's constructor copies its options with a
 * spread and then adds four properties to the copy; on V8 11 (Node 20), a copy of a plain object literal gets a map
 * outside the transition tree, so each added property made a new map, for every socket: the property accesses of
 * every stream constructor in the process, accepted sockets' included, then missed their caches: about 70 inline
 * cache misses per proxied session. A copy of an object without a prototype keeps to shared maps.
 */
function connectOptions(host: string, port: number): net.NetConnectOpts {
  return { __proto__: null, host, port, noDelay: true } as net.NetConnectOpts;
}

/** The connection to a backend; with a PROXY header, that header is written first, before a TLS ClientHello too. */
export function dial(request: DialRequest): Socket {
  const { secure, host, port } = targetOf(request.url);
  // As https.request would: SNI from the options, else the host unless it is an IP address.
  const servername = request.tls?.servername ?? (net.isIP(host) ? "" : host);
  if (request.proxyHeader === undefined) {
    // noDelay here: applied once, when connected (setNoDelay on a connecting socket costs a second setsockopt).
    // A null prototype: see connectOptions.
    return secure ? tls.connect({ host, port, ...request.tls, servername }) : net.connect(connectOptions(host, port));
  }
  const tcp = net.connect(connectOptions(host, port));
  tcp.write(request.proxyHeader);
  if (!secure) return tcp;
  const secureSocket = tls.connect({ ...request.tls, socket: tcp, servername });
  // The TCP socket's own failures (refused, reset) are the TLS socket's.
  tcp.on("error", (error) => secureSocket.destroy(error));
  return secureSocket;
}
