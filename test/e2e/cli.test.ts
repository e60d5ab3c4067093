// End to end: the wsgate command as users run it: validate, run on a bad config, --help, and a graceful SIGTERM.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

const CLI = fileURLToPath(new URL("../../src/cli.js", import.meta.url));
const DEMO = fileURLToPath(new URL("../../../examples/demo.yaml", import.meta.url));

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end (killed after `ms`). */
function runCli(args: string[], ms = 10_000): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<CliRun>((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
  return withTimeout(exited, ms, `wsgate ${args.join(" ")} to exit`).catch((error: unknown) => {
    child.kill("SIGKILL");
    throw error;
  });
}

describe("wsgate validate / run / --help", () => {
  let dir: string;
  let badFile: string;
  let badLine: number;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "wsgate-cli-test-"));
    badFile = join(dir, "bad.yaml");
    const lines = [
      "kind: HTTPServer",
      "name: bad-server",
      "port: 18080",
      "address: 127.0.0.1",
      "rules:",
      "  - paths:",
      "      - path: /ws",
      "        backend: bad-pipeline",
      "---",
      "kind: Pipeline",
      "name: bad-pipeline",
      "flow:",
      "  - filter: wsproxy",
      "filters:",
      "  - kind: WebSocketProxy",
      "    name: wsproxy",
      "    pools:",
      "      - servers:",
      "          - url: ws://127.0.0.1:9095",
      "        loadBalance:",
      "          policy: roundRobinX",
    ];
    badLine = lines.indexOf("          policy: roundRobinX") + 1;
    writeFileSync(badFile, `${lines.join("\n")}\n`);
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it("validate exits 0 on examples/demo.yaml", async () => {
    const run = await runCli(["validate", "--config", DEMO]);
    assert.equal(run.code, 0, run.stderr);
  });

  it("validate exits non-zero and names file, line, object, filter and field of an unknown policy", async () => {
    const run = await runCli(["validate", "--config", badFile]);
    assert.notEqual(run.code, 0);
    const expected =
      `${badFile}:${badLine} pipeline bad-pipeline filter wsproxy pools[0].loadBalance.policy: ` +
      "unknown policy 'roundRobinX'";
    assert.ok(
      run.stderr.split("\n").some((line) => line.startsWith(expected)),
      `stderr has a line starting with ${JSON.stringify(expected)}; it was:\n${run.stderr}`,
    );
  });

  it("run exits non-zero on the same file without listening", async () => {
    const run = await runCli(["run", "--config", badFile]);
    assert.notEqual(run.code, 0);
    assert.doesNotMatch(run.stdout, /"msg":"listening"/);
    assert.match(run.stderr, /unknown policy 'roundRobinX'/);
  });

  it("--help prints usage and exits 0", async () => {
    const run = await runCli(["--help"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Usage:/);
    assert.match(run.stdout, /wsgate run --config/);
    assert.match(run.stdout, /wsgate validate --config/);
  });
});

describe("wsgate run: SIGTERM with a live session", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  const drainMs = 3000;

  before(async () => {
    backend = await startBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(
      `
kind: HTTPServer
name: drain-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - path: /ws
        backend: drain-pipeline
---
kind: Pipeline
name: drain-pipeline
flow:
  - filter: proxy
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backend.port}
`,
      { args: ["--drain-timeout", `${drainMs}ms`] },
    );
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  it("closes the session with 1001 and exits 0 within the drain time", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    ws.on("error", () => {});
    const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
    const echoed = await withTimeout(
      new Promise<string>((resolve, reject) => {
        ws.once("error", reject);
        ws.on("open", () => ws.send("before shutdown"));
        ws.once("message", (data) => resolve(String(data)));
      }),
      3000,
      "an echo before shutdown",
    );
    assert.equal(echoed, "before shutdown");

    const started = Date.now();
    const code = await gateway.stop();
    const elapsed = Date.now() - started;
    assert.equal(await withTimeout(closed, 1000, "the client's close"), 1001);
    assert.equal(code, 0, gateway.stderr);
    assert.ok(elapsed < drainMs, `exited in ${elapsed} ms, within the ${drainMs} ms drain time`);
    const session = gateway.logs.find((line) => line.event === "websocket_session");
    assert.equal(session?.closeCode, 1001);
  });
});
