// End to end: how wsgate starts and stops as people see it: the demo on machines where its ports are taken, one clear
// line for each way a start can fail, and the log formats (JSON with level names off a terminal, pretty on demand).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { runCli } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { freePort, withTimeout } from "../helpers/net.js";

const CLI = fileURLToPath(new URL("../../src/cli.js", import.meta.url));

/** The ports the demo names: gateway, echo backends, admin API. */
const DEMO_PORTS = [8080, 9095, 9096, 2381];

/** Holds each port that is free, so that the demo finds them all taken (a port something else holds is taken too). */
async function occupy(ports: readonly number[]): Promise<net.Server[]> {
  const held: net.Server[] = [];
  for (const port of ports) {
    const server = net.createServer();
    const listening = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (listening) held.push(server);
  }
  return held;
}

/** A long-running CLI process, its output collected. */
class CliProcess {
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on("data", (chunk: Buffer) => (this.stdout += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => child.on("close", (code) => resolve(code)));
  }

  static start(args: string[], env: NodeJS.ProcessEnv = process.env): CliProcess {
    return new CliProcess(spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"], env }));
  }

  /** Resolves once `pattern` appears on stderr (or stdout). */
  async waitFor(pattern: RegExp, ms = 15_000): Promise<RegExpMatchArray> {
    const started = Date.now();
    for (;;) {
      const match = pattern.exec(this.stderr) ?? pattern.exec(this.stdout);
      if (match !== null) return match;
      if (this.child.exitCode !== null) throw new Error(`exited ${this.child.exitCode}: ${this.stderr}`);
      if (Date.now() - started > ms) throw new Error(`no ${pattern} within ${ms} ms; stderr:\n${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill("SIGTERM");
    return withTimeout(this.exited, 15_000, "the CLI to exit").catch(() => {
      this.child.kill("SIGKILL");
      return null;
    });
  }
}

/** Sends `text` over a WebSocket to `url` and resolves with the echo. */
function echo(url: string, text: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.on("error", reject);
      ws.on("open", () => ws.send(text));
      ws.on("message", (data) => {
        resolve(String(data));
        ws.close();
      });
    }),
    5000,
    `an echo from ${url}`,
  );
}

/** An HTTPServer `name` on `port` whose /ws goes to the echo backend on `backendPort`. */
function echoConfig(name: string, port: number, backendPort: number): string {
  return (
    `kind: HTTPServer\nname: ${name}\nport: ${port}\naddress: 127.0.0.1\nrules:\n  - paths:\n      - path: /ws\n        backend: echo\n` +
    `---\nkind: Pipeline\nname: echo\nflow:\n  - filter: proxy\nfilters:\n  - kind: WebSocketProxy\n    name: proxy\n` +
    `    pools:\n      - servers:\n          - url: ws://127.0.0.1:${backendPort}\n`
  );
}

/** An echo backend and a temporary directory (named from `prefix`) for one describe block: made before, removed after. */
function echoBackendAndDir(prefix: string): { backend: TestBackend; dir: string } {
  const rig = { dir: "" } as { backend: TestBackend; dir: string };
  before(async () => {
    rig.dir = mkdtempSync(join(tmpdir(), prefix));
    rig.backend = await startBackend();
  });
  after(async () => {
    rmSync(rig.dir, { recursive: true, force: true });
    await rig.backend?.close();
  });
  return rig;
}

function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at /m, `no stack trace in:\n${text}`);
  assert.doesNotMatch(text, /Unhandled 'error' event|node:internal/);
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("wsgate demo with its default ports taken (regression: raw 'Unhandled error event' and exit 2)", () => {
  let held: net.Server[] = [];
  let demo: CliProcess;

  before(async () => {
    held = await occupy(DEMO_PORTS);
    demo = CliProcess.start(["demo"]);
  });

  after(async () => {
    await demo?.stop();
    await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it("starts on free ports, says where to connect, and echoes through the gateway there", async () => {
    await demo.waitFor(/Press Ctrl\+C to stop/);
    const [url, port] = (await demo.waitFor(/ws:\/\/127\.0\.0\.1:(\d+)\/ws/)) as unknown as [string, string];
    assert.notEqual(Number(port), 8080);
    assert.match(demo.stderr, /behind the gateway \(8080 is taken\)/);
    assert.match(demo.stderr, /9095 is taken/);
    assert.match(demo.stderr, /9096 is taken/);
    assert.equal(await echo(url, "hello demo"), "hello demo");
    assertNoStack(demo.stderr);
  });

  it("says where its admin API is, and it answers there", async () => {
    const [, admin] = (await demo.waitFor(/Admin API: (http:\/\/127\.0\.0\.1:\d+)\//)) as unknown as [string, string];
    assert.notEqual(admin, "http://127.0.0.1:2381");
    const get = await runCli(["get", "--server", admin.replace("http://", "")]);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /demo-server +HTTPServer/);
  });

  it("says where its dashboard is, and the page is served there", async () => {
    const [, url] = (await demo.waitFor(/Dashboard: (http:\/\/127\.0\.0\.1:\d+\/dashboard)\n/)) as unknown as [
      string,
      string,
    ];
    const page = await fetch(url, { signal: AbortSignal.timeout(5000) });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>wsgate dashboard<\/title>/);
  });

  it("logs JSON with level names off a terminal, and ends with one exit line on SIGTERM", async () => {
    assert.equal(await demo.stop(), 0);
    const lines = jsonLines(demo.stdout);
    assert.ok(lines.some((line) => line["msg"] === "listening" && line["level"] === "info"));
    assert.ok(lines.every((line) => typeof line["level"] === "string"));
    const last = lines.at(-1);
    assert.equal(last?.["msg"], "exited");
    assert.equal(last?.["event"], "exit");
    assert.equal(last?.["code"], 0);
  });
});

describe("wsgate demo --port and --bind-address", () => {
  it("listens where the flags say and prints that address", async () => {
    const port = await freePort();
    const demo = CliProcess.start([
      "demo",
      "--port",
      String(port),
      "--bind-address",
      "127.0.0.1",
      "--admin-address",
      "off",
    ]);
    try {
      const [url] = await demo.waitFor(new RegExp(`ws://127\\.0\\.0\\.1:${port}/ws`));
      assert.equal(await echo(url, "flags"), "flags");
      assert.doesNotMatch(demo.stderr, /Admin API/);
    } finally {
      await demo.stop();
    }
  });

  it("a --port that is taken is one line and exit 2, the demo does not move it", async () => {
    const [held] = await occupy([await freePort()]);
    const port = (held?.address() as net.AddressInfo).port;
    try {
      const run = await runCli(["demo", "--port", String(port), "--admin-address", "off"]);
      assert.equal(run.code, 2);
      assert.equal(run.stderr, `wsgate: HTTPServer demo-server: cannot listen on 127.0.0.1:${port}: EADDRINUSE\n`);
      assertNoStack(run.stdout + run.stderr);
    } finally {
      held?.close();
    }
  });
});

describe("start-up failures: one clear line, no stack trace", () => {
  const rig = echoBackendAndDir("wsgate-cli-start-");

  const config = (port: number): string => `kind: HTTPServer
name: taken
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - path: /ws
        backend: echo
---
kind: Pipeline
name: echo
flow:
  - filter: proxy
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${rig.backend.port}
`;

  /** The failure's one line on stderr, after checking there is nothing else and no stack. */
  async function oneLine(args: string[], code: number): Promise<string> {
    const run = await runCli([...args, "--admin-address", "off"]);
    assert.equal(run.code, code, run.stderr);
    assertNoStack(run.stdout + run.stderr);
    assert.equal(run.stdout, "");
    const lines = run.stderr.split("\n").filter((line) => line !== "");
    assert.equal(lines.length, 1, `one line on stderr, got:\n${run.stderr}`);
    return lines[0] ?? "";
  }

  it("run on a missing config file", async () => {
    const missing = join(rig.dir, "missing.yaml");
    assert.equal(await oneLine(["run", "--config", missing], 1), `${missing}: file not found`);
  });

  it("run on bad YAML names the file and line", async () => {
    const file = join(rig.dir, "bad.yaml");
    writeFileSync(file, "kind: HTTPServer\nname: [oops\n");
    assert.match(await oneLine(["run", "--config", file], 1), new RegExp(`^${file}:\\d+: invalid YAML`));
  });

  it("run on a port in use", async () => {
    const [held] = await occupy([await freePort()]);
    const port = (held?.address() as net.AddressInfo).port;
    const file = join(rig.dir, "taken.yaml");
    writeFileSync(file, config(port));
    try {
      assert.equal(
        await oneLine(["run", "--config", file], 2),
        `wsgate: HTTPServer taken: cannot listen on 127.0.0.1:${port}: EADDRINUSE`,
      );
    } finally {
      held?.close();
    }
  });

  it("run with the admin API's port in use", async () => {
    const [held] = await occupy([await freePort()]);
    const adminPort = (held?.address() as net.AddressInfo).port;
    const file = join(rig.dir, "admin-taken.yaml");
    writeFileSync(file, config(await freePort()));
    try {
      const run = await runCli(["run", "--config", file, "--admin-address", `127.0.0.1:${adminPort}`]);
      assert.equal(run.code, 2);
      assertNoStack(run.stdout + run.stderr);
      assert.match(
        run.stderr,
        new RegExp(`^wsgate: cannot start the admin API on 127\\.0\\.0\\.1:${adminPort}: .*\\n$`),
      );
    } finally {
      held?.close();
    }
  });

  it("run with an unknown --log-level, a bad --drain-timeout, a bad --workers", async () => {
    const file = join(rig.dir, "flags.yaml");
    writeFileSync(file, config(await freePort()));
    assert.match(await oneLine(["run", "-c", file, "--log-level", "loud"], 2), /unknown log level 'loud'/);
    assert.match(await oneLine(["run", "-c", file, "--drain-timeout", "soon"], 2), /^wsgate: --drain-timeout: /);
    assert.match(await oneLine(["run", "-c", file, "--workers", "many"], 2), /^wsgate: --workers: /);
  });
});

describe("--log-format", () => {
  const rig = echoBackendAndDir("wsgate-cli-log-");

  async function runUntilListening(args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
    const port = await freePort();
    const file = join(rig.dir, `log-${port}.yaml`);
    writeFileSync(file, echoConfig("logs", port, rig.backend.port));
    const cli = CliProcess.start(["run", "-c", file, "--admin-address", "off", ...args], env);
    await cli.waitFor(/listening/);
    assert.equal(await cli.stop(), 0, cli.stderr);
    return cli.stdout;
  }

  it("pretty: one readable line per event, level names, no JSON, a last exit line", async () => {
    const out = await runUntilListening(["--log-format", "pretty"]);
    const lines = out.split("\n").filter((line) => line !== "");
    assert.ok(lines.length >= 3, out);
    for (const line of lines) {
      assert.match(line, /^\d\d:\d\d:\d\d\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) \S/);
      assert.doesNotMatch(line, /^\{|"level"/);
    }
    assert.ok(
      lines.some((line) => / INFO {2}listening server=logs port=\d+ address=127\.0\.0\.1$/.test(line)),
      out,
    );
    assert.match(lines.at(-1) ?? "", / INFO {2}exited event=exit code=0 uptimeMs=\d+$/);
    assert.ok(!out.includes("\u001b["), "no colours off a terminal");
  });

  it("json is the default off a terminal, with level names", async () => {
    const lines = jsonLines(await runUntilListening([]));
    assert.ok(lines.length >= 3);
    for (const line of lines)
      assert.ok(["debug", "info", "warn", "error"].includes(String(line["level"])), String(line["level"]));
    assert.equal(lines.at(-1)?.["msg"], "exited");
  });

  it("WSGATE_LOG_FORMAT=pretty chooses pretty without the flag, and the flag wins over it", async () => {
    const pretty = await runUntilListening([], { ...process.env, WSGATE_LOG_FORMAT: "pretty" });
    assert.doesNotMatch(pretty, /^\{/m);
    const json = await runUntilListening(["--log-format", "json"], { ...process.env, WSGATE_LOG_FORMAT: "pretty" });
    assert.ok(jsonLines(json).length >= 3);
  });

  it("the workers of --workers 2 log in the primary's format", async () => {
    const out = await runUntilListening(["--log-format", "pretty", "--workers", "2"]);
    assert.doesNotMatch(out, /^\{/m);
    assert.match(out, / INFO {2}.*worker=\d/);
  });
});

describe("run --workers 2: the primary serves nothing and keeps a small young generation", () => {
  const rig = echoBackendAndDir("wsgate-cli-primary-");

  it("the cluster's new space is its two workers' 16 MiB each, not a third 16 (or V8's own 32) in the primary", async () => {
    const port = await freePort();
    const admin = await freePort();
    const file = join(rig.dir, "cluster.yaml");
    writeFileSync(file, echoConfig("cluster", port, rig.backend.port));
    const adminAddress = `127.0.0.1:${admin}`;
    const cli = CliProcess.start([
      "run",
      "-c",
      file,
      "--workers",
      "2",
      "--state-file",
      "off",
      "--admin-address",
      adminAddress,
    ]);
    try {
      await cli.waitFor(/listening/);
      assert.equal(await echo(`ws://127.0.0.1:${port}/ws`, "through a worker"), "through a worker");
      const metrics = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
      const newSpace = /^wsgate_nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)$/m.exec(metrics);
      assert.ok(newSpace !== null, "the new-space gauge, summed over the cluster's processes");
      const MiB = 1024 * 1024;
      // Each worker grows its own to 16 MiB (process-tuning); the primary keeps V8's initial few MiB.
      assert.ok(Number(newSpace[1]) < 40 * MiB, `${Number(newSpace[1]) / MiB} MiB of new space in the cluster`);
    } finally {
      await cli.stop();
    }
  });
});
