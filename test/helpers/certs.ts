// Test certificates, made with the openssl command-line tool into a temporary directory: a CA, server and client
// certificates signed by it, an expired one, and a second CA that signs nothing the gateway trusts. Also the wss://
// clients and backends the TLS tests use.
import { execFile } from "node:child_process";
import { randomBytes, type X509Certificate } from "node:crypto";
import type { IncomingMessage } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { WebSocket, WebSocketServer, type ClientOptions } from "ws";
import { withTimeout } from "./net.js";

const run = promisify(execFile);

export interface CertFiles {
  /** Certificate, PEM. */
  cert: string;
  /** Private key, PEM. */
  key: string;
  certFile: string;
  keyFile: string;
}

export interface IssueOptions {
  /** Subject common name; also the first DNS name unless `dns` is given. */
  cn: string;
  /** DNS subject alternative names (wildcards allowed). */
  dns?: string[];
  /** IP subject alternative names. */
  ips?: string[];
  usage?: "server" | "client";
  /** Issued in the past and expired a day later. */
  expired?: boolean;
  /** Signed by the second CA, which nothing trusts. */
  byOtherCa?: boolean;
  /** Valid until then (whole seconds) instead of two days from now: a short-lived client certificate. */
  notAfter?: Date;
}

const CA_CONFIG = `[ca]
default_ca = ca_section
[ca_section]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any_policy
unique_subject = no
[any_policy]
organizationName = optional
commonName = supplied
`;

/** openssl's date form for -startdate / -enddate. */
function asn1Time(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, "").slice(0, 14)}Z`;
}

async function openssl(cwd: string, args: string[]): Promise<void> {
  try {
    await run("openssl", args, { cwd, timeout: 10_000 });
  } catch (error) {
    const { stderr, code } = error as { stderr?: string; code?: unknown };
    if (code === "ENOENT") {
      throw new Error("the TLS tests need the openssl command (Debian: apt-get install openssl)", { cause: error });
    }
    throw new Error(`openssl ${args[0] ?? ""} failed: ${stderr ?? String(error)}`, { cause: error });
  }
}

/**
 * A small PKI in a temp directory. `ca` signs everything by default; `otherCa` is a second, unrelated CA. Certificates
 * use P-256 keys, which openssl makes in milliseconds.
 */
export class TestPki {
  private counter = 0;

  /**
   * `openssl ca` rewrites its serial and index files by renaming them: two signings by one CA at once can find the
   * serial missing. Certificates are still made in parallel; only the signing step waits its turn.
   */
  private signing: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly ca: CertFiles,
    readonly otherCa: CertFiles,
  ) {}

  static async create(): Promise<TestPki> {
    const dir = await mkdtemp(join(tmpdir(), "wsgate-pki-"));
    try {
      const ca = await makeCa(dir, "ca", "wsgate test CA");
      const otherCa = await makeCa(dir, "other-ca", "wsgate other CA");
      return new TestPki(dir, ca, otherCa);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Issues a certificate with a fresh key; files are named after `name` (made unique). */
  async issue(options: IssueOptions): Promise<CertFiles> {
    const base = `${(options.dns?.[0] ?? options.cn).replace(/[^A-Za-z0-9.-]/g, "_")}-${++this.counter}`;
    const signer = options.byOtherCa === true ? "other-ca" : "ca";
    const keyFile = join(this.dir, `${base}.key`);
    const csrFile = join(this.dir, `${base}.csr`);
    const certFile = join(this.dir, `${base}.crt`);
    const extFile = join(this.dir, `${base}.ext`);
    await openssl(this.dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile]);
    await openssl(this.dir, [
      "req",
      "-new",
      "-utf8",
      "-key",
      keyFile,
      "-subj",
      `/O=wsgate tests/CN=${options.cn}`,
      "-out",
      csrFile,
    ]);
    const names = [
      ...(options.dns ?? (options.usage === "client" ? [] : [options.cn])).map((dns) => `DNS:${dns}`),
      ...(options.ips ?? []).map((ip) => `IP:${ip}`),
    ];
    const ext = [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      `extendedKeyUsage=${options.usage === "client" ? "clientAuth" : "serverAuth"}`,
      ...(names.length > 0 ? [`subjectAltName=${names.join(",")}`] : []),
    ];
    await writeFile(extFile, `${ext.join("\n")}\n`);
    const now = Date.now();
    const start = options.expired === true ? new Date(now - 10 * 86_400_000) : new Date(now - 3_600_000);
    const end =
      options.expired === true ? new Date(now - 9 * 86_400_000) : (options.notAfter ?? new Date(now + 2 * 86_400_000));
    const signed = this.signing.then(() =>
      openssl(join(this.dir, signer), [
        "ca",
        "-batch",
        "-notext",
        "-config",
        "ca.cnf",
        "-cert",
        "ca.crt",
        "-keyfile",
        "ca.key",
        "-in",
        csrFile,
        "-out",
        certFile,
        "-extfile",
        extFile,
        "-startdate",
        asn1Time(start),
        "-enddate",
        asn1Time(end),
      ]),
    );
    this.signing = signed.catch(() => undefined);
    await signed;
    return { cert: await readFile(certFile, "utf8"), key: await readFile(keyFile, "utf8"), certFile, keyFile };
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function makeCa(dir: string, name: string, cn: string): Promise<CertFiles> {
  const caDir = join(dir, name);
  await mkdir(caDir);
  await writeFile(join(caDir, "ca.cnf"), CA_CONFIG);
  await writeFile(join(caDir, "index.txt"), "");
  await writeFile(join(caDir, "serial"), `01${randomBytes(7).toString("hex")}\n`);
  const keyFile = join(caDir, "ca.key");
  const certFile = join(caDir, "ca.crt");
  await openssl(caDir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile]);
  await openssl(caDir, [
    "req",
    "-x509",
    "-new",
    "-key",
    keyFile,
    "-subj",
    `/O=wsgate tests/CN=${cn}`,
    "-days",
    "3",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    certFile,
  ]);
  return { cert: await readFile(certFile, "utf8"), key: await readFile(keyFile, "utf8"), certFile, keyFile };
}

// ---- TLS clients and backends for tests ----

/** A wss:// client that opened, with the certificate the server showed it. */
export interface OpenedWss {
  ws: WebSocket;
  /** The server's certificate as this client saw it. */
  serverCert: X509Certificate;
}

/** `ws` client options, with the SNI name (which `ws` passes on to tls.connect). */
export type WssOptions = ClientOptions & { servername?: string };

/** Opens a wss:// client; rejects with the TLS or HTTP failure ("status 502: body", or the error's code). */
export function openWss(url: string, options: WssOptions = {}): Promise<OpenedWss> {
  return withTimeout(
    new Promise<OpenedWss>((resolve, reject) => {
      const ws = new WebSocket(url, options);
      ws.on("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => reject(new Error(`status ${res.statusCode ?? 0}: ${body.trim()}`)));
        res.on("error", () => reject(new Error(`status ${res.statusCode ?? 0}`)));
      });
      ws.on("error", (error: NodeJS.ErrnoException) => reject(new Error(error.code ?? error.message)));
      ws.on("open", () => {
        const socket = (ws as unknown as { _socket: TLSSocket })._socket;
        const serverCert = socket.getPeerX509Certificate();
        if (serverCert === undefined) reject(new Error("no server certificate"));
        else resolve({ ws, serverCert });
      });
    }),
    5000,
    `a wss:// connection to ${url}`,
  );
}

