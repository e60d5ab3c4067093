import { endpointText } from "../../util/net/ip-address.js";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import type https from "node:https";
import type { Socket } from "node:net";
import tls, { type SecureContext, type TLSSocket } from "node:tls";
import type { Logger } from "../../observability/logger.js";
import { DEFAULT_CIPHERS, SECURE_OPTIONS } from "./cipher-policy.js";
import { clientCertHeaders, type ClientCertHeaders } from "../../util/http/client-cert.js";
import { clientAuthOf, type ClientAuthMode, type HttpsSpec } from "./config.js";
import { DirectoryWatch } from "./file-watch.js";
import { caBundleProblem, parsePair, pemFromConfig, type CertificatePair } from "../../util/pem.js";
import { SniTable, namesOf } from "./sni.js";

/** The HTTPServer fields TLS termination reads. */
export interface TlsTerminationSpec extends HttpsSpec {
  name: string;
  /** Also the time a client gets to complete its TLS handshake. */
  clientHeaderTimeout: number;
}

/** Where a certificate pair comes from: inline in the config, or files that are watched. */
interface PairSource {
  /** How logs name the pair: `certs.alpha`, `certFiles[0]`. */
  label: string;
  inline?: { cert: string; key: string };
  files?: { certFile: string; keyFile: string };
}

interface LoadedPair {
  source: PairSource;
  pair: CertificatePair;
  names: string[];
  context: SecureContext;
}

/** Waits between attempts to load a changed pair that does not load (it may be half-written); then it is rejected. */
const RETRY_DELAYS_MS = [200, 400, 800, 1000];

const ALPN = ["http/1.1"];

function pairSources(spec: HttpsSpec): PairSource[] {
  const sources: PairSource[] = [];
  if (spec.certBase64 !== undefined && spec.keyBase64 !== undefined) {
    sources.push({ label: "certBase64", inline: { cert: spec.certBase64, key: spec.keyBase64 } });
  }
  for (const [name, cert] of Object.entries(spec.certs ?? {})) {
    const key = spec.keys?.[name];
    if (key !== undefined) sources.push({ label: `certs.${name}`, inline: { cert, key } });
  }
  for (const [index, files] of (spec.certFiles ?? []).entries()) {
    sources.push({ label: `certFiles[${index}]`, files });
  }
  return sources;
}

function inlinePem(text: string, what: string): string {
  const pem = pemFromConfig(text);
  if (pem === undefined) throw new Error(`${what}: expected PEM, or base64 of it`);
  return pem;
}

/** Why a client certificate did not verify (Node keeps an OpenSSL code such as CERT_HAS_EXPIRED), if it did not. */
function authorizationReason(socket: TLSSocket): string | undefined {
  const reason = socket.authorizationError as unknown;
  if (typeof reason === "string") return reason;
  return reason instanceof Error ? ((reason as NodeJS.ErrnoException).code ?? reason.message) : undefined;
}

function readErrorReason(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  return code ?? message;
}

/**
 * TLS for one HTTPServer: the certificate pairs and their SNI names, client certificate checks, the TLS options of
 * the https server, reloads of watched files, and the debug log of handshakes that fail.
 */
export class TlsTermination {
  readonly clientAuth: ClientAuthMode;
  private pairs: LoadedPair[];
  private table: SniTable<LoadedPair>;
  private ca: string | undefined;
  /** Shared by every context, so that session tickets survive an SNI switch; renewed when the CA changes. */
  private ticketKeys = randomBytes(48);
  private readonly sessionIdContext: string;
  private server: https.Server | undefined;
  private watch: DirectoryWatch | undefined;
  private reloading = false;
  private reloadAgain = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Contents last rejected per pair (or `ca`), so that unrelated changes in the directory do not log them again. */
  private readonly rejected = new Map<string, string>();
  private closed = false;

