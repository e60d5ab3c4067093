// End to end: the egctl-like verbs of the wsgate CLI against a real gateway's admin API.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { echoConfig, runCli } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

describe("wsgate get / describe / delete / sessions / apply", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let server: string;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "wsgate-admin-cli-"));
    backend = await startBackend();
    gateway = await GatewayProcess.start(echoConfig(await freePort(), backend.port), { admin: true });
    server = `http://127.0.0.1:${gateway.adminPort}`;
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  it("get prints a table of objects with their status", async () => {
    const run = await runCli(["get", "--server", server]);
    assert.equal(run.code, 0, run.stderr);
    const [header, ...rows] = run.stdout.trimEnd().split("\n");
    assert.match(header ?? "", /^NAME\s+KIND\s+REVISION\s+SOURCE\s+SESSIONS\s+STATUS$/);
    assert.match(rows[0] ?? "", /^edge\s+HTTPServer\s+\d+\s+\S+gateway\.yaml:1\s+0\s+listening 127\.0\.0\.1:\d+$/);
    assert.match(rows[1] ?? "", /^echo\s+Pipeline\s+\d+\s+\S+gateway\.yaml:\d+\s+0\s+1\/1 servers available$/);
  });

  it("get KIND and get NAME narrow the list; -o json prints the objects", async () => {
    const byKind = await runCli(["get", "pipeline", "--server", server]);
    assert.equal(byKind.stdout.trimEnd().split("\n").length, 2, byKind.stdout);
    const byName = await runCli(["get", "edge", "--server", server, "-o", "json"]);
    assert.equal(byName.code, 0, byName.stderr);
    const items = JSON.parse(byName.stdout) as { name: string; kind: string; revision: number }[];
    assert.deepEqual(
      items.map((item) => [item.name, item.kind]),
      [["edge", "HTTPServer"]],
    );
    assert.ok((items[0]?.revision ?? 0) > 0);
  });

  it("get of a missing name exits 1 with the server's message", async () => {
    const run = await runCli(["get", "nothing", "--server", server]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /object nothing not found/);
  });

  it("describe prints the object as written and its status", async () => {
    const run = await runCli(["describe", "echo", "--server", server]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Name:\s+echo\nKind:\s+Pipeline\nRevision:\s+\d+\n/);
    assert.match(run.stdout, /Spec:\n {2}kind: Pipeline\n/);
    assert.match(run.stdout, /Status:\n {2}pools:\n/);
    assert.match(run.stdout, new RegExp(`backend: 127\\.0\\.0\\.1:${backend.port}`));
    const json = await runCli(["describe", "echo", "--server", server, "-o", "json"]);
    const parsed = JSON.parse(json.stdout) as { object: { name: string }; status: { pools: unknown[] } };
    assert.equal(parsed.object.name, "echo");
    assert.equal(parsed.status.pools.length, 1);
  });

  it("sessions prints a live session with its traffic each way", async () => {
    const port = Number(gateway.logs.find((log) => log.msg === "listening")?.["port"]);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    ws.on("error", () => {});
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once("error", reject);
        ws.on("open", () => ws.send("ping"));
        ws.once("message", () => resolve());
      }),
      5000,
      "an echo",
    );
    try {
      const run = await runCli(["sessions", "--server", server]);
      assert.equal(run.code, 0, run.stderr);
      const [header, row] = run.stdout.trimEnd().split("\n");
      assert.match(
        header ?? "",
        /^ID\s+ROUTE\s+PIPELINE\s+BACKEND\s+CLIENT\s+HTTP\s+AGE\s+ENDS\s+IN MSGS\/BYTES\s+OUT MSGS\/BYTES$/,
      );
      assert.match(
        row ?? "",
        new RegExp(
          `^\\d+\\s+edge \\S+\\s+echo\\s+127\\.0\\.0\\.1:${backend.port}\\s+\\S+\\s+h1\\s+\\S+\\s+-\\s+1/\\d+B\\s+1/\\d+B$`,
        ),
      );
      const json = await runCli(["sessions", "--server", server, "-o", "json"]);
      const list = JSON.parse(json.stdout) as { clientMessages: number }[];
      assert.equal(list[0]?.clientMessages, 1);
    } finally {
      ws.close();
    }
  });

  it("apply -f reports validation errors at the file's own lines and exits 1", async () => {
    const file = join(dir, "bad-ref.yaml");
    const text = `# a server whose pipeline does not exist
kind: HTTPServer
name: extra
port: ${await freePort()}
address: 127.0.0.1
rules:
  - paths:
      - path: /x
        backend: missing
`;
    writeFileSync(file, text);
    const run = await runCli(["apply", "-f", file, "--server", server]);
    assert.equal(run.code, 1);
    const line = text.split("\n").indexOf("        backend: missing") + 1;
    assert.match(run.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:${line} httpserver extra`));
    assert.match(run.stderr, /pipeline 'missing' not found/);
  });

  it("apply -f checks each object locally first and sends nothing when one is invalid", async () => {
    const file = join(dir, "bad-schema.yaml");
    writeFileSync(file, "kind: Pipeline\nname: p\nfilters: []\n");
    const run = await runCli(["apply", "-f", file, "--server", server]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:3`));
    assert.match(run.stderr, /nothing applied/);
  });

  it("apply -f creates new objects and leaves identical ones unchanged", async () => {
    const file = join(dir, "good.yaml");
    const [, pipeline] = echoConfig(1, backend.port).split("---\n");
    writeFileSync(file, `${pipeline ?? ""}---\n${(pipeline ?? "").replace("name: echo", "name: echo-two")}`);
    const run = await runCli(["apply", "-f", file, "--server", server]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^pipeline echo unchanged\npipeline echo-two created\n$/);
  });

  it("delete removes an object", async () => {
    const run = await runCli(["delete", "echo-two", "--server", server]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "pipeline echo-two deleted\n");
  });

  it("delete of a missing object exits 1 with the server's message", async () => {
    const run = await runCli(["delete", "nothing", "--server", server]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /object nothing not found/);
  });

  it("an unreachable server is a clear error and exit 1", async () => {
    const run = await runCli(["get", "--server", `http://127.0.0.1:${await freePort()}`]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it("usage mistakes exit 2", async () => {
    assert.equal((await runCli(["describe", "--server", server])).code, 2);
    assert.equal((await runCli(["apply", "--server", server])).code, 2);
    assert.equal((await runCli(["get", "--server", server, "-o", "xml"])).code, 2);
  });
});
