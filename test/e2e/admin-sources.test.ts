// End to end: on a gateway run from files, no admin write is silently lost. A config file's object is changed in
// its file (the API answers 409 naming file and line); an object created through the API is kept across reloads
// and saved to the state file, which the next start loads back; `wsgate get` shows each object's source.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { admin, echoConfig, runCli } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort } from "../helpers/net.js";

const pipeline = (name: string, port: number, filter = "proxy"): string =>
  `kind: Pipeline\nname: ${name}\nfilters:\n  - kind: WebSocketProxy\n    name: ${filter}\n    pools:\n      - servers:\n          - url: ws://127.0.0.1:${port}\n`;

const isReloadOutcome = (line: LogLine): boolean =>
  (line.event === "config_applied" || line.event === "config_rejected") && line["trigger"] === "SIGHUP";

interface Item {
  name: string;
  revision: number;
  source?: string;
}

describe("admin writes on a gateway run from files", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let server: string;
  let dir: string;
  let config: string;

  const items = async (): Promise<Map<string, Item>> => {
    const reply = await admin(gateway.adminPort, "GET", "/apis/v2/objects");
    assert.equal(reply.status, 200, reply.text);
    return new Map(reply.json<Item[]>().map((item) => [item.name, item]));
  };

  const sighup = async (): Promise<LogLine> => {
    const seen = gateway.logs.filter(isReloadOutcome).length;
    gateway.sighup();
    const lines = await gateway.logsMatching(isReloadOutcome, seen + 1, 8000);
    return lines[seen] as LogLine;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "wsgate-admin-sources-"));
    backend = await startBackend();
    config = echoConfig(await freePort(), backend.port);
    gateway = await GatewayProcess.start(config, { admin: true });
    server = `http://127.0.0.1:${gateway.adminPort}`;
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  it("get shows each object's source: the config file and line, or api; -o json has source", async () => {
    const created = await admin(gateway.adminPort, "POST", "/apis/v2/objects", { body: pipeline("from-api", 9) });
    assert.equal(created.status, 201, created.text);
    const run = await runCli(["get", "--server", server]);
    assert.equal(run.code, 0, run.stderr);
    const rows = run.stdout.trimEnd().split("\n");
    const file = gateway.configFile;
    const pipelineLine = config.split("\n").indexOf("kind: Pipeline") + 1;
    assert.match(rows[1] ?? "", new RegExp(`^edge\\s+HTTPServer\\s+\\d+\\s+${file}:1\\s`));
    assert.match(rows[2] ?? "", new RegExp(`^echo\\s+Pipeline\\s+\\d+\\s+${file}:${pipelineLine}\\s`));
    assert.match(rows[3] ?? "", /^from-api\s+Pipeline\s+\d+\s+api\s/);
    const json = JSON.parse((await runCli(["get", "--server", server, "-o", "json"])).stdout) as Item[];
    assert.deepEqual(
      json.map((item) => [item.name, item.source]),
      [
        ["edge", `${file}:1`],
        ["echo", `${file}:${pipelineLine}`],
        ["from-api", "api"],
      ],
    );
    const one = await runCli(["get", "from-api", "--server", server]);
    assert.match(one.stdout, /\nfrom-api\s+Pipeline\s+\d+\s+api\s/);
  });

  it("a config file's object: every write through the API is 409 naming the file and line; nothing changes", async () => {
    const before = await items();
    const where = new RegExp(`object echo comes from ${gateway.configFile}:\\d+: change it there`);
    const writes = [
      admin(gateway.adminPort, "PUT", "/apis/v2/objects/echo", { body: pipeline("echo", backend.port, "other") }),
      admin(gateway.adminPort, "PUT", "/apis/v2/objects/echo", { body: pipeline("echo", 9) }),
      admin(gateway.adminPort, "PUT", `/apis/v2/objects/echo?revision=${before.get("echo")?.revision}`, {
        body: pipeline("echo", 9),
      }),
      admin(gateway.adminPort, "DELETE", "/apis/v2/objects/echo"),
      admin(gateway.adminPort, "DELETE", "/apis/v2/objects/edge"),
    ];
    for (const reply of await Promise.all(writes)) {
      assert.equal(reply.status, 409, reply.text);
      assert.equal(reply.json()["code"], "WSG_OBJECT_FROM_FILE");
    }
    assert.match((await admin(gateway.adminPort, "DELETE", "/apis/v2/objects/echo")).text, where);
    const file = join(dir, "changed-echo.yaml");
    writeFileSync(file, pipeline("echo", 9));
    const apply = await runCli(["apply", "-f", file, "--server", server]);
    assert.equal(apply.code, 1);
    assert.match(apply.stderr, where);
    const remove = await runCli(["delete", "edge", "--server", server]);
    assert.equal(remove.code, 1);
    assert.match(remove.stderr, /object edge comes from .*:1: change it there/);
    assert.deepEqual(await items(), before);
  });

  it("an object created through the API survives SIGHUP and a file change, with its revision", async () => {
    const before = (await items()).get("from-api");
    assert.equal((await sighup()).event, "config_applied");
    assert.deepEqual((await items()).get("from-api"), before);
    // The file gains an object: both are there after the reload.
    gateway.rewriteConfig(`${config}---\n${pipeline("from-file", 9)}`);
    assert.equal((await sighup()).event, "config_applied");
    const after = await items();
    assert.deepEqual(after.get("from-api"), before);
    assert.equal(after.get("from-file")?.source, `${gateway.configFile}:${config.split("\n").length + 1}`);
  });

  it("a file that now defines an API object's name is refused at reload; the running set stays", async () => {
    const before = await items();
    gateway.rewriteConfig(`${config}---\n${pipeline("from-api", 9)}`);
    const outcome = await sighup();
    assert.equal(outcome.event, "config_rejected");
    assert.match(JSON.stringify(outcome["errors"]), /from-api/);
    assert.deepEqual(await items(), before);
    gateway.rewriteConfig(config);
    assert.equal((await sighup()).event, "config_applied");
  });

  it("the API's objects are saved beside the config file and come back at the next start", async () => {
    const stateFile = `${gateway.configFile}.wsgate-state`;
    assert.ok(existsSync(stateFile));
    const saved = readFileSync(stateFile, "utf8");
    assert.match(saved, /name: from-api/);
    assert.doesNotMatch(saved, /name: echo\n/);
    // A restart on the same files: the API's object is back, as the API's.
    await gateway.stop();
    const copy = join(dir, "restart.wsgate-state");
    writeFileSync(copy, saved);
    gateway = await GatewayProcess.start(config, { admin: true, args: ["--state-file", copy] });
    const after = await items();
    assert.equal(after.get("from-api")?.source, "api");
    assert.equal(
      after.get("echo")?.source,
      `${gateway.configFile}:${config.split("\n").indexOf("kind: Pipeline") + 1}`,
    );
    // Deleting it through the API is saved as well: the next start has it no more.
    assert.equal((await admin(gateway.adminPort, "DELETE", "/apis/v2/objects/from-api")).status, 200);
    assert.doesNotMatch(readFileSync(copy, "utf8"), /from-api/);
  });

  it("--state-file off: creating an object through the API is refused with where to put it", async () => {
    const off = await GatewayProcess.start(echoConfig(await freePort(), backend.port), {
      admin: true,
      args: ["--state-file", "off"],
    });
    try {
      const reply = await admin(off.adminPort, "POST", "/apis/v2/objects", { body: pipeline("new-one", 9) });
      assert.equal(reply.status, 409, reply.text);
      assert.match(reply.json<{ error: string }>().error, /--state-file off.*add it to a config file/);
      assert.equal((await admin(off.adminPort, "GET", "/apis/v2/objects/new-one")).status, 404);
    } finally {
      await off.stop();
    }
  });

  it("--workers 2: a file's object is refused, an API object survives SIGHUP", async () => {
    const workers = await GatewayProcess.start(echoConfig(await freePort(), backend.port), {
      admin: true,
      args: ["--workers", "2"],
    });
    try {
      const refused = await admin(workers.adminPort, "DELETE", "/apis/v2/objects/echo");
      assert.equal(refused.status, 409, refused.text);
      const created = await admin(workers.adminPort, "POST", "/apis/v2/objects", { body: pipeline("kept", 9) });
      assert.equal(created.status, 201, created.text);
      const seen = workers.logs.filter(isReloadOutcome).length;
      workers.sighup();
      const outcome = (await workers.logsMatching(isReloadOutcome, seen + 1, 8000))[seen];
      assert.equal(outcome?.event, "config_applied");
      const kept = await admin(workers.adminPort, "GET", "/apis/v2/objects/kept");
      assert.equal(kept.status, 200, kept.text);
      assert.equal(kept.headers.get("x-object-source"), "api");
    } finally {
      await workers.stop();
    }
  });
});