  constructor(
    private readonly spec: TlsTerminationSpec,
    private readonly log: Logger,
  ) {
    this.clientAuth = clientAuthOf(spec);
    this.sessionIdContext = createHash("sha256").update(`wsgate:${spec.name}`).digest("hex").slice(0, 32);
    this.ca = this.loadCaAtStart();
    this.pairs = pairSources(spec).map((source) => this.loadPairAtStart(source));
    this.table = this.buildTable();
    for (const loaded of this.pairs) this.logPair(loaded, "TLS certificate loaded");
  }

  /** Options for https.createServer, next to the HTTP ones. */
  serverOptions(): https.ServerOptions {
    const first = this.pairs[0];
    if (first === undefined) throw new Error(`HTTPServer ${this.spec.name}: https needs a certificate`);
    return {
      ...this.contextOptions(first.pair),
      requestCert: this.clientAuth !== "off",
      rejectUnauthorized: this.clientAuth === "require",
      ALPNProtocols: ALPN,
      // Only with a choice to make: Node then calls into JS on every handshake (OpenSSL's certificate callback), and
      // a context handed back is switched to per connection (its certificate, key and CA list copied into the SSL).
      ...(this.pairs.length > 1 ? { SNICallback: this.pickContext } : {}),
      handshakeTimeout: this.spec.clientHeaderTimeout,
    };
  }

  /**
   * The context for a client's server name. The default pair's is the server's own (set again by `install` when the
   * pair changes): none is handed back for it, so that its handshakes make no switch. The number of pairs is fixed
   * for the listener's life (a reload replaces them one for one), so a single pair needs no callback at all.
   */
  private readonly pickContext = (serverName: string, done: (error: Error | null, context?: SecureContext) => void) => {
    const entry = this.table.lookup(serverName);
    done(null, entry === undefined || entry === this.pairs[0] ? undefined : entry.context);
  };

  /** Hooks into the server built with `serverOptions()`: handshake failures, `request` checks, file watching. */
  attach(server: https.Server): void {
    this.server = server;
    server.on("tlsClientError", (error: NodeJS.ErrnoException, socket: TLSSocket) => {
      // A client certificate that does not verify ends as a hang-up; the socket still knows why.
      const reason = authorizationReason(socket) ?? error.code ?? error.message;
      this.log.debug(
        {
          event: "tls_handshake_failed",
          server: this.spec.name,
          client: endpointText(socket.remoteAddress, socket.remotePort),
          reason,
          ...(error.code !== undefined && error.code !== reason ? { code: error.code } : {}),
        },
        "TLS handshake failed",
      );
      socket.destroy();
    });
    if (this.clientAuth === "request") {
      // `request`: no certificate is fine, a certificate that does not verify is not.
      server.prependListener("secureConnection", (socket: TLSSocket) => {
        if (socket.authorized || socket.getPeerX509Certificate() === undefined) return;
        this.log.debug(
          {
            event: "tls_handshake_failed",
            server: this.spec.name,
            client: endpointText(socket.remoteAddress, socket.remotePort),
            reason: authorizationReason(socket) ?? "client certificate not verified",
          },
          "TLS handshake failed",
        );
        socket.destroy();
      });
    }
    const files = [
      ...(this.spec.caCertFile === undefined ? [] : [this.spec.caCertFile]),
      ...(this.spec.certFiles ?? []).flatMap((pair) => [pair.certFile, pair.keyFile]),
    ];
    if (files.length > 0) {
      this.watch = new DirectoryWatch(
        files,
        () => {
          this.attempt = 0;
          void this.reload();
        },
        this.log,
      );
    }
  }

  /** Headers for the backend from the client's certificate, when the server names any. */
  headersFor(socket: Socket): ClientCertHeaders | undefined {
    const config = this.spec.clientCertHeaders;
    return config === undefined ? undefined : clientCertHeaders(config, socket);
  }

