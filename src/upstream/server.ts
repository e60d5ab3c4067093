// One upstream server: its address as parsed once, plus the live state balancers read.

export interface UpstreamServerSpec {
  url: string;
  weight: number;
  keepHost: boolean;
  tags: string[];
}

const DEFAULT_PORTS: Readonly<Record<string, number>> = { "http:": 80, "ws:": 80, "https:": 443, "wss:": 443 };

export class UpstreamServer {
  readonly url: URL;
  readonly weight: number;
  readonly keepHost: boolean;
  readonly tags: readonly string[];
  /** "host:port" with the scheme's default port filled in; IPv6 hosts keep their brackets. */
  readonly hostPort: string;
  /** Host for net.connect: IPv6 without brackets. */
  readonly hostname: string;
  readonly port: number;
  /** https: or wss: (TLS to the upstream). */
  readonly secure: boolean;
  /** Maintained by the proxy as connections open and close; leastConnections reads it. */
  activeConnections = 0;
  /** Maintained by health checking; every balancing policy skips servers whose flag is false. */
  healthy = true;
  /** Set by the operator (`wsgate drain`): no new connections, whatever health says; lasts as long as this object. */
  draining = false;

  constructor(spec: UpstreamServerSpec) {
    let url: URL;
    try {
      url = new URL(spec.url);
    } catch (error) {
      throw new Error(`invalid upstream server url ${JSON.stringify(spec.url)}`, { cause: error });
    }
    const defaultPort = DEFAULT_PORTS[url.protocol];
    if (defaultPort === undefined) {
      throw new Error(`upstream server url ${JSON.stringify(spec.url)}: scheme must be http, https, ws or wss`);
    }
    if (!Number.isSafeInteger(spec.weight) || spec.weight < 0) {
      throw new Error(`upstream server ${JSON.stringify(spec.url)}: weight must be a non-negative integer`);
    }
    this.url = url;
    this.weight = spec.weight;
    this.keepHost = spec.keepHost;
    this.tags = Object.freeze([...spec.tags]);
    this.port = url.port === "" ? defaultPort : Number(url.port);
    this.hostPort = `${url.hostname}:${this.port}`;
    this.hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    this.secure = url.protocol === "https:" || url.protocol === "wss:";
  }
}

/** Whether an operator's SERVER names this server: its "host:port" or its URL (as configured or normalised). */
export function serverMatches(server: UpstreamServer, text: string): boolean {
  return text === server.hostPort || text === server.url.href || text === server.url.href.replace(/\/$/, "");
}

/** Short form for logs: "host:port". */
export function describeServer(server: UpstreamServer): string {
  return server.hostPort;
}
