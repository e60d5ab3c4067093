// End to end through the real CLI: `wsgate run --workers 2` upgraded in place by `wsgate upgrade`. The old primary
// hands its workers' listening sockets (and its admin API's) to a new primary, whose new workers accept on them: a
// client reconnecting all along is never refused, and sessions opened after are served by the new workers. 100
// sessions stream numbered messages both ways throughout: none closes, no number is lost or doubled; they move to
// the new workers when the session relay is in this build (src/cluster/handover-relay*), and otherwise stay in the
// old workers, which serve them on. Then the old workers and the old primary exit. A new primary that crashes on
// start, or cannot load the config, leaves the old cluster serving everything, and says why.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { admin, runCli } from "../helpers/admin.js";
import { alive, exitOf, stopPid } from "../helpers/copied-build.js";
import { EtcdServer, etcdMissing } from "../helpers/etcd.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import {
  NumberedBackend,
  ReconnectLoop,
  openNumbered,
  settleAndCount,
  streamFromClients,
  type NumberedClient,
} from "../helpers/numbered-streams.js";
import { isUpgradeLine, sessionsByClient, upgradeFigures } from "../helpers/upgrade-checks.js";

const SESSIONS = 100;
const TICK_MS = 200;
const WORKERS = 2;

/** Whether this build relays sessions between the primaries: without it they stay in the old workers. */
const RELAYS_SESSIONS = existsSync(fileURLToPath(new URL("../../src/cluster/handover-relay.js", import.meta.url)));

/** Loaded with `--require` by every process: a new primary throws on start while the `crash` file exists. */
const CRASH_HOOK = `
const { existsSync } = require("node:fs");
const { join } = require("node:path");
if (process.env.WSGATE_UPGRADE_FROM !== undefined && existsSync(join(__dirname, "crash"))) {
  throw new Error("simulated crash of a new build");
}
`;

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

/** The worker PIDs the log names so far ("worker started"). */
function workerPids(gateway: GatewayProcess): number[] {
  return gateway.logs.filter((line) => line.msg === "worker started").map((line) => Number(line["pid"]));
}

async function statusPid(adminPort: number): Promise<number> {
  const reply = await admin(adminPort, "GET", "/apis/v2/status/objects").catch(() =>
    admin(adminPort, "GET", "/apis/v2/status/objects"),
  );
  assert.equal(reply.status, 200, reply.text);
  return reply.json<{ pid: number }>().pid;
}

/** Plain TCP connects in a loop: each must be accepted (ECONNREFUSED is what an upgrade must never cause). */
class TcpConnectLoop {
  connected = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(port: number) {
    this.done = this.loop(port);
  }

  private async loop(port: number): Promise<void> {
    for (let round = 0; this.running && round < 100_000; round++) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("connect", () => {
          this.connected++;
          socket.destroy();
          resolve();
        });
        socket.once("error", (error: NodeJS.ErrnoException) => {
          this.failures.push(error.code ?? error.message);
          resolve();
        });
      });
      await sleep(2);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await withTimeout(this.done, 10_000, "the TCP connect loop to stop");
  }
}

function verdictOf(verdict: Awaited<ReturnType<typeof settleAndCount>>): object {
  return {
    gaps: verdict.gaps,
    repeats: verdict.repeats,
    missing: verdict.missing,
    closes: verdict.closes.slice(0, 5),
    unknown: verdict.unknown.length,
  };
}
const CLEAN = { gaps: 0, repeats: 0, missing: 0, closes: [], unknown: 0 };

