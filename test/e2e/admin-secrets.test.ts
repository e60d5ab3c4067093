// End to end: secrets never leave the admin API by GET unless the caller holds the token and asks (`?secrets=true`):
// the JWT secret, TLS private keys (keyBase64, keys), health check passwords and the admin token itself, in the object
// list, one object (JSON and YAML), the status views and the CLI. "<redacted>" sent back keeps the stored secret, so
// get then apply round-trips.
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { admin, echoConfig, runCli } from "../helpers/admin.js";
import { TestPki } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort } from "../helpers/net.js";

const TOKEN = "admin-token-for-secrets-tests-0123";
const JWT_SECRET = "0badc0ffee0badc0ffee0badc0ffee42";
const CHECK_PASSWORD = "check-password-hunter2";
const REDACTED = "<redacted>";

/** Every object of the gateway, each with at least one secret. */
function secretsConfig(pki: { cert: string; key: string }, ports: [number, number]): string {
  const b64 = (text: string): string => Buffer.from(text).toString("base64");
  const route = `rules:
  - paths:
      - path: /ws
        backend: guarded`;
  return `kind: Gateway
name: settings
adminToken: ${TOKEN}
---
kind: HTTPServer
name: one-pair
port: ${ports[0]}
address: 127.0.0.1
https: true
certBase64: ${b64(pki.cert)}
keyBase64: ${b64(pki.key)}
${route}
---
kind: HTTPServer
name: named-pairs
port: ${ports[1]}
address: 127.0.0.1
https: true
certs:
  alpha: ${b64(pki.cert)}
keys:
  alpha: ${b64(pki.key)}
${route}
---
kind: Pipeline
name: guarded
filters:
  - kind: Validator
    name: auth
    jwt:
      algorithm: HS256
      secret: "${JWT_SECRET}"
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:1
        healthCheck:
          interval: 1h
          http:
            uri: /health
            username: checker
            password: ${CHECK_PASSWORD}
`;
}

