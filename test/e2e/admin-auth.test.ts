// End to end: who may use the admin API: a bearer token (flag or environment), the refusal to serve a non-loopback
// address without one, and an HTTPS admin listener.
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { admin, echoConfig, runCli } from "../helpers/admin.js";
import { TestPki } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

const TOKEN = "admin-token-for-tests-0123456789";

describe("admin API with a token", () => {
  let gateway: GatewayProcess;

  before(async () => {
    gateway = await GatewayProcess.start(echoConfig(await freePort(), 1), {
      admin: true,
      env: { ...process.env, WSGATE_ADMIN_TOKEN: TOKEN },
    });
  });

  after(async () => {
    await gateway?.stop();
  });

  it("answers 401 with WWW-Authenticate without a token or with a wrong one", async () => {
    for (const token of [undefined, "wrong-token-wrong-token-wrong"]) {
      const reply = await admin(gateway.adminPort, "GET", "/apis/v2/objects", token === undefined ? {} : { token });
      assert.equal(reply.status, 401, String(token));
      assert.match(reply.headers.get("www-authenticate") ?? "", /^Bearer/);
      assert.equal(reply.json()["code"], "WSG_UNAUTHORIZED");
    }
    assert.equal((await admin(gateway.adminPort, "GET", "/metrics")).status, 401);
  });

  it("answers 200 with the token", async () => {
    const reply = await admin(gateway.adminPort, "GET", "/apis/v2/objects", { token: TOKEN });
    assert.equal(reply.status, 200);
  });

  it("wsgate get says what is wrong without the token and works with --token", async () => {
    const server = `http://127.0.0.1:${gateway.adminPort}`;
    const denied = await runCli(["get", "--server", server]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /unauthorized.*--token/);
    const allowed = await runCli(["get", "--server", server, "--token", TOKEN]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stdout, /^NAME\s+KIND/);
  });
});

describe("admin API address rules", () => {
  it("refuses to serve 0.0.0.0 without a token: exit 2 and a clear message", async () => {
    const port = await freePort();
    const file = join(await mkdtemp(join(tmpdir(), "wsgate-admin-")), "gateway.yaml");
    await writeFile(file, echoConfig(port, 1));
    const run = await runCli(["run", "--config", file, "--admin-address", "0.0.0.0:0"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /refusing to serve the admin API on 0\.0\.0\.0 without a token/);
    assert.doesNotMatch(run.stdout, /"msg":"listening"/);
  });

  it("serves 0.0.0.0 with a token", async () => {
    const gateway = await GatewayProcess.start(echoConfig(await freePort(), 1), {
      admin: true,
      args: ["--admin-address", "0.0.0.0:0", "--admin-token", TOKEN],
    });
    try {
      const line = await gateway.nextLog((log) => log.msg === "admin listening");
      assert.equal(line["auth"], true);
      const reply = await admin(Number(line["port"]), "GET", "/apis/v2/object-kinds", { token: TOKEN });
      assert.equal(reply.status, 200);
    } finally {
      await gateway.stop();
    }
  });

  it("--admin-address off serves no admin API", async () => {
    const gateway = await GatewayProcess.start(echoConfig(await freePort(), 1));
    try {
      assert.equal(gateway.logs.filter((log) => log.msg === "admin listening").length, 0);
    } finally {
      await gateway.stop();
    }
  });
});

describe("admin API over HTTPS", () => {
  let pki: TestPki;
  let gateway: GatewayProcess;

  before(async () => {
    pki = await TestPki.create();
    const cert = await pki.issue({ cn: "localhost", ips: ["127.0.0.1"] });
    gateway = await GatewayProcess.start(echoConfig(await freePort(), 1), {
      admin: true,
      args: ["--admin-tls-cert", cert.certFile, "--admin-tls-key", cert.keyFile],
    });
  });

  after(async () => {
    await gateway?.stop();
  });

  it("answers over TLS with a certificate the client verifies", async () => {
    const line = await gateway.nextLog((log) => log.msg === "admin listening");
    assert.equal(line["tls"], true);
    const status = await withTimeout(
      new Promise<number>((resolve, reject) => {
        const request = https.get(
          { host: "127.0.0.1", port: gateway.adminPort, path: "/apis/v2/object-kinds", ca: pki.ca.cert },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        request.on("error", reject);
      }),
      5000,
      "an HTTPS answer",
    );
    assert.equal(status, 200);
  });

  it("wsgate get reaches it with NODE_EXTRA_CA_CERTS", async () => {
    const run = await runCli(["get", "--server", `https://127.0.0.1:${gateway.adminPort}`], {
      env: { ...process.env, WSGATE_ADMIN_TOKEN: "", NODE_EXTRA_CA_CERTS: pki.ca.certFile },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /edge\s+HTTPServer/);
  });
});
