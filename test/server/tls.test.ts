// TLS pieces on their own: SNI names and lookup, PEM values, client certificate subjects, the TLS config checks,
// backend TLS options, start-up failures, and that certificate watchers stop with the server.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { formatConfigError } from "../../src/config/errors.js";
import { loadConfigText } from "../../src/config/load.js";
import { subjectText } from "../../src/util/http/client-cert.js";
import { pemFromConfig } from "../../src/util/pem.js";
import { SniTable, namesOf } from "../../src/server/tls/sni.js";
import { TlsTermination } from "../../src/server/tls/termination.js";
import { BackendTlsTable, backendTlsOptions, mergeBackendTls } from "../../src/upstream/tls-options.js";
import { TestPki, type CertFiles } from "../helpers/certs.js";

const CLI = new URL("../../src/cli.js", import.meta.url).pathname;

const PIPELINE = `
---
kind: Pipeline
name: p
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:9095
`;

function b64(text: string): string {
  return Buffer.from(text).toString("base64");
}

/** Loads `yaml` (plus a pipeline) and returns its errors as `validate` prints them; [] when it loads. */
function errorsOf(yaml: string): string[] {
  const result = loadConfigText(yaml + PIPELINE, "tls.yaml");
  return result.ok ? [] : result.errors.map(formatConfigError);
}

/** A logger whose lines land in `lines`. */
function capturingLogger(lines: Array<Record<string, unknown>>) {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split("\n").filter(Boolean))
        lines.push(JSON.parse(text) as Record<string, unknown>);
      done();
    },
  });
  return pino({ level: "debug" }, stream);
}