describe("wsgate upgrade with --workers 2", () => {
  let backend: NumberedBackend;
  let gateway: GatewayProcess;
  let port: number;
  let clients: NumberedClient[] = [];
  let stopClients: () => void = () => {};
  let probes: ReconnectLoop | undefined;
  let newPid = 0;

  before(async () => {
    backend = await NumberedBackend.start();
    port = await freePort();
    gateway = await GatewayProcess.start(config(port, backend.port), {
      admin: true,
      args: ["--workers", String(WORKERS), "--log-level", "info", "--upgrade-drain-timeout", "20s"],
    });
  });

  after(async () => {
    await probes?.stop();
    stopClients();
    backend?.stopStreaming();
    for (const client of clients) client.ws.terminate();
    if (newPid !== 0 && alive(newPid)) await stopPid(newPid);
    await gateway?.stop();
    await backend?.close();
  });

  it("hands the listeners to new workers (nothing refused), keeps every session streaming, then the old cluster exits", async () => {
    const oldPid = gateway.child.pid ?? 0;
    assert.equal(await statusPid(gateway.adminPort), oldPid);
    const oldWorkers = workerPids(gateway);
    assert.equal(oldWorkers.length, WORKERS);

    clients = await openNumbered(`ws://127.0.0.1:${port}/ws`, SESSIONS, { concurrency: 20 });
    const listedBefore = await sessionsByClient(gateway.adminPort);
    assert.equal(listedBefore.size, SESSIONS, "the old primary lists every session");
    stopClients = streamFromClients(clients, TICK_MS);
    backend.stream(TICK_MS);
    probes = new ReconnectLoop(`ws://127.0.0.1:${port}/ws`);
    const tcp = new TcpConnectLoop(port);
    await sleep(1000);

    const attemptsBefore = probes.attempts;
    const run = await runCli(["upgrade", "--server", `127.0.0.1:${gateway.adminPort}`, "-o", "json"], { ms: 60_000 });
    const attemptsDuring = probes.attempts - attemptsBefore;
    assert.equal(run.code, 0, `wsgate upgrade failed: ${run.stdout}${run.stderr}`);
    const answer = upgradeFigures(JSON.parse(run.stdout) as Record<string, unknown>);
    newPid = answer.newPid;
    assert.equal(answer.oldPid, oldPid);
    assert.notEqual(answer.newPid, oldPid);
    assert.equal(answer.closed, 0, "the upgrade closed nothing");
    assert.ok(answer.moved + answer.kept >= SESSIONS, `every session is counted: ${run.stdout}`);
    if (RELAYS_SESSIONS) assert.ok(answer.moved >= SESSIONS, `every numbered session moved: ${run.stdout}`);
    else assert.ok(answer.kept >= SESSIONS, `without the relay every session stays: ${run.stdout}`);

    assert.equal(await statusPid(gateway.adminPort), newPid, "the admin API answers from the new primary");
    const line = await gateway.nextLog(isUpgradeLine, 5000);
    assert.deepEqual(upgradeFigures(line), answer, `one log line with the figures: ${JSON.stringify(line)}`);
    const newWorkers = workerPids(gateway).filter((pid) => !oldWorkers.includes(pid));
    assert.equal(newWorkers.length, WORKERS, "the new primary started its own workers");

    // New connections now reach the new workers: a fresh session is in the new primary's list.
    const fresh = await openNumbered(`ws://127.0.0.1:${port}/ws`, 10, { prefix: "fresh-", concurrency: 5 });
    const listedFresh = await sessionsByClient(gateway.adminPort);
    assert.deepEqual(
      fresh.filter((client) => !listedFresh.has(`127.0.0.1:${client.localPort}`)).map((client) => client.key),
      [],
      "sessions opened after the upgrade are served by the new workers",
    );
    for (const client of fresh) client.ws.close();

    await sleep(1500);
    await probes.stop();
    await tcp.stop();
    stopClients();
    backend.stopStreaming();
    const verdict = await settleAndCount(clients, backend);
    assert.deepEqual(verdictOf(verdict), CLEAN, "every number arrived once and in order, both ways");
    assert.ok(verdict.toBackend >= SESSIONS * 5 && verdict.toClient >= SESSIONS * 5, "the sessions streamed");
    assert.equal(probes.failed, 0, `the reconnect loop failed: ${JSON.stringify([...probes.failures])}`);
    assert.deepEqual(tcp.failures.slice(0, 5), [], "no TCP connect was refused");
    assert.ok(attemptsDuring > 0 && probes.opened > 10, `sessions opened throughout (${attemptsDuring} during)`);

    if (RELAYS_SESSIONS) {
      const listedAfter = await sessionsByClient(gateway.adminPort);
      assert.deepEqual(
        clients.filter((client) => !listedAfter.has(`127.0.0.1:${client.localPort}`)).map((client) => client.key),
        [],
        "the new workers serve every numbered session",
      );
    }
    // What stayed ends: the old workers, then the old primary, exit.
    for (const client of clients) client.ws.close();
    await withTimeout(gateway.exited, 30_000, "the old primary to exit").then((code) => assert.equal(code, 0));
    for (const pid of oldWorkers) await exitOf(pid, 10_000);
    assert.ok(alive(newPid), "the new primary runs on");
    for (const pid of newWorkers) assert.ok(alive(pid), `new worker ${pid} runs on`);
  });
});

