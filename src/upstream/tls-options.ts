// TLS to backends (wss://, https://): one builder for every connection the gateway opens to a backend, so that
// proxied sessions and health checks trust the same certificates.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import tls, { type ConnectionOptions } from "node:tls";
import { pemFromConfig } from "../util/pem.js";

/** A pool's or a server's `tls`, as configured (WebSocketProxy `pools[].tls`, `pools[].servers[].tls`). */
export interface BackendTlsSpec {
  caFile?: string | undefined;
  caBase64?: string | undefined;
  serverName?: string | undefined;
  insecureSkipVerify?: boolean | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

/** Options for tls.connect / https.request, to spread next to host and port. */
export type BackendTlsOptions = Pick<
  ConnectionOptions,
  "ca" | "cert" | "key" | "servername" | "rejectUnauthorized" | "checkServerIdentity"
>;

/**
 * The settings of one server: its own `tls` over its pool's, field by field. The CA (`caFile`/`caBase64`) and the
 * client pair (`certFile`/`keyFile`) go as units: a server that gives either part replaces the pool's.
 */
export function mergeBackendTls(
  pool: BackendTlsSpec | undefined,
  server: BackendTlsSpec | undefined,
): BackendTlsSpec | undefined {
  if (server === undefined) return pool;
  if (pool === undefined) return server;
  const serverCa = server.caFile !== undefined || server.caBase64 !== undefined;
  const serverPair = server.certFile !== undefined || server.keyFile !== undefined;
  return {
    caFile: serverCa ? server.caFile : pool.caFile,
    caBase64: serverCa ? server.caBase64 : pool.caBase64,
    certFile: serverPair ? server.certFile : pool.certFile,
    keyFile: serverPair ? server.keyFile : pool.keyFile,
    serverName: server.serverName ?? pool.serverName,
    insecureSkipVerify: server.insecureSkipVerify ?? pool.insecureSkipVerify,
  };
}

function readPem(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw new Error(`tls.${what}: cannot read ${file}: ${code ?? message}`, { cause: error });
  }
}

/**
 * TLS options for connections to `url` (a wss:// or https:// backend). Without settings the system CAs verify the
 * backend's certificate against the URL's host. With settings: `caFile`/`caBase64` replace the system CAs,
 * `serverName` is sent as SNI and is the name verified, `insecureSkipVerify` verifies nothing, and
 * `certFile`/`keyFile` are presented when the backend asks for a client certificate. Files are read here, once:
 * call it when building, not per connection. Throws with a message naming the unreadable file.
 */
export function backendTlsOptions(url: URL, settings: BackendTlsSpec | undefined): BackendTlsOptions {
  const options: BackendTlsOptions = { rejectUnauthorized: settings?.insecureSkipVerify !== true };
  const name = settings?.serverName;
  if (name !== undefined) {
    // SNI cannot carry an IP address (RFC 6066); such a name is only verified.
    if (isIP(name) === 0) options.servername = name;
    options.checkServerIdentity = (_host, cert) => tls.checkServerIdentity(name, cert);
  } else if (url.hostname !== "" && isIP(url.hostname.replace(/^\[|\]$/g, "")) === 0) {
    options.servername = url.hostname;
  }
  if (settings === undefined) return options;
  if (settings.caFile !== undefined) options.ca = readPem(settings.caFile, "caFile");
  else if (settings.caBase64 !== undefined) options.ca = pemFromConfig(settings.caBase64) ?? settings.caBase64;
  if (settings.certFile !== undefined && settings.keyFile !== undefined) {
    options.cert = readPem(settings.certFile, "certFile");
    options.key = readPem(settings.keyFile, "keyFile");
  }
  return options;
}

/** Whether the settings turn verification off (to be logged as an insecure setting). */
export function isInsecure(settings: BackendTlsSpec | undefined): boolean {
  return settings?.insecureSkipVerify === true;
}

/**
 * The TLS options of every wss:// server of a pool, built once. Servers are found by URL, so that the table does not
 * depend on how the pool builds its servers; two entries with the same URL share the first one's settings.
 */
export class BackendTlsTable {
  private readonly byUrl = new Map<string, BackendTlsOptions>();
  /** URLs of servers whose certificates are not verified. */
  readonly insecure: string[] = [];
  /**
   * The pool's own `tls` as options, for whoever connects to the pool's servers without a per-server table (health
   * checks); the server name then comes from each URL unless the pool sets `serverName`. Undefined without `tls`.
   */
  readonly poolOptions: BackendTlsOptions | undefined;

  /** `label` names the pool in errors, e.g. "pipeline/filter/pools[0]". Throws when a file cannot be read. */
  constructor(
    pool: {
      tls?: BackendTlsSpec | undefined;
      servers: ReadonlyArray<{ url: string; tls?: BackendTlsSpec | undefined }>;
    },
    label = "pool",
  ) {
    const where = (what: string, build: () => BackendTlsOptions): BackendTlsOptions => {
      try {
        return build();
      } catch (error) {
        throw new Error(`${label} ${what}${(error as Error).message}`, { cause: error });
      }
    };
    // A URL with an IP host adds no SNI of its own: each check's URL supplies it.
    const poolTls = pool.tls;
    this.poolOptions =
      poolTls === undefined ? undefined : where("", () => backendTlsOptions(new URL("wss://0.0.0.0"), poolTls));
    for (const [index, server] of pool.servers.entries()) {
      const url = new URL(server.url);
      if (url.protocol !== "wss:" && url.protocol !== "https:") continue;
      if (this.byUrl.has(url.href)) continue;
      const settings = mergeBackendTls(pool.tls, server.tls);
      this.byUrl.set(
        url.href,
        where(`servers[${index}] `, () => backendTlsOptions(url, settings)),
      );
      if (isInsecure(settings)) this.insecure.push(server.url);
    }
  }

  /** Options for a server of the pool; undefined for ws:// servers. */
  optionsFor(url: URL): BackendTlsOptions | undefined {
    return this.byUrl.get(url.href);
  }
}