describe("TLS", () => {
  let pki: TestPki;
  let alpha: CertFiles;
  let wildcard: CertFiles;
  let legacy: CertFiles;
  let odd: CertFiles;

  before(async () => {
    pki = await TestPki.create();
    alpha = await pki.issue({ cn: "alpha.test", dns: ["alpha.test", "Www.Alpha.Test"], ips: ["127.0.0.1"] });
    wildcard = await pki.issue({ cn: "wild", dns: ["*.beta.test"] });
    legacy = await pki.issue({ cn: "legacy.test", usage: "client" });
    odd = await pki.issue({ cn: "Zoë, Inc.", usage: "client" });
  });

  after(async () => {
    await pki?.cleanup();
  });

  describe("SNI", () => {
    it("reads DNS names from the certificate (lower case, no IPs), else its common name", () => {
      assert.deepEqual(namesOf(new X509Certificate(alpha.cert)), ["alpha.test", "www.alpha.test"]);
      assert.deepEqual(namesOf(new X509Certificate(wildcard.cert)), ["*.beta.test"]);
      assert.deepEqual(namesOf(new X509Certificate(legacy.cert)), ["legacy.test"]);
    });

    it("looks up exact names, then one-label wildcards, else the first entry", () => {
      const table = new SniTable<string>();
      table.add(["alpha.test"], "alpha");
      table.add(["*.beta.test", "exact.beta.test"], "beta");
      table.add(["alpha.test", "x.beta.test"], "later");
      assert.equal(table.lookup("ALPHA.test."), "alpha");
      assert.equal(table.lookup("chat.beta.test"), "beta");
      assert.equal(table.lookup("x.beta.test"), "later", "an exact name beats a wildcard");
      assert.equal(table.lookup("a.b.beta.test"), "alpha", "a wildcard covers one label only");
      assert.equal(table.lookup("beta.test"), "alpha");
      assert.equal(table.lookup(undefined), "alpha");
    });
  });

  describe("SNI callback", () => {
    const spec = (certFiles: CertFiles[]) => ({
      name: "sni",
      https: true,
      clientHeaderTimeout: 1000,
      certFiles: certFiles.map(({ certFile, keyFile }) => ({ certFile, keyFile })),
    });
    const silent = () => capturingLogger([]);

    it("is left out with one certificate pair: the server's own context serves every name", () => {
      const termination = new TlsTermination(spec([alpha]), silent());
      assert.equal(termination.serverOptions().SNICallback, undefined);
      termination.close();
    });

    it("hands back another pair's context for its names, and none (no switch) for the default pair's", () => {
      const termination = new TlsTermination(spec([alpha, wildcard]), silent());
      const pick = termination.serverOptions().SNICallback;
      assert.ok(pick !== undefined, "two pairs: a choice to make");
      const picked = (name: string): unknown => {
        let context: unknown = "not called";
        pick(name, (error, ctx) => {
          assert.equal(error, null);
          context = ctx;
        });
        return context;
      };
      assert.equal(picked("alpha.test"), undefined, "the default pair: the server's own context");
      assert.equal(picked("unknown.test"), undefined, "no match: the default pair");
      const other = picked("chat.beta.test") as { context?: unknown } | undefined;
      assert.ok(other?.context !== undefined, "the wildcard pair's own SecureContext");
      termination.close();
    });
  });

  it("takes PEM inline or base64, and nothing else", () => {
    assert.equal(pemFromConfig(alpha.cert), alpha.cert);
    assert.equal(pemFromConfig(b64(alpha.cert)), alpha.cert);
    assert.equal(pemFromConfig(`${b64(alpha.cert).slice(0, 40)}\n  ${b64(alpha.cert).slice(40)}`), alpha.cert);
    assert.equal(pemFromConfig("not base64!"), undefined);
    assert.equal(pemFromConfig(b64("plain text")), undefined);
  });

  it("writes a client certificate's subject RFC 4514 style, escaped for a header", () => {
    assert.equal(subjectText(new X509Certificate(legacy.cert)), "CN=legacy.test,O=wsgate tests");
    assert.equal(subjectText(new X509Certificate(odd.cert)), "CN=Zo\\C3\\AB\\, Inc.,O=wsgate tests");
  });

  describe("HTTPServer TLS fields", () => {
    const head = "kind: HTTPServer\nname: s\nport: 8443\n";

    it("accept inline PEM, base64, files and a CA, with defaults left to the server", () => {
      const yaml = `${head}https: true
certs:
  alpha: ${JSON.stringify(alpha.cert)}
keys:
  alpha: ${b64(alpha.key)}
certFiles:
  - certFile: ${wildcard.certFile}
    keyFile: ${wildcard.keyFile}
caCertBase64: ${b64(pki.ca.cert)}
clientCertHeaders:
  fingerprint: X-Client-Fingerprint
`;
      const result = loadConfigText(yaml + PIPELINE, "tls.yaml");
      assert.ok(result.ok, result.ok ? "" : result.errors.map(formatConfigError).join("\n"));
      const server = result.config.httpServers[0];
      assert.equal(server?.https, true);
      assert.equal(server?.clientAuth, undefined, "the default (require with a CA) is applied by the server");
      assert.deepEqual(server?.certFiles, [{ certFile: wildcard.certFile, keyFile: wildcard.keyFile }]);
    });

    it("report what is missing, mismatched or unused, at its line", () => {
      assert.deepEqual(errorsOf(`${head}https: true\n`), [
        "tls.yaml:4 httpserver s https: needs a certificate: certs and keys, certBase64 and keyBase64, or certFiles",
      ]);
      assert.deepEqual(
        errorsOf(`${head}https: true
certs:
  alpha: ${b64(alpha.cert)}
  beta: ${b64(wildcard.cert)}
  gamma: nonsense
keys:
  alpha: ${b64(wildcard.key)}
  beta: ${b64(wildcard.key)}
  gamma: ${b64(wildcard.key)}
  delta: ${b64(wildcard.key)}
clientAuth: require
`),
        [
          "tls.yaml:8 httpserver s certs.gamma: expected a PEM certificate, or base64 of one",
          "tls.yaml:10 httpserver s keys.alpha: does not match the certificate",
          "tls.yaml:13 httpserver s keys.delta: key 'delta' has no certificate in certs",
          "tls.yaml:14 httpserver s clientAuth: clientAuth require needs caCertBase64 or caCertFile",
        ],
      );
      assert.deepEqual(
        errorsOf(`${head}certFiles:
  - certFile: a.crt
    keyFile: a.key
certBase64: ${b64(alpha.cert)}
`),
        [
          "tls.yaml:5 httpserver s certFiles: certFiles needs https: true",
          "tls.yaml:7 httpserver s certBase64: certBase64 needs https: true",
        ],
      );
      assert.deepEqual(
        errorsOf(`${head}https: true
certBase64: ${b64(alpha.cert)}
caCertFile: ca.pem
caCertBase64: ${b64("not a certificate")}
clientAuth: off
clientCertHeaders:
  subject: X-Forwarded-Proto
`),
        [
          "tls.yaml:5 httpserver s certBase64: certBase64 needs keyBase64",
          "tls.yaml:6 httpserver s caCertFile: give caCertBase64 or caCertFile, not both",
          "tls.yaml:7 httpserver s caCertBase64: expected PEM CA certificates, or base64 of them",
          "tls.yaml:10 httpserver s clientCertHeaders: clientCertHeaders needs client certificates (caCertBase64 or caCertFile, clientAuth not off)",
          "tls.yaml:10 httpserver s clientCertHeaders.subject: 'X-Forwarded-Proto' is set by the gateway itself; choose another name",
        ],
      );
      assert.deepEqual(
        errorsOf(`${head}https: true
certBase64: ${b64(alpha.cert)}
keyBase64: ${b64(alpha.key)}
clientCertHeaders:
  subject: X-Client-Subject
`),
        [
          "tls.yaml:8 httpserver s clientCertHeaders: clientCertHeaders needs client certificates (caCertBase64 or caCertFile, clientAuth not off)",
        ],
      );
    });
  });

  describe("WebSocketProxy tls", () => {
    const server = "kind: HTTPServer\nname: s\nport: 8080\nrules: [{ paths: [{ pathPrefix: /, backend: p }] }]\n---\n";
    function proxy(pool: string): string[] {
      const result = loadConfigText(
        `${server}kind: Pipeline\nname: p\nfilters:\n  - kind: WebSocketProxy\n    name: proxy\n    pools:\n${pool}`,
        "proxy.yaml",
      );
      return result.ok ? [] : result.errors.map(formatConfigError);
    }

    it("is for wss:// servers, with whole pairs and one CA", () => {
      assert.deepEqual(
        proxy(`      - servers:
          - url: ws://127.0.0.1:1
            tls: { insecureSkipVerify: true }
        tls:
          caFile: ca.pem
          caBase64: ${b64(pki.ca.cert)}
          certFile: client.pem
`),
        [
          "proxy.yaml:14 pipeline p filter proxy pools[0].servers[0].tls: tls needs a wss:// (or https://) URL, not 'ws://127.0.0.1:1'",
          "proxy.yaml:16 pipeline p filter proxy pools[0].tls: no server of this pool has a wss:// (or https://) URL",
          "proxy.yaml:17 pipeline p filter proxy pools[0].tls.caBase64: give caFile or caBase64, not both",
          "proxy.yaml:18 pipeline p filter proxy pools[0].tls.certFile: certFile needs keyFile",
        ],
      );
      assert.deepEqual(proxy(`      - servers: [{ url: "https://b.test", tls: { serverName: b.test } }]\n`), []);
    });
  });

  describe("backend TLS options", () => {
    it("verify by default, with the URL's host as SNI unless it is an IP address", () => {
      assert.deepEqual(backendTlsOptions(new URL("wss://b.test:8443/ws"), undefined), {
        rejectUnauthorized: true,
        servername: "b.test",
      });
      assert.deepEqual(backendTlsOptions(new URL("wss://127.0.0.1:8443"), undefined), { rejectUnauthorized: true });
      assert.equal(backendTlsOptions(new URL("wss://127.0.0.1:8443"), {}).servername, undefined);
      assert.equal(backendTlsOptions(new URL("wss://[::1]:8443"), {}).servername, undefined);
    });

    it("read the CA and client pair, use serverName for SNI and verification, and can skip verification", () => {
      const options = backendTlsOptions(new URL("wss://127.0.0.1:8443"), {
        caFile: pki.ca.certFile,
        certFile: legacy.certFile,
        keyFile: legacy.keyFile,
        serverName: "alpha.test",
      });
      assert.equal(options.ca, pki.ca.cert);
      assert.equal(options.cert, legacy.cert);
      assert.equal(options.key, legacy.key);
      assert.equal(options.servername, "alpha.test");
      const check = options.checkServerIdentity;
      assert.ok(check);
      assert.equal(check("127.0.0.1", new X509Certificate(alpha.cert).toLegacyObject()), undefined);
      assert.ok(check("127.0.0.1", new X509Certificate(wildcard.cert).toLegacyObject()) instanceof Error);
      assert.equal(backendTlsOptions(new URL("wss://b.test"), { caBase64: b64(pki.ca.cert) }).ca, pki.ca.cert);
      assert.equal(backendTlsOptions(new URL("wss://b.test"), { insecureSkipVerify: true }).rejectUnauthorized, false);
      assert.throws(
        () => backendTlsOptions(new URL("wss://b.test"), { caFile: "/nonexistent/ca.pem" }),
        /tls\.caFile: cannot read \/nonexistent\/ca\.pem: ENOENT/,
      );
    });

    it("merge a server's settings over its pool's, CA and client pair as units", () => {
      assert.deepEqual(
        mergeBackendTls(
          { caFile: "pool-ca", serverName: "pool.test", certFile: "c", keyFile: "k" },
          { caBase64: "server-ca", insecureSkipVerify: true },
        ),
        {
          caFile: undefined,
          caBase64: "server-ca",
          certFile: "c",
          keyFile: "k",
          serverName: "pool.test",
          insecureSkipVerify: true,
        },
      );
      assert.equal(mergeBackendTls(undefined, undefined), undefined);
      const table = new BackendTlsTable({
        tls: { serverName: "pool.test" },
        servers: [
          { url: "ws://127.0.0.1:1" },
          { url: "wss://127.0.0.1:2", tls: { insecureSkipVerify: true } },
          { url: "wss://127.0.0.1:3" },
        ],
      });
      assert.equal(table.optionsFor(new URL("ws://127.0.0.1:1")), undefined);
      assert.equal(table.optionsFor(new URL("wss://127.0.0.1:2"))?.rejectUnauthorized, false);
      assert.equal(table.optionsFor(new URL("wss://127.0.0.1:3"))?.servername, "pool.test");
      assert.deepEqual(table.insecure, ["wss://127.0.0.1:2"]);
      assert.throws(
        () =>
          new BackendTlsTable(
            { servers: [{ url: "wss://127.0.0.1:1" }, { url: "wss://127.0.0.1:2", tls: { caFile: "/nonexistent" } }] },
            "p/proxy/pools[0]",
          ),
        /^Error: p\/proxy\/pools\[0\] servers\[1\] tls\.caFile: cannot read \/nonexistent: ENOENT$/,
      );
      assert.equal(table.poolOptions?.servername, "pool.test");
    });
  });

  describe("start-up", () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), "wsgate-tls-start-"));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it("refuses to start when a certificate file is missing (exit 1, a config error), naming file, line and field", async () => {
      const missing = join(dir, "missing.crt");
      const file = join(dir, "gateway.yaml");
      await writeFile(
        file,
        `kind: HTTPServer\nname: s\nport: 1\naddress: 127.0.0.1\nhttps: true\ncertFiles:\n  - certFile: ${missing}\n    keyFile: ${alpha.keyFile}\n${PIPELINE}`,
      );
      const run = spawnSync(process.execPath, [CLI, "run", "--config", file], { encoding: "utf8", timeout: 10_000 });
      assert.equal(run.status, 1, run.stderr);
      assert.equal(
        run.stderr,
        `${file}:7 httpserver s certFiles[0].certFile: cannot read '${missing}': file not found\n`,
      );
    });

    it("refuses broken or mismatched certificate files, and a broken CA file, naming them", async () => {
      const broken = join(dir, "broken.crt");
      await writeFile(broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
      const log = capturingLogger([]);
      const spec = { name: "s", https: true, clientHeaderTimeout: 1000 };
      assert.throws(
        () => new TlsTermination({ ...spec, certFiles: [{ certFile: broken, keyFile: alpha.keyFile }] }, log),
        /HTTPServer s: certFiles\[0\] \(.*broken\.crt, .*\): certificate: not a valid PEM certificate/,
      );
      assert.throws(
        () =>
          new TlsTermination({ ...spec, certFiles: [{ certFile: alpha.certFile, keyFile: wildcard.keyFile }] }, log),
        /certFiles\[0\] .*: key: does not match the certificate/,
      );
      assert.throws(
        () =>
          new TlsTermination(
            { ...spec, certFiles: [{ certFile: alpha.certFile, keyFile: alpha.keyFile }], caCertFile: alpha.keyFile },
            log,
          ),
        /HTTPServer s: caCertFile .*: no PEM certificate found/,
      );
    });

    it("stops watching certificate files when closed", async () => {
      const certFile = join(dir, "watched.crt");
      const keyFile = join(dir, "watched.key");
      const spec = {
        name: "watched",
        https: true,
        clientHeaderTimeout: 1000,
        certFiles: [{ certFile, keyFile }],
      };
      const next = await pki.issue({ cn: "alpha.test" });
      const reloadsAfterChange = async (close: boolean): Promise<number> => {
        await copyFile(alpha.certFile, certFile);
        await copyFile(alpha.keyFile, keyFile);
        const lines: Array<Record<string, unknown>> = [];
        const termination = new TlsTermination(spec, capturingLogger(lines));
        const server = https.createServer(termination.serverOptions());
        termination.attach(server);
        if (close) termination.close();
        await copyFile(next.keyFile, keyFile);
        await copyFile(next.certFile, certFile);
        await new Promise((resolve) => setTimeout(resolve, 500));
        termination.close();
        return lines.filter((line) => line["msg"] === "TLS certificate reloaded").length;
      };
      assert.equal(await reloadsAfterChange(false), 1, "an open termination reloads");
      assert.equal(await reloadsAfterChange(true), 0, "a closed one does not");
    });
  });
});
