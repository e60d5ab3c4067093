// End to end: /metrics of a gateway that carried traffic (a session, a plain request, a 404, a refused backend, a
// reload) passes `promtool check metrics` without a single complaint (naming, units, help, types).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { admin } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, rawExchange, withTimeout } from "../helpers/net.js";

const PROMTOOL = process.env.WSGATE_TEST_PROMTOOL ?? "promtool";

/** Why promtool cannot run here; in CI (CI set) it must be there (.ci/run installs it), so the test fails instead. */
function promtoolMissing(): string | undefined {
  const probe = spawnSync(PROMTOOL, ["--version"], { stdio: "ignore", timeout: 5000 });
  if (probe.error === undefined && probe.status === 0) return undefined;
  if (process.env.CI !== undefined && process.env.CI !== "") return undefined;
  return `'${PROMTOOL}' is not installed (apt-get install prometheus, or set WSGATE_TEST_PROMTOOL); skipping`;
}

function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(PROMTOOL, ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const done = new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, output }));
  });
  child.stdin.end(text);
  return withTimeout(done, 10_000, "promtool check metrics");
}

function config(port: number, backendPort: number, deadPort: number): string {
  return `kind: HTTPServer
name: edge
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - path: /ws
        backend: echo
      - path: /dead
        backend: dead
---
kind: Pipeline
name: echo
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backendPort}
---
kind: Pipeline
name: dead
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${deadPort}
`;
}

describe("promtool check metrics", { skip: promtoolMissing() }, () => {
  let gateway: GatewayProcess;
  let backend: TestBackend;
  let port: number;

  before(async () => {
    backend = await startBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(config(port, backend.port, await freePort()), { admin: true });
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  it("finds nothing to say about /metrics after traffic", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await withTimeout(new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject)), 5000, "open");
    const echoed = new Promise((resolve) => ws.once("message", resolve));
    ws.send("hello");
    await withTimeout(echoed, 5000, "echo");
    ws.close();
    await rawExchange(port, `GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    await rawExchange(
      port,
      `GET /dead HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    gateway.child.kill("SIGHUP");
    await gateway.nextLog((line) => line.event === "config_applied", 5000);

    const scrape = await admin(gateway.adminPort, "GET", "/metrics");
    assert.equal(scrape.status, 200);
    for (const family of [
      "wsgate_websocket_handshakes_total",
      "wsgate_websocket_closes_total",
      "wsgate_http_requests_total",
      "wsgate_upstream_connect_errors_total",
      "wsgate_upstream_server_healthy",
      "wsgate_build_info",
    ]) {
      assert.match(scrape.text, new RegExp(`^${family}\\{`, "m"), family);
    }
    assert.match(scrape.text, /^wsgate_config_reloads_total\{result="applied"\} 1$/m);
    const { code, output } = await promtoolCheck(scrape.text);
    assert.equal(output.trim(), "", `promtool says:\n${output}`);
    assert.equal(code, 0);
  });
});
