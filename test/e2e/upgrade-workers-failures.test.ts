// End to end through the real CLI: `wsgate upgrade` of `wsgate run --workers 2` to a new primary that fails: it
// crashes on start, cannot load the config, or dies as the first session reaches it (after the old workers stopped
// accepting). Each time the old cluster keeps every session streaming (no close, gap or repeat), a reconnect loop
// and a TCP connect loop see nothing refused, the answer and the log say why. A cluster member (--store) is refused.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runCli } from "../helpers/admin.js";
import { alive } from "../helpers/copied-build.js";
import { EtcdServer, etcdMissing } from "../helpers/etcd.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort } from "../helpers/net.js";
import {
  NumberedBackend,
  ReconnectLoop,
  openNumbered,
  settleAndCount,
  streamFromClients,
  type NumberedClient,
} from "../helpers/numbered-streams.js";
import { sessionsByClient } from "../helpers/upgrade-checks.js";
import {
  CLEAN,
  CRASH_HOOK,
  TICK_MS,
  TcpConnectLoop,
  WORKERS,
  config,
  sleep,
  statusPid,
  verdictOf,
  workerPids,
} from "./upgrade-workers-shared.js";

describe("wsgate upgrade with --workers 2: a new primary that fails", () => {
  let backend: NumberedBackend;
  let gateway: GatewayProcess;
  let port: number;
  let dir: string;
  let clients: NumberedClient[] = [];
  let stopClients: () => void = () => {};
  let probes: ReconnectLoop | undefined;
  let tcp: TcpConnectLoop | undefined;
  let failures = 0;

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
    await probes?.stop();
    await tcp?.stop();
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
    failures++;
    const lines = await gateway.logsMatching((line) => line["event"] === "upgrade_failed", failures, 10_000);
    return lines[failures - 1] ?? {};
  }

  it("crashes on start, fails its config, dies mid-way: the old cluster keeps every session, accepting", async () => {
    const oldPid = gateway.child.pid ?? 0;
    const oldWorkers = workerPids(gateway);
    clients = await openNumbered(`ws://127.0.0.1:${port}/ws`, 20, { concurrency: 10 });
    stopClients = streamFromClients(clients, TICK_MS);
    backend.stream(TICK_MS);
    probes = new ReconnectLoop(`ws://127.0.0.1:${port}/ws`);
    tcp = new TcpConnectLoop(port);
    await sleep(500);

    writeFileSync(join(dir, "crash"), "");
    const crashed = await failedUpgrade(/exited with code/);
    assert.match(String(crashed["reason"]), /exited with code \d+ before it would load the config/);
    rmSync(join(dir, "crash"));

    gateway.rewriteConfig("kind: HTTPServer\nname: edge\nport: not-a-port\n");
    await failedUpgrade(/could not start/);
    gateway.rewriteConfig(config(port, backend.port));

    // Until now the successors never ran the config: nothing failed at all.
    assert.equal(probes.failed, 0, `the reconnect loop failed: ${JSON.stringify([...probes.failures])}`);
    assert.deepEqual(tcp.failures.slice(0, 5), [], "no TCP connect failed");
    const opened = probes.opened;

    // Dies as the first session reaches it, after the old workers stopped accepting: they listen again (on the
    // sockets their primary kept, so nothing is refused). A connection a new worker had accepted and not yet served
    // goes with it (a reset, not a refusal).
    writeFileSync(join(dir, "die-on-session"), "");
    const died = await failedUpgrade(/during the hand-over of the sessions/);
    assert.match(String(died["reason"]), /go on in the old workers/);
    rmSync(join(dir, "die-on-session"));

    await sleep(1000);
    await probes.stop();
    await tcp.stop();
    stopClients();
    backend.stopStreaming();
    const verdict = await settleAndCount(clients, backend);
    assert.deepEqual(verdictOf(verdict), CLEAN, "every session went on in the old workers");
    assert.equal(probes.failures.get("ECONNREFUSED") ?? 0, 0, `refused: ${JSON.stringify([...probes.failures])}`);
    assert.ok(probes.failed <= 5, `at most a few resets: ${JSON.stringify([...probes.failures])}`);
    assert.ok(probes.opened > opened + 5, "sessions open again after the failed upgrade");
    assert.deepEqual(
      tcp.failures.filter((code) => code === "ECONNREFUSED"),
      [],
      "no TCP connect was refused",
    );
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