describe("wsgate upgrade with --workers 2: a new primary that fails", () => {
  let backend: NumberedBackend;
  let gateway: GatewayProcess;
  let port: number;
  let dir: string;
  let clients: NumberedClient[] = [];
  let stopClients: () => void = () => {};

  before(async () => {
    backend = await NumberedBackend.start();
    port = await freePort();
    dir = mkdtempSync(join(tmpdir(), "wsgate-upgrade-workers-"));
    writeFileSync(join(dir, "hook.cjs"), CRASH_HOOK);
    gateway = await GatewayProcess.start(config(port, backend.port), {
      admin: true,
      args: ["--workers", String(WORKERS), "--log-level", "info", "--upgrade-drain-timeout", "3s"],
      nodeArgs: ["--require", join(dir, "hook.cjs")],
    });
  });

  after(async () => {
    stopClients();
    backend?.stopStreaming();
    for (const client of clients) client.ws.terminate();
    await gateway?.stop();
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function failedUpgrade(expected: RegExp): Promise<LogLine> {
    const run = await runCli(["upgrade", "--server", `127.0.0.1:${gateway.adminPort}`], { ms: 60_000 });
    assert.equal(run.code, 1, `the upgrade should fail: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, expected);
    return gateway.nextLog((line) => line["event"] === "upgrade_failed", 10_000);
  }

  it("crashes on start, then fails its config: the old cluster keeps every session and accepts throughout", async () => {
    const oldPid = gateway.child.pid ?? 0;
    const oldWorkers = workerPids(gateway);
    clients = await openNumbered(`ws://127.0.0.1:${port}/ws`, 20, { concurrency: 10 });
    stopClients = streamFromClients(clients, TICK_MS);
    backend.stream(TICK_MS);
    const probes = new ReconnectLoop(`ws://127.0.0.1:${port}/ws`);
    const tcp = new TcpConnectLoop(port);
    await sleep(500);

    writeFileSync(join(dir, "crash"), "");
    const crashed = await failedUpgrade(/exited with code/);
    assert.match(String(crashed["reason"]), /exited with code \d+ before it would load the config/);
    rmSync(join(dir, "crash"));

    gateway.rewriteConfig("kind: HTTPServer\nname: edge\nport: not-a-port\n");
    await failedUpgrade(/could not start/);
    gateway.rewriteConfig(config(port, backend.port));

    await sleep(1000);
    await probes.stop();
    await tcp.stop();
    stopClients();
    backend.stopStreaming();
    const verdict = await settleAndCount(clients, backend);
    assert.deepEqual(verdictOf(verdict), CLEAN, "every session went on in the old workers");
    assert.equal(probes.failed, 0, `the reconnect loop failed: ${JSON.stringify([...probes.failures])}`);
    assert.deepEqual(tcp.failures.slice(0, 5), [], "no TCP connect was refused");
    assert.equal(await statusPid(gateway.adminPort), oldPid, "the old primary still answers");
    const listed = await sessionsByClient(gateway.adminPort);
    assert.equal(
      clients.filter((client) => listed.has(`127.0.0.1:${client.localPort}`)).length,
      clients.length,
      "the old workers serve every session",
    );
    for (const pid of oldWorkers) assert.ok(alive(pid), `old worker ${pid} runs on`);
    assert.equal(gateway.child.exitCode, null);
  });
});

const noEtcd = etcdMissing();

describe("wsgate upgrade: where it cannot (yet)", { skip: noEtcd }, () => {
  it("a cluster member (--store etcd://) answers 409 and says why; SIGUSR2 only logs it", async () => {
    const etcd = await EtcdServer.start();
    const backend = await NumberedBackend.start();
    const port = await freePort();
    try {
      const gateway = await GatewayProcess.start(config(port, backend.port), {
        admin: true,
        args: ["--store", `etcd://127.0.0.1:${etcd.clientPort}`, "--cluster-name", "upgrade-refused", "--seed"],
      });
      try {
        const run = await runCli(["upgrade", "--server", `127.0.0.1:${gateway.adminPort}`]);
        assert.equal(run.code, 1, run.stdout);
        assert.match(run.stderr, /cannot be upgraded in place.*--store/);
        gateway.child.kill("SIGUSR2");
        await gateway.nextLog((line) => line["event"] === "upgrade_refused", 15_000);
        assert.equal(gateway.child.exitCode, null);
      } finally {
        await gateway.stop();
      }
    } finally {
      await backend.close();
      await etcd.remove();
    }
  });
});
