// End to end: the gateway as a TLS client of wss:// backends. Verification against the system CAs by default, a
// private CA, a wrong CA, an expired certificate, serverName, insecureSkipVerify, client certificates, and a server's
// `tls` over its pool's.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { TestPki, closeWs, echo, startWssBackend, type WssBackend } from "../helpers/certs.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

/** Opens a ws:// client to the gateway; resolves with the open socket, or rejects with "status N: body". */
function open(url: string): Promise<WebSocket> {
  return withTimeout(
    new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.on("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => reject(new Error(`status ${res.statusCode ?? 0}: ${body.trim()}`)));
      });
      ws.on("error", reject);
      ws.on("open", () => resolve(ws));
    }),
    5000,
    `a WebSocket to ${url}`,
  );
}

describe("wss:// backends (wsgate run)", () => {
  let pki: TestPki;
  let good: WssBackend;
  let expired: WssBackend;
  let mutual: WssBackend;
  let plain: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let caBase64: string;
  let otherCaBase64: string;

  before(async () => {
    pki = await TestPki.create();
    const cert = await pki.issue({ cn: "backend.test", dns: ["backend.test"], ips: ["127.0.0.1"] });
    const old = await pki.issue({ cn: "backend.test", dns: ["backend.test"], ips: ["127.0.0.1"], expired: true });
    const client = await pki.issue({ cn: "wsgate-gateway", usage: "client" });
    good = await startWssBackend({ cert });
    expired = await startWssBackend({ cert: old });
    mutual = await startWssBackend({ cert, ca: pki.ca.cert });
    plain = await startBackend();
    caBase64 = Buffer.from(pki.ca.cert).toString("base64");
    otherCaBase64 = Buffer.from(pki.otherCa.cert).toString("base64");
    port = await freePort();
    const pipelines: Array<[string, string]> = [
      ["system-ca", `servers: [{ url: "wss://127.0.0.1:${good.port}" }]`],
      ["private-ca", `servers: [{ url: "wss://127.0.0.1:${good.port}" }]\n        tls: { caFile: ${pki.ca.certFile} }`],
      ["https-scheme", `servers: [{ url: "https://127.0.0.1:${good.port}" }]\n        tls: { caBase64: ${caBase64} }`],
      ["wrong-ca", `servers: [{ url: "wss://127.0.0.1:${good.port}" }]\n        tls: { caBase64: ${otherCaBase64} }`],
      ["expired", `servers: [{ url: "wss://127.0.0.1:${expired.port}" }]\n        tls: { caFile: ${pki.ca.certFile} }`],
      [
        "server-name",
        `servers: [{ url: "wss://127.0.0.1:${good.port}" }]\n        tls: { caFile: ${pki.ca.certFile}, serverName: backend.test }`,
      ],
      [
        "wrong-name",
        `servers: [{ url: "wss://127.0.0.1:${good.port}" }]\n        tls: { caFile: ${pki.ca.certFile}, serverName: other.test }`,
      ],
      ["insecure", `servers: [{ url: "wss://127.0.0.1:${expired.port}" }]\n        tls: { insecureSkipVerify: true }`],
      [
        "client-cert",
        `servers: [{ url: "wss://127.0.0.1:${mutual.port}" }]\n        tls: { caFile: ${pki.ca.certFile}, certFile: ${client.certFile}, keyFile: ${client.keyFile} }`,
      ],
      ["not-tls", `servers: [{ url: "wss://127.0.0.1:${plain.port}" }]`],
      [
        "no-client-cert",
        `servers: [{ url: "wss://127.0.0.1:${mutual.port}" }]\n        tls: { caFile: ${pki.ca.certFile} }`,
      ],
      [
        "server-override",
        `servers:\n          - url: wss://127.0.0.1:${good.port}\n            tls: { caFile: ${pki.ca.certFile} }\n        tls: { caBase64: ${otherCaBase64}, serverName: backend.test }`,
      ],
    ];
    const paths = pipelines.map(([name]) => `      - pathPrefix: /${name}\n        backend: ${name}`).join("\n");
    const objects = pipelines.map(
      ([name, pool]) => `kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - ${pool}`,
    );
    gateway = await GatewayProcess.start(
      [
        `kind: HTTPServer
name: edge
port: ${port}
address: 127.0.0.1
# The tests read the TLS reason in the answer; by default clients get a generic one.
exposeErrors: true
rules:
  - paths:
${paths}`,
        ...objects,
      ].join("\n---\n"),
    );
  });

  after(async () => {
    await gateway?.stop();
    await good?.close();
    await expired?.close();
    await mutual?.close();
    await plain?.close();
    await pki?.cleanup();
  });

  /** Expects a 502 whose body names the backend, and a log line with the TLS reason; returns that line. */
  async function expect502(path: string, backendPort: number, reason: RegExp): Promise<LogLine> {
    const before = gateway.logs.length;
    await assert.rejects(open(`ws://127.0.0.1:${port}${path}`), (error: Error) => {
      assert.match(error.message, /^status 502: /);
      assert.match(error.message, new RegExp(`backend 127\\.0\\.0\\.1:${backendPort}`), "the body names the backend");
      return true;
    });
    const line = await gateway.nextLog(
      (entry) =>
        gateway.logs.indexOf(entry) >= before && entry["event"] === "request_rejected" && entry["status"] === 502,
    );
    assert.equal(line["code"], "WSG_UPSTREAM_TLS");
    assert.match(String(line["reason"]), reason);
    return line;
  }

  it("verifies against the system CAs by default: a private CA's certificate is a 502 with the reason", async () => {
    await expect502("/system-ca", good.port, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
  });

  it("trusts a private CA given as caFile, or as caBase64 for an https:// URL", async () => {
    for (const path of ["/private-ca", "/https-scheme"]) {
      const ws = await open(`ws://127.0.0.1:${port}${path}`);
      assert.equal(await echo(ws, `through ${path}`), `through ${path}`);
      await closeWs(ws);
    }
  });

  it("refuses a backend whose certificate another CA signed: 502, logged with the TLS reason", async () => {
    await expect502("/wrong-ca", good.port, /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  });

  it("refuses an expired backend certificate", async () => {
    await expect502("/expired", expired.port, /CERT_HAS_EXPIRED/);
  });

  it("sends serverName as SNI and verifies it; a name the certificate lacks is a 502", async () => {
    const ws = await open(`ws://127.0.0.1:${port}/server-name`);
    await closeWs(ws);
    assert.equal(good.upgrades.at(-1)?.servername, "backend.test");
    await expect502("/wrong-name", good.port, /ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it("insecureSkipVerify connects even to an expired certificate, and was logged at start-up", async () => {
    const ws = await open(`ws://127.0.0.1:${port}/insecure`);
    assert.equal(await echo(ws, "unverified"), "unverified");
    await closeWs(ws);
    const warnings = gateway.logs.filter((line) => line["event"] === "insecure_tls");
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.["level"], "warn");
    assert.equal(warnings[0]?.["backend"], `wss://127.0.0.1:${expired.port}`);
  });

  it("presents certFile/keyFile to a backend that requires a client certificate", async () => {
    const ws = await open(`ws://127.0.0.1:${port}/client-cert`);
    assert.equal(await echo(ws, "mutual"), "mutual");
    await closeWs(ws);
    assert.equal(mutual.upgrades.at(-1)?.clientCn, "wsgate-gateway");
    await expect502("/no-client-cert", mutual.port, /ALERT_CERTIFICATE_REQUIRED|ECONNRESET/);
  });

  it("a wss:// URL for a backend that does not speak TLS is a 502 that says so", async () => {
    await expect502("/not-tls", plain.port, /ERR_SSL_WRONG_VERSION_NUMBER/);
  });

  it("a server's tls overrides its pool's field by field", async () => {
    // The pool's CA is wrong, the server's is right; the pool's serverName still applies.
    const ws = await open(`ws://127.0.0.1:${port}/server-override`);
    await closeWs(ws);
    assert.equal(good.upgrades.at(-1)?.servername, "backend.test");
  });
});
