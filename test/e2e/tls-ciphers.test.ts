// TLS defaults (issue 15 item 9), checked with `openssl s_client` against the real CLI: Mozilla "intermediate" suites
// only (no static RSA, no CBC/SHA-1 on TLS 1.2), TLS 1.1 refused, TLS 1.3 accepted, client renegotiation refused, and
// `ciphers` configurable. Regression: Node's default list accepted AES128-SHA and ECDHE-*-AES128-SHA.
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import tls from "node:tls";
import { loadConfig } from "../../src/config/load.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { TestPki, type CertFiles } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { TempConfig, errorLines } from "../config/temp-config.js";

interface SClient {
  /** A TLS session was established (openssl printed a cipher other than `(NONE)`). */
  connected: boolean;
  cipher: string;
  output: string;
}

/** Runs `openssl s_client` with `args`, writes `input` to it, and reads what it printed (bounded to 5 s). */
function sClient(port: number, args: string[], input = "", waitMs = 0): Promise<SClient> {
  return withTimeout(
    new Promise<SClient>((resolve) => {
      const child = spawn(
        "openssl",
        ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", ...args],
        {
          stdio: ["pipe", "pipe", "pipe"],
        },
      );
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("latin1")));
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("latin1")));
      child.on("close", () => {
        const cipher = /Cipher (?:is|\s*:) (\S+)/.exec(output)?.[1] ?? "(NONE)";
        resolve({ connected: cipher !== "(NONE)" && cipher !== "0000", cipher, output });
      });
      child.stdin.on("error", () => {});
      setTimeout(() => child.stdin.end(input), waitMs);
    }),
    5000,
    `openssl s_client ${args.join(" ")}`,
  );
}

describe("TLS defaults: Mozilla intermediate suites, no renegotiation (openssl s_client)", () => {
  let pki: TestPki;
  let ecCert: CertFiles;
  let rsaDir: string;
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let ecPort: number;
  let rsaPort: number;
  let customPort: number;

  before(async () => {
    pki = await TestPki.create();
    ecCert = await pki.issue({ cn: "localhost" });
    // An RSA certificate, so that static-RSA key exchange is possible at all.
    rsaDir = mkdtempSync(join(tmpdir(), "wsgate-rsa-"));
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "2"].concat([
        "-subj",
        "/CN=localhost",
      ]),
      { cwd: rsaDir, stdio: "ignore", timeout: 10_000 },
    );
    backend = await startBackend();
    [ecPort, rsaPort, customPort] = [await freePort(), await freePort(), await freePort()];
    const server = (name: string, port: number, cert: string, key: string, extra = ""): string => `
kind: HTTPServer
name: ${name}
port: ${port}
address: 127.0.0.1
https: true
certFiles:
  - certFile: ${cert}
    keyFile: ${key}
${extra}
rules:
  - paths:
      - pathPrefix: /
        backend: echo
---`;
    gateway = await GatewayProcess.start(
      `${server("ec", ecPort, ecCert.certFile, ecCert.keyFile)}
${server("rsa", rsaPort, join(rsaDir, "cert.pem"), join(rsaDir, "key.pem"))}
${server("custom", customPort, ecCert.certFile, ecCert.keyFile, "ciphers: ECDHE-ECDSA-AES256-GCM-SHA384")}
kind: Pipeline
name: echo
filters:
  - kind: WebSocketProxy
    name: proxy
    pools: [{ servers: [{ url: ws://127.0.0.1:${backend.port} }] }]
`,
      { servers: 3 },
    );
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
    await pki?.cleanup();
    if (rsaDir !== undefined) rmSync(rsaDir, { recursive: true, force: true });
  });

  // [server, s_client arguments, accepted]
  const cases: Array<["ec" | "rsa" | "custom", string[], boolean]> = [
    ["rsa", ["-tls1_2", "-cipher", "AES128-SHA"], false],
    ["rsa", ["-tls1_2", "-cipher", "AES256-GCM-SHA384"], false],
    ["rsa", ["-tls1_2", "-cipher", "AES128-SHA256"], false],
    ["rsa", ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA"], false],
    ["rsa", ["-tls1_2", "-cipher", "ECDHE-RSA-AES256-SHA384"], false],
    ["rsa", ["-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256"], false],
    ["rsa", ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], true],
    ["rsa", ["-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"], true],
    ["rsa", ["-tls1_3"], true],
    ["ec", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"], false],
    ["ec", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA"], false],
    ["ec", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"], false],
    ["ec", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"], true],
    ["ec", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"], true],
    ["ec", ["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"], true],
    ["ec", ["-tls1_3"], true],
    ["ec", ["-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"], true],
    ["ec", ["-tls1_1", "-cipher", "ALL:@SECLEVEL=0"], false],
    ["ec", ["-tls1", "-cipher", "ALL:@SECLEVEL=0"], false],
    ["custom", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"], false],
    ["custom", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"], true],
    ["custom", ["-tls1_3"], true],
  ];

  it(`${cases.length} client offers: only the intermediate suites (or the configured ones) are accepted`, async () => {
    const ports = { ec: ecPort, rsa: rsaPort, custom: customPort };
    const wrong: string[] = [];
    for (const [server, args, accepted] of cases) {
      const result = await sClient(ports[server], args);
      if (result.connected !== accepted) {
        wrong.push(`${server} ${args.join(" ")}: ${result.connected ? `accepted (${result.cipher})` : "refused"}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it("client renegotiation (`R` on TLS 1.2) is refused", async () => {
    const result = await sClient(ecPort, ["-tls1_2"], "R\n", 500);
    assert.equal(result.connected, true, result.output);
    assert.match(result.output, /RENEGOTIATING/);
    assert.match(result.output, /no renegotiation|alert/i, result.output);
    // And by Node's own client: the server answers a renegotiation with an alert, not a new handshake.
    const socket = await withTimeout(
      new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect(
          {
            host: "127.0.0.1",
            port: ecPort,
            maxVersion: "TLSv1.2",
            ca: readFileSync(pki.ca.certFile),
            servername: "localhost",
          },
          () => resolve(s),
        );
        s.on("error", reject);
      }),
      3000,
      "a TLS 1.2 connection",
    );
    const renegotiated = await withTimeout(
      new Promise<Error | null>((resolve) => {
        // The refusal arrives as an alert on the next read: an error on the socket, or in the callback.
        socket.on("error", resolve);
        if (!socket.renegotiate({}, (error) => resolve(error ?? null))) resolve(new Error("not started"));
        socket.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
      }),
      3000,
      "the renegotiation's outcome",
    );
    socket.destroy();
    assert.match(String(renegotiated), /renegotiation/i, "renegotiation must fail");
  });

  it("an unknown cipher in `ciphers` is a config error naming the field", async () => {
    const temp = await TempConfig.create();
    try {
      for (const [ciphers, problem] of [
        ["ECDHE-RSA-AES128-GCM-SHA256:NOT-A-CIPHER", /NOT-A-CIPHER/],
        ["!aNULL:FOO", /FOO/],
        ["", /names no cipher/],
      ] as const) {
        const file = await temp.write(
          "tls.yaml",
          `kind: HTTPServer\nname: s\nport: 1\nhttps: true\nciphers: "${ciphers}"\ncertFiles: [{ certFile: ${ecCert.certFile}, keyFile: ${ecCert.keyFile} }]\n`,
        );
        const errors = errorLines(await loadConfig([file])).join("\n");
        assert.match(errors, /ciphers/, ciphers);
        assert.match(errors, problem, ciphers);
      }
    } finally {
      await temp.cleanup();
    }
  });
});