  /** Stops watching; connections are the server's. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.watch?.close();
  }

  private contextOptions(pair: CertificatePair): tls.SecureContextOptions {
    return {
      cert: pair.certPem,
      key: pair.keyPem,
      ...(this.ca === undefined ? {} : { ca: this.ca }),
      minVersion: this.spec.minVersion ?? "TLSv1.2",
      ciphers: this.spec.ciphers ?? DEFAULT_CIPHERS,
      secureOptions: SECURE_OPTIONS,
      sessionIdContext: this.sessionIdContext,
      ticketKeys: this.ticketKeys,
    };
  }

  private loaded(source: PairSource, pair: CertificatePair): LoadedPair {
    return { source, pair, names: namesOf(pair.leaf), context: tls.createSecureContext(this.contextOptions(pair)) };
  }

  private buildTable(): SniTable<LoadedPair> {
    const table = new SniTable<LoadedPair>();
    for (const loaded of this.pairs) table.add(loaded.names, loaded);
    return table;
  }

  private loadCaAtStart(): string | undefined {
    if (this.spec.caCertBase64 !== undefined) return inlinePem(this.spec.caCertBase64, "caCertBase64");
    const file = this.spec.caCertFile;
    if (file === undefined) return undefined;
    let pem: string;
    try {
      pem = readFileSync(file, "utf8");
    } catch (error) {
      throw new Error(`HTTPServer ${this.spec.name}: caCertFile: cannot read ${file}: ${readErrorReason(error)}`);
    }
    const problem = caBundleProblem(pem);
    if (problem !== undefined) throw new Error(`HTTPServer ${this.spec.name}: caCertFile ${file}: ${problem}`);
    return pem;
  }

  private loadPairAtStart(source: PairSource): LoadedPair {
    const where = `HTTPServer ${this.spec.name}: ${source.label}`;
    let certPem: string;
    let keyPem: string;
    if (source.inline !== undefined) {
      certPem = inlinePem(source.inline.cert, `${where} certificate`);
      keyPem = inlinePem(source.inline.key, `${where} key`);
    } else if (source.files !== undefined) {
      const { certFile, keyFile } = source.files;
      try {
        certPem = readFileSync(certFile, "utf8");
        keyPem = readFileSync(keyFile, "utf8");
      } catch (error) {
        const path = (error as NodeJS.ErrnoException).path ?? certFile;
        throw new Error(`${where}: cannot read ${path}: ${readErrorReason(error)}`);
      }
    } else {
      throw new Error(`${where}: no certificate`);
    }
    try {
      return this.loaded(source, parsePair(certPem, keyPem));
    } catch (error) {
      const files = source.files === undefined ? "" : ` (${source.files.certFile}, ${source.files.keyFile})`;
      throw new Error(`${where}${files}: ${(error as Error).message}`);
    }
  }

  private logPair(loaded: LoadedPair, message: string): void {
    const leaf = loaded.pair.leaf;
    const entry = {
      server: this.spec.name,
      pair: loaded.source.label,
      names: loaded.names,
      notAfter: new Date(leaf.validTo).toISOString(),
      fingerprint: leaf.fingerprint256,
    };
    if (new Date(leaf.validTo).getTime() < Date.now()) this.log.warn(entry, `${message}, but it has expired`);
    else this.log.info(entry, message);
  }

  /** Re-reads the watched files; runs one at a time, and once more when asked again meanwhile. */
  private async reload(): Promise<void> {
    if (this.closed) return;
    if (this.reloading) {
      this.reloadAgain = true;
      return;
    }
    this.reloading = true;
    try {
      do {
        this.reloadAgain = false;
        await this.reloadOnce();
      } while (this.reloadAgain && !this.closed);
    } catch (error) {
      this.log.error({ server: this.spec.name, err: error }, "certificate reload failed");
    } finally {
      this.reloading = false;
    }
  }

