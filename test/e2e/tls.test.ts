// End to end: wss:// clients → the gateway terminating TLS (SNI, client certificates, ALPN, minVersion) → a ws://
// backend. Certificates are made by openssl for each run.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import tls from "node:tls";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { TestPki, closeWs, echo, openWss, type CertFiles } from "../helpers/certs.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

/** A YAML block scalar holding `text`, indented for a map value at `indent` spaces. */
function block(text: string, indent: number): string {
  const pad = " ".repeat(indent);
  return `|\n${text
    .trimEnd()
    .split("\n")
    .map((line) => pad + line)
    .join("\n")}`;
}

/** Raw TLS connection: resolves with the negotiated connection, or rejects with the failure's code. */
function tlsConnect(port: number, options: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return withTimeout(
    new Promise<tls.TLSSocket>((resolve, reject) => {
      const socket = tls.connect({ host: "127.0.0.1", port, ...options }, () => resolve(socket));
      socket.on("error", (error: NodeJS.ErrnoException) => reject(new Error(error.code ?? error.message)));
    }),
    3000,
    "a TLS connection",
  );
}

function cnOf(cert: X509Certificate | undefined): string | undefined {
  return cert === undefined ? undefined : /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
}

describe("wss:// termination (wsgate run)", () => {
  let pki: TestPki;
  let alpha: CertFiles;
  let beta: CertFiles;
  let alice: CertFiles;
  let expiredClient: CertFiles;
  let strangerClient: CertFiles;
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let sniPort: number;
  let mtlsPort: number;
  let requestPort: number;

  before(async () => {
    pki = await TestPki.create();
    alpha = await pki.issue({ cn: "alpha.test" });
    beta = await pki.issue({ cn: "beta wildcard", dns: ["*.beta.test"] });
    alice = await pki.issue({ cn: "alice", usage: "client" });
    expiredClient = await pki.issue({ cn: "old-alice", usage: "client", expired: true });
    strangerClient = await pki.issue({ cn: "mallory", usage: "client", byOtherCa: true });
    backend = await startBackend();
    [sniPort, mtlsPort, requestPort] = [await freePort(), await freePort(), await freePort()];
    const route = `rules:
  - paths:
      - pathPrefix: /
        backend: echo-pipeline`;
    gateway = await GatewayProcess.start(
      `
kind: HTTPServer
name: sni-server
port: ${sniPort}
address: 127.0.0.1
https: true
certs:
  alpha: ${block(alpha.cert, 4)}
keys:
  alpha: ${Buffer.from(alpha.key).toString("base64")}
certFiles:
  - certFile: ${beta.certFile}
    keyFile: ${beta.keyFile}
${route}
---
kind: HTTPServer
name: mtls-server
port: ${mtlsPort}
address: 127.0.0.1
https: true
minVersion: TLSv1.3
certFiles:
  - certFile: ${alpha.certFile}
    keyFile: ${alpha.keyFile}
caCertFile: ${pki.ca.certFile}
clientCertHeaders:
  subject: X-Client-Subject
  fingerprint: X-Client-Cert-Sha256
${route}
---
kind: HTTPServer
name: request-server
port: ${requestPort}
address: 127.0.0.1
https: true
certBase64: ${Buffer.from(alpha.cert).toString("base64")}
keyBase64: ${Buffer.from(alpha.key).toString("base64")}
caCertBase64: ${Buffer.from(pki.ca.cert).toString("base64")}
clientAuth: request
clientCertHeaders:
  subject: X-Client-Subject
${route}
---
kind: Pipeline
name: echo-pipeline
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backend.port}
`,
      { servers: 3 },
    );
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
    await pki?.cleanup();
  });

  /** The backend's record of the upgrade for `path`. */
  function upgradeFor(path: string) {
    const found = backend.upgrades.filter((req) => req.url === path).at(-1);
    assert.ok(found, `the backend saw an upgrade for ${path}`);
    return found;
  }

  function handshakeFailures(server: string): LogLine[] {
    return gateway.logs.filter((line) => line.msg === "TLS handshake failed" && line["server"] === server);
  }

  it("serves each SNI name its own certificate on one port, and relays to the ws:// backend", async () => {
    const a = await openWss(`wss://127.0.0.1:${sniPort}/sni/alpha`, { ca: pki.ca.cert, servername: "alpha.test" });
    const b = await openWss(`wss://127.0.0.1:${sniPort}/sni/beta`, { ca: pki.ca.cert, servername: "chat.beta.test" });
    try {
      assert.equal(cnOf(a.serverCert), "alpha.test");
      assert.equal(a.serverCert.fingerprint256, new X509Certificate(alpha.cert).fingerprint256);
      assert.equal(cnOf(b.serverCert), "beta wildcard", "the wildcard certificate covers chat.beta.test");
      assert.equal(await echo(a.ws, "to alpha"), "to alpha");
      assert.equal(await echo(b.ws, "to beta"), "to beta");
    } finally {
      await closeWs(a.ws);
      await closeWs(b.ws);
    }
  });

  it("gives clients without SNI, or with a name no certificate has, the first pair", async () => {
    const noSni = await tlsConnect(sniPort, { ca: pki.ca.cert, checkServerIdentity: () => undefined });
    assert.equal(cnOf(noSni.getPeerX509Certificate()), "alpha.test");
    noSni.destroy();
    // A wildcard covers one label only: a.b.beta.test is not *.beta.test.
    const deep = await tlsConnect(sniPort, {
      ca: pki.ca.cert,
      servername: "a.b.beta.test",
      checkServerIdentity: () => undefined,
    });
    assert.equal(cnOf(deep.getPeerX509Certificate()), "alpha.test");
    deep.destroy();
    // A client that checks the name refuses the default certificate: the handshake fails the way TLS fails it.
    await assert.rejects(
      openWss(`wss://127.0.0.1:${sniPort}/sni/unknown`, { ca: pki.ca.cert, servername: "unknown.test" }),
      /ERR_TLS_CERT_ALTNAME_INVALID/,
    );
  });

  it("sets X-Forwarded-Proto: https for the backend", async () => {
    const { ws } = await openWss(`wss://127.0.0.1:${sniPort}/proto`, { ca: pki.ca.cert, servername: "alpha.test" });
    await closeWs(ws);
    assert.equal(upgradeFor("/proto").headers["x-forwarded-proto"], "https");
  });

  it("negotiates ALPN http/1.1 and refuses clients that offer only h2", async () => {
    const both = await tlsConnect(sniPort, {
      ca: pki.ca.cert,
      servername: "alpha.test",
      ALPNProtocols: ["h2", "http/1.1"],
    });
    assert.equal(both.alpnProtocol, "http/1.1");
    both.destroy();
    await assert.rejects(
      tlsConnect(sniPort, { ca: pki.ca.cert, servername: "alpha.test", ALPNProtocols: ["h2"] }),
      /NO_APPLICATION_PROTOCOL/,
    );
  });

  it("accepts TLS 1.2 by default and refuses it with minVersion TLSv1.3", async () => {
    const old = await tlsConnect(sniPort, { ca: pki.ca.cert, servername: "alpha.test", maxVersion: "TLSv1.2" });
    assert.equal(old.getProtocol(), "TLSv1.2");
    old.destroy();
    await assert.rejects(
      tlsConnect(mtlsPort, {
        ca: pki.ca.cert,
        servername: "alpha.test",
        maxVersion: "TLSv1.2",
        cert: alice.cert,
        key: alice.key,
      }),
      /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/,
    );
  });

  it("answers plain HTTP on the TLS port with no HTTP at all, logs it at debug, and live sessions go on", async () => {
    const live = await openWss(`wss://127.0.0.1:${sniPort}/live`, { ca: pki.ca.cert, servername: "alpha.test" });
    try {
      const before = handshakeFailures("sni-server").length;
      const answer = await withTimeout(
        new Promise<string>((resolve) => {
          const socket = net.connect(sniPort, "127.0.0.1");
          let text = "";
          socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
          socket.on("close", () => resolve(text));
          socket.on("error", () => {});
          socket.write(`GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`);
        }),
        3000,
        "the gateway to close a plain HTTP connection",
      );
      assert.doesNotMatch(answer, /HTTP\/1\.1/, "no HTTP answer on a TLS port");
      const [line] = await gateway.logsMatching(
        (entry) => entry.msg === "TLS handshake failed" && entry["server"] === "sni-server",
        before + 1,
      );
      assert.equal(line?.["level"], "debug", "logged at debug");
      assert.equal(await echo(live.ws, "still here"), "still here");
    } finally {
      await closeWs(live.ws);
    }
  });

  it("mTLS required: refuses a client without a certificate, logging why", async () => {
    const before = handshakeFailures("mtls-server").length;
    await assert.rejects(
      openWss(`wss://127.0.0.1:${mtlsPort}/mtls/none`, { ca: pki.ca.cert, servername: "alpha.test" }),
    );
    const lines = await gateway.logsMatching(
      (line) => line.msg === "TLS handshake failed" && line["server"] === "mtls-server",
      before + 1,
    );
    assert.equal(lines.at(-1)?.["reason"], "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE");
    assert.equal(
      backend.upgrades.some((req) => req.url === "/mtls/none"),
      false,
    );
  });

  it("mTLS required: refuses expired client certificates and those of another CA", async () => {
    const options = { ca: pki.ca.cert, servername: "alpha.test" };
    const before = handshakeFailures("mtls-server").length;
    await assert.rejects(
      openWss(`wss://127.0.0.1:${mtlsPort}/mtls/expired`, {
        ...options,
        cert: expiredClient.cert,
        key: expiredClient.key,
      }),
    );
    await assert.rejects(
      openWss(`wss://127.0.0.1:${mtlsPort}/mtls/stranger`, {
        ...options,
        cert: strangerClient.cert,
        key: strangerClient.key,
      }),
    );
    const lines = await gateway.logsMatching(
      (line) => line.msg === "TLS handshake failed" && line["server"] === "mtls-server",
      before + 2,
    );
    const reasons = lines.slice(before).map((line) => String(line["reason"]));
    assert.ok(reasons.includes("CERT_HAS_EXPIRED"), `reasons: ${reasons.join(", ")}`);
    assert.ok(
      reasons.some((reason) => /UNABLE_TO_(VERIFY_LEAF_SIGNATURE|GET_ISSUER_CERT)/.test(reason)),
      `reasons: ${reasons.join(", ")}`,
    );
    assert.equal(
      backend.upgrades.some((req) => req.url?.startsWith("/mtls/expired") || req.url?.startsWith("/mtls/stranger")),
      false,
    );
  });

  it("mTLS required: lets a client with a valid certificate through, passing its subject and fingerprint", async () => {
    const { ws } = await openWss(`wss://127.0.0.1:${mtlsPort}/mtls/alice`, {
      ca: pki.ca.cert,
      servername: "alpha.test",
      cert: alice.cert,
      key: alice.key,
      headers: { "X-Client-Subject": "CN=admin", "x-client-cert-sha256": "forged" },
    });
    try {
      assert.equal(await echo(ws, "hello from alice"), "hello from alice");
    } finally {
      await closeWs(ws);
    }
    const headers = upgradeFor("/mtls/alice").headers;
    assert.equal(headers["x-client-subject"], "CN=alice,O=wsgate tests");
    assert.equal(headers["x-client-cert-sha256"], new X509Certificate(alice.cert).fingerprint256);
  });

  it("clientAuth request: a client without a certificate gets through (and cannot forge the headers)", async () => {
    const { ws } = await openWss(`wss://127.0.0.1:${requestPort}/request/anonymous`, {
      ca: pki.ca.cert,
      servername: "alpha.test",
      headers: { "X-Client-Subject": "CN=admin" },
    });
    await closeWs(ws);
    assert.equal(upgradeFor("/request/anonymous").headers["x-client-subject"], undefined);
  });

  it("clientAuth request: a valid certificate is passed on, an invalid one is refused", async () => {
    const options = { ca: pki.ca.cert, servername: "alpha.test" };
    const { ws } = await openWss(`wss://127.0.0.1:${requestPort}/request/alice`, {
      ...options,
      cert: alice.cert,
      key: alice.key,
    });
    await closeWs(ws);
    assert.equal(upgradeFor("/request/alice").headers["x-client-subject"], "CN=alice,O=wsgate tests");
    const before = handshakeFailures("request-server").length;
    await assert.rejects(
      openWss(`wss://127.0.0.1:${requestPort}/request/stranger`, {
        ...options,
        cert: strangerClient.cert,
        key: strangerClient.key,
      }),
    );
    await gateway.logsMatching(
      (line) => line.msg === "TLS handshake failed" && line["server"] === "request-server",
      before + 1,
    );
    assert.equal(
      backend.upgrades.some((req) => req.url === "/request/stranger"),
      false,
    );
  });
});
