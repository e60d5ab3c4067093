// End to end: the `clientCertHeaders` an HTTPServer sets from the client's TLS certificate reach the backend only as
// the gateway wrote them: a client's copies, in any case and `_` spelling, are dropped, with or without a certificate,
// on plain requests (Proxy) and WebSocket upgrades (WebSocketProxy).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { after, before, describe, it } from "node:test";
import tls from "node:tls";
import { TestPki, type CertFiles } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { startRecordingBackend, type RecordedRequest, type RecordingBackend } from "../helpers/recording-backend.js";
import { headerKey } from "../../src/pipeline/owned-headers.js";

type Transport = "http" | "ws";

/** Sends a raw request over TLS; resolves with the status once the answer's head is in (0: none). */
function tlsStatus(port: number, head: string, options: tls.ConnectionOptions): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve) => {
      const socket = tls.connect({ port, host: "127.0.0.1", servername: "alpha.test", ...options });
      let text = "";
      const done = (): void => {
        socket.destroy();
        resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0));
      };
      socket.on("secureConnect", () => socket.write(head));
      socket.on("data", (chunk: Buffer) => {
        text += chunk.toString("latin1");
        if (text.includes("\r\n\r\n")) done();
      });
      socket.on("close", done);
      socket.on("error", done);
    }),
    4000,
    "the gateway's answer over TLS",
  );
}

function valuesUnder(request: RecordedRequest, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    if (headerKey(request.rawHeaders[i] as string) === headerKey(name))
      values.push(request.rawHeaders[i + 1] as string);
  }
  return values;
}

describe("clientCertHeaders at the boundary (wsgate run)", () => {
  let pki: TestPki;
  let alpha: CertFiles;
  let alice: CertFiles;
  let backend: RecordingBackend;
  let gateway: GatewayProcess;
  let port: number;

  before(async () => {
    pki = await TestPki.create();
    alpha = await pki.issue({ cn: "alpha.test" });
    alice = await pki.issue({ cn: "alice", usage: "client" });
    backend = await startRecordingBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(`
kind: HTTPServer
name: cert-server
port: ${port}
address: 127.0.0.1
https: true
certFiles:
  - certFile: ${alpha.certFile}
    keyFile: ${alpha.keyFile}
caCertFile: ${pki.ca.certFile}
clientAuth: request
clientCertHeaders:
  subject: X-Client-Subject
  fingerprint: X-Client-Cert-Sha256
rules:
  - paths:
      - pathPrefix: /
        backend: both
---
kind: Pipeline
name: both
flow:
  - filter: proxy
  - filter: wsproxy
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}
  - kind: WebSocketProxy
    name: wsproxy
    pools:
      - servers:
          - url: ${backend.url.replace("http:", "ws:")}
`);
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
    await pki?.cleanup();
  });

  it("regression: a client's certificate headers in any spelling never reach the backend (24 cases)", async () => {
    const spellings = [
      "X-Client-Subject",
      "x-client-subject",
      "X_Client_Subject",
      "x_CLIENT-subject",
      "X-Client-Cert-Sha256",
      "x_client_cert_sha256",
    ];
    const fingerprint = new X509Certificate(alice.cert).fingerprint256;
    const failures: string[] = [];
    let id = 0;
    for (const transport of ["http", "ws"] as Transport[]) {
      for (const withCert of [false, true]) {
        for (const spelling of spellings) {
          const target = `/case?id=${++id}`;
          const lines = [`GET ${target} HTTP/1.1`, "Host: alpha.test", `${spelling}: CN=admin`];
          if (transport === "ws") {
            lines.push("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13");
            lines.push("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
          } else {
            lines.push("Connection: close");
          }
          const options = withCert ? { ca: pki.ca.cert, cert: alice.cert, key: alice.key } : { ca: pki.ca.cert };
          const status = await tlsStatus(port, `${lines.join("\r\n")}\r\n\r\n`, options);
          const label = `${transport}, ${withCert ? "with" : "without"} a certificate, ${spelling}`;
          let recorded: RecordedRequest | undefined;
          for (let waited = 0; recorded === undefined && waited < 2000; waited += 20) {
            recorded = backend.requests.find((request) => request.url === target);
            if (recorded === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
          }
          if (status !== (transport === "ws" ? 101 : 200) || recorded === undefined) {
            failures.push(`${label}: status ${status}`);
            continue;
          }
          const subjects = valuesUnder(recorded, "X-Client-Subject");
          const fingerprints = valuesUnder(recorded, "X-Client-Cert-Sha256");
          const wanted = withCert
            ? { subjects: ["CN=alice,O=wsgate tests"], fingerprints: [fingerprint] }
            : { subjects: [], fingerprints: [] };
          if (JSON.stringify({ subjects, fingerprints }) !== JSON.stringify(wanted)) {
            failures.push(`${label}: backend saw ${JSON.stringify({ subjects, fingerprints })}`);
          }
        }
      }
    }
    assert.deepEqual(failures, []);
  });
});
