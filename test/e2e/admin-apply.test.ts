// End to end: `wsgate apply` of an object the gateway already holds as written is "unchanged" (no write, no new
// revision), and apply reports every error of a file at its own lines.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { admin, echoConfig, runCli } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort } from "../helpers/net.js";

const escaped = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

describe("wsgate apply: unchanged objects and every error", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let server: string;
  let dir: string;

  const pipeline = (name: string, port: number): string =>
    `kind: Pipeline\nname: ${name}\nfilters:\n  - kind: WebSocketProxy\n    name: proxy\n    pools:\n      - servers:\n          - url: ws://127.0.0.1:${port}\n`;

  const revisionOf = async (name: string): Promise<number> => {
    const reply = await admin(gateway.adminPort, "GET", `/apis/v2/objects/${name}`);
    assert.equal(reply.status, 200, reply.text);
    return Number(reply.headers.get("x-object-revision"));
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "wsgate-admin-apply-"));
    backend = await startBackend();
    gateway = await GatewayProcess.start(echoConfig(await freePort(), backend.port), { admin: true });
    server = `http://127.0.0.1:${gateway.adminPort}`;
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  it("a second apply of the same file says unchanged and keeps the revision", async () => {
    const file = join(dir, "same.yaml");
    writeFileSync(file, pipeline("same-one", backend.port));
    const first = await runCli(["apply", "-f", file, "--server", server]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout, "pipeline same-one created\n");
    const revision = await revisionOf("same-one");
    const second = await runCli(["apply", "-f", file, "--server", server, "-o", "json"]);
    assert.equal(second.code, 0, second.stderr);
    const results = JSON.parse(second.stdout) as { result: string; revision: number }[];
    assert.deepEqual(
      results.map((result) => [result.result, result.revision]),
      [["unchanged", revision]],
    );
    const table = await runCli(["apply", "-f", file, "--server", server]);
    assert.equal(table.stdout, "pipeline same-one unchanged\n");
    assert.equal(await revisionOf("same-one"), revision);
  });

  it("the same object in another key order, style or as JSON is unchanged; a changed one is updated", async () => {
    const base = pipeline("same-two", backend.port);
    assert.equal((await admin(gateway.adminPort, "POST", "/apis/v2/objects", { body: base })).status, 201);
    const revision = await revisionOf("same-two");
    const url = `ws://127.0.0.1:${backend.port}`;
    const variants = [
      base,
      `name: same-two\nkind: Pipeline\nfilters:\n  - name: proxy\n    kind: WebSocketProxy\n    pools:\n      - servers:\n          - url: ${url}\n`,
      `# a comment\nkind: Pipeline\nname: same-two\nfilters: [{kind: WebSocketProxy, name: proxy, pools: [{servers: [{url: "${url}"}]}]}]\n`,
      JSON.stringify({
        filters: [{ pools: [{ servers: [{ url }] }], name: "proxy", kind: "WebSocketProxy" }],
        name: "same-two",
        kind: "Pipeline",
      }),
    ];
    for (const body of variants) {
      const reply = await admin(gateway.adminPort, "PUT", "/apis/v2/objects/same-two", { body });
      assert.equal(reply.status, 200, reply.text);
      assert.deepEqual(reply.json(), { name: "same-two", kind: "Pipeline", revision, unchanged: true }, body);
      assert.equal(reply.headers.get("etag"), `"${revision}"`);
    }
    const changed = base.replace("name: proxy", "name: proxy2");
    const reply = await admin(gateway.adminPort, "PUT", "/apis/v2/objects/same-two", { body: changed });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json()["unchanged"], undefined);
    assert.ok(reply.json<{ revision: number }>().revision > revision);
  });

  it("every object's error is reported at its file line, not only the first", async () => {
    const file = join(dir, "two-bad.yaml");
    const server1 = (name: string, backendName: string, port: number): string =>
      `kind: HTTPServer\nname: ${name}\nport: ${port}\naddress: 127.0.0.1\nrules:\n  - paths:\n      - path: /x\n        backend: ${backendName}\n`;
    const text = `${server1("bad-a", "missing-a", await freePort())}---\n${server1("bad-b", "missing-b", await freePort())}`;
    writeFileSync(file, text);
    const run = await runCli(["apply", "-f", file, "--server", server]);
    assert.equal(run.code, 1);
    const lines = text.split("\n");
    const lineA = lines.indexOf("        backend: missing-a") + 1;
    const lineB = lines.indexOf("        backend: missing-b") + 1;
    assert.match(run.stderr, new RegExp(`${escaped(file)}:${lineA} httpserver bad-a.*pipeline 'missing-a' not found`));
    assert.match(run.stderr, new RegExp(`${escaped(file)}:${lineB} httpserver bad-b.*pipeline 'missing-b' not found`));
  });

  it("delete of a pipeline still routed to is a 400 naming each server, rule and path; nothing is deleted", async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const servers = [
      `kind: HTTPServer\nname: uses-a\nport: ${portA}\naddress: 127.0.0.1\nrules:\n  - paths:\n      - path: /other\n        backend: echo\n      - pathPrefix: /chat\n        backend: routed\n`,
      `kind: HTTPServer\nname: uses-b\nport: ${portB}\naddress: 127.0.0.1\nrules:\n  - host: a.example\n    paths:\n      - path: /x\n        backend: echo\n  - host: b.example\n    paths:\n      - path: /ws\n        backend: routed\n`,
    ];
    const created = await admin(gateway.adminPort, "POST", "/apis/v2/objects", {
      body: pipeline("routed", backend.port),
    });
    assert.equal(created.status, 201, created.text);
    for (const body of servers) {
      const reply = await admin(gateway.adminPort, "POST", "/apis/v2/objects", { body });
      assert.equal(reply.status, 201, reply.text);
    }
    const expected =
      "pipeline routed is still routed to by httpserver uses-a rules[0] (host *) path pathPrefix /chat; " +
      "httpserver uses-b rules[1] (host b.example) path /ws: change or delete those routes first, then delete the pipeline";
    const reply = await admin(gateway.adminPort, "DELETE", "/apis/v2/objects/routed");
    assert.equal(reply.status, 400, reply.text);
    assert.deepEqual(
      { error: reply.json()["error"], code: reply.json()["code"] },
      { error: expected, code: "WSG_PIPELINE_IN_USE" },
    );
    const run = await runCli(["delete", "routed", "--server", server]);
    assert.equal(run.code, 1);
    assert.equal(run.stderr, `wsgate: ${expected}\n`);
    assert.equal((await admin(gateway.adminPort, "GET", "/apis/v2/objects/routed")).status, 200);
    // Once no route uses it, it goes.
    for (const name of ["uses-a", "uses-b"]) {
      assert.equal((await admin(gateway.adminPort, "DELETE", `/apis/v2/objects/${name}`)).status, 200);
    }
    const deleted = await runCli(["delete", "routed", "--server", server]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, "pipeline routed deleted\n");
  });
});
