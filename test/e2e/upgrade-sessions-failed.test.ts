// End to end through the real CLI: an upgrade to a build that crashes on start fails, says why, and loses nothing:
// the old process keeps its listeners (a reconnect loop is never refused) and every session (numbered messages go on
// both ways without a gap, same ids, same PID). Deploying a good build afterwards, the next upgrade works.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runCli } from "../helpers/admin.js";
import { CopiedBuilds, alive, stopPid } from "../helpers/copied-build.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort } from "../helpers/net.js";
import {
  NumberedBackend,
  ReconnectLoop,
  openNumbered,
  settleAndCount,
  streamFromClients,
  type NumberedClient,
} from "../helpers/numbered-streams.js";
import { servingProcess, sessionsByClient, upgradeFigures } from "../helpers/upgrade-checks.js";

const SESSIONS = 100;
const TICK_MS = 100;
const CRASHING_CLI = `process.stderr.write("this build cannot start: broken on purpose\\n");\nprocess.exit(3);\n`;

function config(port: number, backendPort: number): string {
  return `kind: HTTPServer
name: edge
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /ws
        backend: numbered
---
kind: Pipeline
name: numbered
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backendPort}
`;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("wsgate upgrade to a build that crashes on start", () => {
  let builds: CopiedBuilds;
  let backend: NumberedBackend;
  let gateway: GatewayProcess;
  let clients: NumberedClient[] = [];
  let stopClients: () => void = () => {};
  let probes: ReconnectLoop | undefined;
  let newPid = 0;

  before(async () => {
    builds = CopiedBuilds.create();
    builds.release("v1", "0.1.0");
    builds.release("broken", "0.1.0-broken", CRASHING_CLI);
    builds.release("v2", "0.1.0-fixed");
    builds.deploy("v1");
    backend = await NumberedBackend.start();
  });

  after(async () => {
    await probes?.stop();
    stopClients();
    backend?.stopStreaming();
    for (const client of clients) client.ws.terminate();
    if (newPid !== 0) await stopPid(newPid);
    await gateway?.stop();
    await builds?.stopAll();
    await backend?.close();
    builds?.remove();
  });

  it("fails, says why, and the old process keeps every listener and session", async () => {
    const port = await freePort();
    gateway = await GatewayProcess.start(config(port, backend.port), {
      admin: true,
      cli: builds.cli,
      args: ["--log-level", "info"],
    });
    const oldPid = gateway.child.pid ?? 0;
    clients = await openNumbered(`ws://127.0.0.1:${port}/ws`, SESSIONS);
    const listedBefore = await sessionsByClient(gateway.adminPort);
    stopClients = streamFromClients(clients, TICK_MS);
    backend.stream(TICK_MS);
    probes = new ReconnectLoop(`ws://127.0.0.1:${port}/ws`);
    await sleep(500);

    builds.deploy("broken");
    const run = await runCli(["upgrade", "--server", `127.0.0.1:${gateway.adminPort}`], { ms: 30_000 });
    assert.equal(run.code, 1, `the CLI says the upgrade failed: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /exit|code 3|broken on purpose/, "and why: the new process exited");
    const failure = await gateway.nextLog((line) => line["event"] === "upgrade_failed", 5000);
    assert.equal(failure.level, "error");
    assert.match(String(failure["reason"]), /exit|code 3|broken on purpose/, "the log says why too");

    await sleep(500);
    await probes.stop();
    stopClients();
    backend.stopStreaming();
    const verdict = await settleAndCount(clients, backend);
    assert.deepEqual(
      { gaps: verdict.gaps, repeats: verdict.repeats, missing: verdict.missing, closes: verdict.closes.slice(0, 5) },
      { gaps: 0, repeats: 0, missing: 0, closes: [] },
      "the sessions streamed on, untouched",
    );
    assert.equal(probes.failed, 0, `the reconnect loop failed: ${JSON.stringify([...probes.failures])}`);
    assert.equal((await servingProcess(gateway.adminPort)).pid, oldPid, "the old process still serves");
    assert.ok(alive(oldPid));
    const listedAfter = await sessionsByClient(gateway.adminPort);
    assert.deepEqual(
      [...listedAfter.values()]
        .filter((session) => listedBefore.has(session.client))
        .map((session) => session.id)
        .sort(),
      [...listedBefore.values()].map((session) => session.id).sort(),
      "every session, under its id",
    );
  });

  it("upgrades once a good build is deployed", async () => {
    builds.deploy("v2");
    stopClients = streamFromClients(clients, TICK_MS);
    backend.stream(TICK_MS);
    const run = await runCli(["upgrade", "--server", `127.0.0.1:${gateway.adminPort}`, "-o", "json"], {
      ms: 30_000,
    });
    assert.equal(run.code, 0, `${run.stdout}${run.stderr}`);
    newPid = upgradeFigures(JSON.parse(run.stdout) as Record<string, unknown>).newPid;
    assert.deepEqual(await servingProcess(gateway.adminPort), { pid: newPid, version: "0.1.0-fixed" });
    await sleep(500);
    stopClients();
    backend.stopStreaming();
    const verdict = await settleAndCount(clients, backend);
    assert.deepEqual(
      { gaps: verdict.gaps, repeats: verdict.repeats, missing: verdict.missing, closes: verdict.closes.slice(0, 5) },
      { gaps: 0, repeats: 0, missing: 0, closes: [] },
    );
  });
});