describe("admin API secrets", () => {
  let pki: TestPki;
  let gateway: GatewayProcess;
  let port: number;
  let secrets: string[];
  const call = (method: string, path: string, extra: { body?: string; headers?: Record<string, string> } = {}) =>
    admin(port, method, path, { token: TOKEN, ...extra });

  before(async () => {
    pki = await TestPki.create();
    const pair = await pki.issue({ cn: "localhost", ips: ["127.0.0.1"] });
    const b64Key = Buffer.from(pair.key).toString("base64");
    secrets = [TOKEN, JWT_SECRET, CHECK_PASSWORD, b64Key, b64Key.slice(20, 60)];
    // The Gateway settings in the config file, the rest as objects created through the admin API (in the state file,
    // as after a restart): those the API may change, so that a change beside a redacted secret can be tried.
    const [settings, ...objects] = secretsConfig(pair, [await freePort(), await freePort()]).split("---\n");
    const stateDir = await mkdtemp(join(tmpdir(), "wsgate-secrets-state-"));
    const stateFile = join(stateDir, "objects.wsgate-state");
    await writeFile(stateFile, objects.join("---\n"));
    gateway = await GatewayProcess.start(settings ?? "", {
      admin: true,
      servers: 2,
      args: ["--state-file", stateFile],
      env: { ...process.env, WSGATE_ADMIN_TOKEN: "" },
    });
    port = gateway.adminPort;
  });

  after(async () => {
    await gateway?.stop();
    await pki?.cleanup();
  });

  function assertNoSecret(text: string, what: string): void {
    for (const secret of secrets) assert.ok(!text.includes(secret), `${what} shows a secret`);
  }

  it("GET of the list, of each object (JSON, YAML) and the status views shows no secret, only <redacted>", async () => {
    const views = [
      "/apis/v2/objects",
      "/apis/v2/objects?kind=Pipeline",
      "/apis/v2/objects?secrets=false",
      "/apis/v2/objects?format=yaml",
      "/apis/v2/status/objects",
      ...["settings", "one-pair", "named-pairs", "guarded"].flatMap((name) => [
        `/apis/v2/objects/${name}`,
        `/apis/v2/objects/${name}?format=yaml`,
        `/apis/v2/status/objects/${name}`,
      ]),
    ];
    for (const path of views) {
      const reply = await call("GET", path);
      assert.equal(reply.status, 200, path);
      assertNoSecret(reply.text, path);
    }
    const yaml = await call("GET", "/apis/v2/objects/guarded", { headers: { Accept: "application/yaml" } });
    assertNoSecret(yaml.text, "Accept: application/yaml");
    const list = (await call("GET", "/apis/v2/objects")).json<{ name: string; object: Record<string, unknown> }[]>();
    const object = (name: string): Record<string, unknown> => list.find((item) => item.name === name)?.object ?? {};
    assert.equal(object("settings")["adminToken"], REDACTED);
    assert.equal(object("one-pair")["keyBase64"], REDACTED);
    assert.notEqual(object("one-pair")["certBase64"], REDACTED, "a certificate is public");
    assert.deepEqual(object("named-pairs")["keys"], { alpha: REDACTED });
    const filters = object("guarded")["filters"] as { jwt?: { secret: string }; pools?: unknown[] }[];
    assert.equal(filters[0]?.jwt?.secret, REDACTED);
    assert.match(JSON.stringify(filters[1]), /"username":"checker","password":"<redacted>"/);
  });

  it("the CLI shows no secret: get -o json/yaml and describe", async () => {
    const server = `http://127.0.0.1:${port}`;
    for (const args of [
      ["get", "-o", "json"],
      ["get", "-o", "yaml"],
      ["get", "guarded", "-o", "yaml"],
      ["describe", "guarded"],
      ["describe", "one-pair"],
      ["describe", "settings"],
    ]) {
      const run = await runCli([...args, "--server", server, "--token", TOKEN]);
      assert.equal(run.code, 0, run.stderr);
      assertNoSecret(run.stdout, args.join(" "));
    }
  });

  it("?secrets=true with the token shows them; other values are a 400", async () => {
    const shown = await call("GET", "/apis/v2/objects/guarded?secrets=true");
    assert.equal(shown.status, 200);
    assert.ok(shown.text.includes(JWT_SECRET) && shown.text.includes(CHECK_PASSWORD));
    const list = await call("GET", "/apis/v2/objects?secrets=true");
    assert.ok(list.text.includes(TOKEN));
    for (const value of ["yes", "1", "TRUE", ""]) {
      assert.equal((await call("GET", `/apis/v2/objects?secrets=${value}`)).status, 400, value);
    }
    assert.equal((await admin(port, "GET", "/apis/v2/objects?secrets=true")).status, 401, "without the token");
  });

  it("get then apply round-trips: <redacted> keeps every stored secret, other changes apply", async () => {
    const dir = await mkdtemp(join(tmpdir(), "wsgate-secrets-"));
    const before = (await call("GET", "/apis/v2/objects?secrets=true")).text;
    const texts: string[] = [];
    for (const name of ["settings", "one-pair", "named-pairs", "guarded"]) {
      const reply = await call("GET", `/apis/v2/objects/${name}?format=yaml`);
      assert.ok(reply.text.includes(REDACTED), name);
      texts.push(reply.text);
    }
    const file = join(dir, "round-trip.yaml");
    await writeFile(file, texts.join("---\n"));
    const applied = await runCli(["apply", "-f", file, "--server", `http://127.0.0.1:${port}`, "--token", TOKEN]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /pipeline guarded unchanged/);
    const strip = (text: string): string => text.replace(/"revision": \d+/g, "");
    assert.equal(strip((await call("GET", "/apis/v2/objects?secrets=true")).text), strip(before));

    // A change beside a redacted secret applies, and the secret stays.
    const changed = texts[3]?.replace("uri: /health", "uri: /healthz") ?? "";
    const put = await call("PUT", "/apis/v2/objects/guarded", { body: changed });
    assert.equal(put.status, 200, put.text);
    const after = await call("GET", "/apis/v2/objects/guarded?secrets=true");
    assert.ok(
      after.text.includes("/healthz") && after.text.includes(JWT_SECRET) && after.text.includes(CHECK_PASSWORD),
    );
  });

  it("<redacted> where nothing is stored is a 400 at its line, never stored as the secret", async () => {
    const body = `kind: Pipeline
name: fresh
filters:
  - kind: Validator
    name: auth
    jwt:
      algorithm: HS256
      secretEncoding: text
      secret: "<redacted>"
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:1
`;
    const reply = await call("POST", "/apis/v2/objects", { body });
    assert.equal(reply.status, 400, reply.text);
    const errors = reply.json<{ errors: { line: number; path: string }[] }>().errors;
    assert.deepEqual(
      errors.map((error) => [error.line, error.path]),
      [[9, "filters[0].jwt.secret"]],
    );
    assert.equal((await call("GET", "/apis/v2/objects/fresh")).status, 404);
    // The same marker in a field that is not secret is just a value.
    const other = body
      .replace('secret: "<redacted>"', 'secret: "text-secret"')
      .replace("name: auth", 'name: auth\n    headers: {X-A: {values: ["<redacted>"]}}');
    assert.equal((await call("POST", "/apis/v2/objects", { body: other })).status, 201);
  });
});

describe("admin API secrets without a token", () => {
  let gateway: GatewayProcess;

  before(async () => {
    const config = `${echoConfig(await freePort(), 1)}---
kind: Pipeline
name: guarded
filters:
  - kind: Validator
    name: auth
    jwt:
      algorithm: HS256
      secret: "${JWT_SECRET}"
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:1
`;
    gateway = await GatewayProcess.start(config, { admin: true });
  });

  after(async () => {
    await gateway?.stop();
  });

  it("redacts, and refuses ?secrets=true with 403: nothing tells the operator from any local process", async () => {
    const plain = await admin(gateway.adminPort, "GET", "/apis/v2/objects/guarded");
    assert.equal(plain.status, 200);
    assert.ok(!plain.text.includes(JWT_SECRET));
    for (const path of ["/apis/v2/objects/guarded?secrets=true", "/apis/v2/objects?secrets=true"]) {
      const reply = await admin(gateway.adminPort, "GET", path);
      assert.equal(reply.status, 403, path);
      assert.equal(reply.json()["code"], "WSG_SECRETS_NEED_TOKEN");
      assert.ok(!reply.text.includes(JWT_SECRET));
    }
  });
});
