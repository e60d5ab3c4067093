// End to end: certificate files replaced under a running gateway. New handshakes get the new pair within seconds,
// open sessions keep going, half-written pairs are waited for, broken or expired ones are refused with a log line.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { copyFile, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { TestPki, closeWs, echo, openWss, type CertFiles } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort } from "../helpers/net.js";

function fingerprint(files: CertFiles): string {
  return new X509Certificate(files.cert).fingerprint256;
}

/** Replaces a file the way deploy tools do: write a temporary file next to it, then rename it over the old one. */
async function replace(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

describe("certificate files are watched and reloaded (wsgate run)", () => {
  let pki: TestPki;
  let dir: string;
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let caPort: number;
  let current: CertFiles;
  let alice: CertFiles;
  let mallory: CertFiles;
  const certFile = (): string => join(dir, "server.crt");
  const keyFile = (): string => join(dir, "server.key");
  const caFile = (): string => join(dir, "clients-ca.crt");
  const options = () => ({ ca: pki.ca.cert, servername: "alpha.test" });

  before(async () => {
    pki = await TestPki.create();
    dir = await mkdtemp(join(tmpdir(), "wsgate-rotate-"));
    current = await pki.issue({ cn: "alpha.test" });
    alice = await pki.issue({ cn: "alice", usage: "client" });
    mallory = await pki.issue({ cn: "mallory", usage: "client", byOtherCa: true });
    await copyFile(current.certFile, certFile());
    await copyFile(current.keyFile, keyFile());
    await copyFile(pki.ca.certFile, caFile());
    const fixed = await pki.issue({ cn: "alpha.test" });
    backend = await startBackend();
    [port, caPort] = [await freePort(), await freePort()];
    gateway = await GatewayProcess.start(
      `
kind: HTTPServer
name: rotating
port: ${port}
address: 127.0.0.1
https: true
certFiles:
  - certFile: ${certFile()}
    keyFile: ${keyFile()}
rules:
  - paths:
      - pathPrefix: /
        backend: echo-pipeline
---
kind: HTTPServer
name: ca-rotating
port: ${caPort}
address: 127.0.0.1
https: true
certFiles:
  - certFile: ${fixed.certFile}
    keyFile: ${fixed.keyFile}
caCertFile: ${caFile()}
rules:
  - paths:
      - pathPrefix: /
        backend: echo-pipeline
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
      { servers: 2 },
    );
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
    await pki?.cleanup();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  function reloaded(files: CertFiles): Promise<unknown> {
    return gateway.nextLog(
      (line) => line.msg === "TLS certificate reloaded" && line["fingerprint"] === fingerprint(files),
      5000,
    );
  }

  it("rotates: new handshakes get the new pair, the open session keeps echoing on the old one", async () => {
    const open = await openWss(`wss://127.0.0.1:${port}/before`, options());
    try {
      assert.equal(open.serverCert.fingerprint256, fingerprint(current));
      const next = await pki.issue({ cn: "alpha.test" });
      const started = Date.now();
      await replace(keyFile(), next.key);
      await replace(certFile(), next.cert);
      await reloaded(next);
      assert.ok(Date.now() - started < 5000, "reloaded within seconds");
      const fresh = await openWss(`wss://127.0.0.1:${port}/after`, options());
      assert.equal(fresh.serverCert.fingerprint256, fingerprint(next), "a new connection sees the new certificate");
      await closeWs(fresh.ws);
      assert.equal(await echo(open.ws, "still on the old pair"), "still on the old pair");
      current = next;
    } finally {
      await closeWs(open.ws);
    }
  });

  it("waits for a pair caught half-written (certificate first, key later)", async () => {
    const next = await pki.issue({ cn: "alpha.test" });
    const before = gateway.logs.length;
    await writeFile(certFile(), next.cert);
    // The new certificate with the old key does not load: the gateway tries again instead of giving up.
    await gateway.nextLog(
      (line) =>
        gateway.logs.indexOf(line) >= before && line.msg === "changed certificate files do not load yet; trying again",
      3000,
    );
    const meanwhile = await openWss(`wss://127.0.0.1:${port}/meanwhile`, options());
    assert.equal(meanwhile.serverCert.fingerprint256, fingerprint(current), "the old pair serves meanwhile");
    await closeWs(meanwhile.ws);
    await writeFile(keyFile(), next.key);
    await reloaded(next);
    const fresh = await openWss(`wss://127.0.0.1:${port}/completed`, options());
    assert.equal(fresh.serverCert.fingerprint256, fingerprint(next));
    await closeWs(fresh.ws);
    current = next;
  });

  it("rejects a broken file with a log line and keeps the old pair", async () => {
    const open = await openWss(`wss://127.0.0.1:${port}/open-during-breakage`, options());
    try {
      await writeFile(certFile(), "-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n");
      const line = await gateway.nextLog(
        (entry) => entry.msg === "new certificate files rejected; the previous ones stay in use",
        6000,
      );
      assert.equal(line["pair"], "certFiles[0]");
      assert.equal(line["level"], "error");
      const fresh = await openWss(`wss://127.0.0.1:${port}/after-breakage`, options());
      assert.equal(fresh.serverCert.fingerprint256, fingerprint(current), "the previous pair stays in use");
      await closeWs(fresh.ws);
      assert.equal(await echo(open.ws, "unaffected"), "unaffected");
    } finally {
      await closeWs(open.ws);
    }
    // Fixed files are taken again.
    await writeFile(certFile(), current.cert);
    await writeFile(keyFile(), current.key);
  });

  it("refuses an expired replacement", async () => {
    const expired = await pki.issue({ cn: "alpha.test", expired: true });
    const before = gateway.logs.length;
    await replace(keyFile(), expired.key);
    await replace(certFile(), expired.cert);
    const line = await gateway.nextLog(
      (entry) =>
        gateway.logs.indexOf(entry) >= before &&
        entry.msg === "new certificate files rejected; the previous ones stay in use",
      6000,
    );
    assert.match(String(line["reason"]), /expired/);
    const fresh = await openWss(`wss://127.0.0.1:${port}/after-expired`, options());
    assert.equal(fresh.serverCert.fingerprint256, fingerprint(current));
    await closeWs(fresh.ws);
  });

  it("reloads the client CA file: a client of the new CA gets in, one of the old CA no longer does", async () => {
    const first = await openWss(`wss://127.0.0.1:${caPort}/alice`, { ...options(), cert: alice.cert, key: alice.key });
    await closeWs(first.ws);
    await assert.rejects(
      openWss(`wss://127.0.0.1:${caPort}/mallory`, { ...options(), cert: mallory.cert, key: mallory.key }),
    );
    await replace(caFile(), pki.otherCa.cert);
    await gateway.nextLog((line) => line.msg === "client CA certificates reloaded" && line["server"] === "ca-rotating");
    const second = await openWss(`wss://127.0.0.1:${caPort}/mallory-again`, {
      ...options(),
      cert: mallory.cert,
      key: mallory.key,
    });
    await closeWs(second.ws);
    await assert.rejects(
      openWss(`wss://127.0.0.1:${caPort}/alice-again`, { ...options(), cert: alice.cert, key: alice.key }),
    );
  });

  it("stops cleanly with watchers open", async () => {
    assert.equal(await gateway.stop(), 0);
  });
});