/** Sends `text` and resolves with the next message. */
export function echo(ws: WebSocket, text: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      ws.once("message", (data) => resolve(String(data)));
      ws.once("close", () => reject(new Error("closed before the echo")));
      ws.send(text);
    }),
    3000,
    "an echo",
  );
}

/** Closes a client and waits for the close, or cuts it after a while. */
export async function closeWs(ws: WebSocket): Promise<void> {
  if (ws.readyState === WebSocket.CLOSED) return;
  await withTimeout(
    new Promise<void>((resolve) => {
      ws.once("close", () => resolve());
      ws.close();
    }),
    3000,
    "the client to close",
  ).catch(() => ws.terminate());
}

export interface WssBackend {
  readonly port: number;
  /** Upgrades seen: headers, the SNI name the gateway sent, the client certificate's subject if any. */
  readonly upgrades: Array<{ headers: IncomingMessage["headers"]; servername: string | undefined; clientCn?: string }>;
  close(): Promise<void>;
}

/** An echoing wss:// backend on 127.0.0.1; with `ca` it requires client certificates signed by it. */
export function startWssBackend(options: { cert: CertFiles; ca?: string }): Promise<WssBackend> {
  const server = https.createServer({
    cert: options.cert.cert,
    key: options.cert.key,
    ...(options.ca === undefined ? {} : { ca: options.ca, requestCert: true, rejectUnauthorized: true }),
  });
  server.on("tlsClientError", () => {});
  // Plain HTTPS requests (HTTP health checks) get a 200.
  server.on("request", (_req: unknown, res: { end(body: string): void }) => res.end("ok"));
  const wss = new WebSocketServer({ server });
  const upgrades: WssBackend["upgrades"] = [];
  wss.on("connection", (socket, req) => {
    const tlsSocket = req.socket as TLSSocket;
    const servername = typeof tlsSocket.servername === "string" ? tlsSocket.servername : undefined;
    const peer = tlsSocket.getPeerX509Certificate();
    const clientCn = peer === undefined ? undefined : /(?:^|\n)CN=([^\n]*)/.exec(peer.subject)?.[1];
    upgrades.push({ headers: req.headers, servername, ...(clientCn === undefined ? {} : { clientCn }) });
    socket.on("error", () => socket.terminate());
    socket.on("message", (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        upgrades,
        close: () =>
          new Promise<void>((done) => {
            for (const client of wss.clients) client.terminate();
            wss.close();
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