  private async reloadOnce(): Promise<void> {
    const failures: Array<{ label: string; content: string; reason: string; files: string[] }> = [];
    let caChanged = false;
    const caFile = this.spec.caCertFile;
    if (caFile !== undefined) {
      const result = await readFile(caFile, "utf8").then(
        (text) => ({ text }),
        (error: unknown) => ({ error: `cannot read ${caFile}: ${readErrorReason(error)}` }),
      );
      if ("error" in result) {
        failures.push({ label: "caCertFile", content: "", reason: result.error, files: [caFile] });
      } else if (result.text !== this.ca && this.rejected.get("caCertFile") !== result.text) {
        const problem = caBundleProblem(result.text);
        if (problem === undefined) {
          this.ca = result.text;
          this.ticketKeys = randomBytes(48);
          caChanged = true;
        } else {
          failures.push({ label: "caCertFile", content: result.text, reason: problem, files: [caFile] });
        }
      }
    }
    const changed: LoadedPair[] = [];
    const pairs = [...this.pairs];
    for (const [index, current] of pairs.entries()) {
      const files = current.source.files;
      if (files === undefined) continue;
      const label = current.source.label;
      let certPem: string;
      let keyPem: string;
      try {
        [certPem, keyPem] = await Promise.all([readFile(files.certFile, "utf8"), readFile(files.keyFile, "utf8")]);
      } catch (error) {
        const path = (error as NodeJS.ErrnoException).path ?? files.certFile;
        const reason = `cannot read ${path}: ${readErrorReason(error)}`;
        failures.push({ label, content: "", reason, files: [files.certFile, files.keyFile] });
        continue;
      }
      const content = `${certPem}\u0000${keyPem}`;
      if (certPem === current.pair.certPem && keyPem === current.pair.keyPem) {
        this.rejected.delete(label);
        continue;
      }
      if (this.rejected.get(label) === content) continue;
      try {
        const pair = parsePair(certPem, keyPem);
        if (new Date(pair.leaf.validTo).getTime() < Date.now()) {
          throw new Error(`certificate expired on ${new Date(pair.leaf.validTo).toISOString()}`);
        }
        const loaded = this.loaded(current.source, pair);
        pairs[index] = loaded;
        changed.push(loaded);
        this.rejected.delete(label);
      } catch (error) {
        failures.push({ label, content, reason: (error as Error).message, files: [files.certFile, files.keyFile] });
      }
    }
    if (caChanged) {
      // Every context carries the CA for client certificates.
      for (const [index, loaded] of pairs.entries()) pairs[index] = this.loaded(loaded.source, loaded.pair);
    }
    if (changed.length > 0 || caChanged) this.install(pairs);
    if (caChanged) this.log.info({ server: this.spec.name, file: caFile }, "client CA certificates reloaded");
    for (const loaded of changed) this.logPair(loaded, "TLS certificate reloaded");
    this.handleFailures(failures);
  }

  private install(pairs: LoadedPair[]): void {
    const defaultBefore = this.pairs[0];
    this.pairs = pairs;
    this.table = this.buildTable();
    const first = pairs[0];
    if (this.server !== undefined && first !== undefined && first !== defaultBefore) {
      // Clients that send no SNI get the server's own context.
      this.server.setSecureContext(this.contextOptions(first.pair));
    }
  }

  /** Schedules another attempt for pairs that did not load, or, after the last attempt, rejects them in the log. */
  private handleFailures(failures: ReadonlyArray<{ label: string; content: string; reason: string; files: string[] }>) {
    clearTimeout(this.retryTimer);
    if (failures.length === 0 || this.closed) {
      this.attempt = 0;
      return;
    }
    const delay = RETRY_DELAYS_MS[this.attempt];
    if (delay !== undefined) {
      this.attempt++;
      for (const failure of failures) {
        this.log.debug(
          { server: this.spec.name, pair: failure.label, reason: failure.reason, attempt: this.attempt },
          "changed certificate files do not load yet; trying again",
        );
      }
      this.retryTimer = setTimeout(() => void this.reload(), delay);
      return;
    }
    this.attempt = 0;
    for (const failure of failures) {
      this.rejected.set(failure.label, failure.content);
      this.log.error(
        { server: this.spec.name, pair: failure.label, files: failure.files, reason: failure.reason },
        "new certificate files rejected; the previous ones stay in use",
      );
    }
  }
}
