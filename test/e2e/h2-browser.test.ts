// WebSockets over HTTP/2 (RFC 8441) in a real browser: Debian's Chromium (playwright-core) loads an HTTPS page from
// wsgate (`http2: true`), whose HTML and script come through the Proxy filter from a plain HTTP backend, and the page
// opens three wss:// WebSockets on the same origin to an echo backend through WebSocketProxy. Proven from both ends:
// the echoes work; Chromium's net log shows the page, the script and the three extended CONNECTs on one HTTP/2
// session (after the server's SETTINGS_ENABLE_CONNECT_PROTOCOL = 1); the gateway's session list shows the sessions
// came over h2 from that connection's port, and the access log says h2 for the requests and the sessions. With
// `http2WebSockets: false` the page still loads over h2, the setting is not sent, and each socket falls back to an
// HTTP/1.1 upgrade on a connection of its own, and works.
//
// The certificate is made by the test's CA and accepted with --ignore-certificate-errors-spki-list (its key's
// SPKI hash): Chromium then treats it as trusted, as a real site's would be. (Chromium 156 uses RFC 8441 just the
// same with --ignore-certificate-errors or playwright's ignoreHTTPSErrors; no feature flag is needed.)
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { admin } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { TestPki, type CertFiles } from "../helpers/certs.js";
import { chromiumMissing, launchChromium } from "../helpers/chromium.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { readNetLog, type NetLog } from "./h2-browser-netlog.js";

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>h2 websocket</title><script src="/app.js"></script></head>
<body><p id="state">loading</p></body></html>
`;

// Opens a socket on the page's own origin, sends one message and keeps the socket open until told to close.
const SOCKETS = 3;

// Opens SOCKETS sockets on the page's own origin, sends one message on each and keeps them open until told to close;
// `echo` resolves with the echoes joined.
const SCRIPT = `
window.sockets = [];
window.echo = Promise.all(
  Array.from({ length: ${SOCKETS} }, (_, i) =>
    new Promise((resolve, reject) => {
      const socket = new WebSocket("wss://" + location.host + "/ws");
      window.sockets.push(socket);
      socket.onopen = () => socket.send("hello " + i + " from the page");
      socket.onmessage = (event) => resolve(String(event.data));
      socket.onerror = () => reject(new Error("websocket error"));
      socket.onclose = (event) => reject(new Error("closed " + event.code));
    }),
  ),
).then((echoes) => echoes.sort().join(", "));
window.closeSockets = () =>
  Promise.all(
    window.sockets.map(
      (socket) =>
        new Promise((resolve) => {
          socket.onclose = (event) => resolve(event.code);
          socket.close(1000, "done");
        }),
    ),
  );
`;

const ECHOES = Array.from({ length: SOCKETS }, (_, i) => `hello ${i} from the page`).join(", ");

interface PageBackend {
  port: number;
  /** Paths requested, in order. */
  paths: string[];
  close(): Promise<void>;
}

/** The page's origin server behind the Proxy filter: the HTML and its script. */
function startPageBackend(): Promise<PageBackend> {
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? "");
    if (req.url === "/") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      res.end(PAGE);
    } else if (req.url === "/app.js") {
      res.writeHead(200, { "Content-Type": "text/javascript" });
      res.end(SCRIPT);
    } else {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end("not found\n");
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        paths,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      }),
    );
  });
}

function serverConfig(name: string, port: number, cert: CertFiles, extra: string): string {
  return `---
kind: HTTPServer
name: ${name}
port: ${port}
address: 127.0.0.1
https: true
http2: true
accessLog: {}
${extra}certFiles:
  - certFile: ${cert.certFile}
    keyFile: ${cert.keyFile}
rules:
  - paths:
      - path: /ws
        backend: sockets
      - pathPrefix: /
        backend: pages
`;
}

function gatewayConfig(h2Port: number, h1Port: number, cert: CertFiles, pagePort: number, echoPort: number): string {
  return `${serverConfig("h2-sockets", h2Port, cert, "")}${serverConfig("h1-sockets", h1Port, cert, "http2WebSockets: false\n")}---
kind: Pipeline
name: pages
filters:
  - kind: Proxy
    name: page-proxy
    pools:
      - servers:
          - url: http://127.0.0.1:${pagePort}
---
kind: Pipeline
name: sockets
filters:
  - kind: WebSocketProxy
    name: echo
    pools:
      - servers:
          - url: ws://127.0.0.1:${echoPort}
`;
}

/** Chromium's --ignore-certificate-errors-spki-list value: base64 of SHA-256 of the key's SubjectPublicKeyInfo. */
function spkiHash(certPem: string): string {
  const der = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64");
}

interface SessionRow {
  id: string;
  server: string;
  /** The TCP peer, `address:port`: an h2 session's is its connection's. */
  client: string;
  /** `h1` or `h2`: how the session came in. */
  transport: string;
}

interface PageRun {
  echo: string;
  /** nextHopProtocol of the navigation and the script, as the page's Performance API saw them. */
  protocols: Record<string, string>;
  /** The gateway's session list while the page's socket was open. */
  sessions: SessionRow[];
  /** The close code each socket's onclose saw after the page closed it with 1000. */
  closeCodes: number[];
  netLog: NetLog;
}

const skip = chromiumMissing();

describe("WebSockets over HTTP/2 in Chromium", { skip }, () => {
  let pki: TestPki;
  let cert: CertFiles;
  let pages: PageBackend;
  let echo: TestBackend;
  let gateway: GatewayProcess;
  let h2Port: number;
  let h1Port: number;
  let logDir: string;

  before(async () => {
    pki = await TestPki.create();
    cert = await pki.issue({ cn: "localhost", dns: ["localhost"], ips: ["127.0.0.1"] });
    pages = await startPageBackend();
    echo = await startBackend();
    h2Port = await freePort();
    h1Port = await freePort();
    logDir = mkdtempSync(join(tmpdir(), "wsgate-h2-browser-"));
    gateway = await GatewayProcess.start(gatewayConfig(h2Port, h1Port, cert, pages.port, echo.port), {
      admin: true,
      servers: 2,
    });
  });

  after(async () => {
    await gateway?.stop();
    await Promise.all([pages?.close(), echo?.close()]);
    await pki?.cleanup();
    // WSGATE_KEEP_NETLOG=1 keeps Chromium's net logs for chrome://net-export's viewer (netlog-viewer).
    if (logDir !== undefined && process.env.WSGATE_KEEP_NETLOG === undefined)
      rmSync(logDir, { recursive: true, force: true });
    else if (logDir !== undefined) process.stderr.write(`Chromium net logs kept in ${logDir}\n`);
  });

  /** One fresh browser: loads the page of the server on `port`, waits for the echo, reads the session list, closes. */
  async function runPage(port: number, name: string): Promise<PageRun> {
    const netLogFile = join(logDir, `${name}.json`);
    const browser = await launchChromium(undefined, [
      `--ignore-certificate-errors-spki-list=${spkiHash(cert.cert)}`,
      `--log-net-log=${netLogFile}`,
    ]);
    try {
      const page = browser.context.pages()[0] ?? (await browser.context.newPage());
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`https://127.0.0.1:${port}/`);
      const echoed = String(await withTimeout(page.evaluate("window.echo"), 10_000, "the page's echo"));
      const protocols = (await page.evaluate(
        "Object.fromEntries(performance.getEntries().filter((e) => 'nextHopProtocol' in e).map((e) => [new URL(e.name).pathname, e.nextHopProtocol]))",
      )) as Record<string, string>;
      const sessions = (await admin(gateway.adminPort, "GET", "/apis/v2/sessions")).json<SessionRow[]>();
      const closeCodes = (await withTimeout(
        page.evaluate("window.closeSockets()"),
        5000,
        "the sockets to close",
      )) as number[];
      assert.deepEqual(errors, []);
      await browser.close();
      return { echo: echoed, protocols, sessions, closeCodes, netLog: readNetLog(netLogFile) };
    } finally {
      await browser.close();
    }
  }

  it("the page, its script and its three wss:// sockets share one HTTP/2 connection", async () => {
    const run = await runPage(h2Port, "h2");
    assert.equal(run.echo, ECHOES);
    // The page's own view: both resources over h2.
    assert.equal(run.protocols["/"], "h2");
    assert.equal(run.protocols["/app.js"], "h2");

    // Chromium's view: one HTTP/2 session got the setting and carried the page, the script and the CONNECT.
    const used = run.netLog.h2Sessions.filter((session) => session.requests.length > 0);
    assert.equal(used.length, 1, `HTTP/2 sessions that carried requests: ${JSON.stringify(used)}`);
    const session = used[0]!;
    assert.equal(session.settings["SETTINGS_ENABLE_CONNECT_PROTOCOL"], 1);
    assert.ok(session.requests.includes("GET /"), session.requests.join(", "));
    assert.ok(session.requests.includes("GET /app.js"), session.requests.join(", "));
    assert.equal(
      session.requests.filter((request) => request === "CONNECT /ws websocket").length,
      SOCKETS,
      session.requests.join(", "),
    );
    assert.deepEqual(run.netLog.h1WebSocketRequests, []);
    assert.ok(session.localAddress !== undefined, "the session's TCP connection is in the net log");

    // The gateway's view: the page's sessions, over h2, all from that very connection.
    const mine = run.sessions.filter((row) => row.server === "h2-sockets");
    assert.equal(mine.length, SOCKETS, JSON.stringify(run.sessions));
    assert.deepEqual(
      mine.map((row) => [row.transport, row.client]),
      Array(SOCKETS).fill(["h2", session.localAddress]),
    );
    assert.ok(pages.paths.includes("/") && pages.paths.includes("/app.js"), pages.paths.join(", "));
    // The access log (stdout, with the gateway's own lines): the page's requests and the session, all over h2.
    const lines = await gateway.logsMatching(
      (line) => line["event"] === "websocket_session" && line["transport"] === "h2",
      SOCKETS,
      5000,
    );
    assert.deepEqual(
      lines.map((line) => line["status"]),
      Array(SOCKETS).fill(200),
    );
    const requests = gateway.logs.filter(
      (line) =>
        line["event"] === "http_request" && line["transport"] === "h2" && /^\/(app\.js)?$/.test(String(line["path"])),
    );
    assert.ok(requests.length >= 2, JSON.stringify(requests));
    // The page's close went through: its code came back in the close frame, before the stream ended.
    assert.deepEqual(run.closeCodes, Array(SOCKETS).fill(1000));
  });

  it("with http2WebSockets: false the page stays on h2 and each socket falls back to HTTP/1.1 on its own connection, and works", async () => {
    const run = await runPage(h1Port, "h1");
    assert.equal(run.echo, ECHOES);
    assert.equal(run.protocols["/"], "h2");

    const used = run.netLog.h2Sessions.filter((session) => session.requests.length > 0);
    for (const session of used) {
      assert.equal(session.settings["SETTINGS_ENABLE_CONNECT_PROTOCOL"] ?? 0, 0, "the setting is not advertised");
      assert.ok(!session.requests.some((request) => request.startsWith("CONNECT")), session.requests.join(", "));
    }
    assert.deepEqual(run.netLog.h1WebSocketRequests, Array(SOCKETS).fill("/ws"));

    const mine = run.sessions.filter((row) => row.server === "h1-sockets");
    assert.equal(mine.length, SOCKETS, JSON.stringify(run.sessions));
    assert.deepEqual(
      mine.map((row) => row.transport),
      Array(SOCKETS).fill("h1"),
    );
    // Each its own connection: none the page came on, no two the same.
    const clients = new Set(mine.map((row) => row.client));
    assert.equal(clients.size, SOCKETS, "one connection per HTTP/1.1 socket");
    assert.ok(!used.some((session) => clients.has(session.localAddress ?? "")), "not the page's connection");
    assert.deepEqual(run.closeCodes, Array(SOCKETS).fill(1000));
  });
});
