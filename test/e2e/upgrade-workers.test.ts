// End to end through the real CLI: `wsgate run --workers 2` upgraded in place by `wsgate upgrade`. The old primary
// hands its workers' listening sockets (and its admin API's) to a new primary, whose new workers accept on them: a
// client reconnecting all along is never refused, and sessions opened after are served by the new workers. 100
// sessions stream numbered messages both ways throughout: none closes, no number is lost or doubled, and each moves
// to a new worker (relayed through both primaries). Then the old workers and the old primary exit. A new primary
// that crashes on start, cannot load the config, or dies as the first session reaches it, leaves the old cluster
// serving everything (accepting again), and says why.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runCli } from "../helpers/admin.js";
import { alive, exitOf, stopPid } from "../helpers/copied-build.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
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

import {
  CLEAN,
  SESSIONS,
  TICK_MS,
  TcpConnectLoop,
  WORKERS,
  config,
  sleep,
  statusPid,
  verdictOf,
  workerPids,
} from "./upgrade-workers-shared.js";

describe("wsgate upgrade with --workers 2", () => {
  let backend: NumberedBackend;
  let gateway: GatewayProcess;
  let port: number;
  let clients: NumberedClient[] = [];
  let stopClients: () => void = () => {};
  let probes: ReconnectLoop | undefined;
  let newPid = 0;
  let firstWorked = false;

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
    assert.ok(answer.moved >= SESSIONS, `every numbered session moved: ${run.stdout}`);

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

    const listedAfter = await sessionsByClient(gateway.adminPort);
    assert.deepEqual(
      clients.filter((client) => !listedAfter.has(`127.0.0.1:${client.localPort}`)).map((client) => client.key),
      [],
      "the new workers serve every numbered session (the new primary lists them)",
    );
    // Old worker k hands over to new worker k: each session keeps its id, `<worker>-<n>`.
    const renamed = clients.filter((client) => {
      const address = `127.0.0.1:${client.localPort}`;
      return listedAfter.get(address)?.id !== listedBefore.get(address)?.id;
    });
    assert.deepEqual(
      renamed.map((client) => client.key),
      [],
      "every session keeps its id",
    );
    // Old workers have let go of their sessions: they exit as soon as nothing is left, well before the drain timeout.
    for (const pid of oldWorkers) await exitOf(pid, 15_000);
    // Nothing stayed: the old workers, then the old primary, exit.
    await withTimeout(gateway.exited, 30_000, "the old primary to exit").then((code) => assert.equal(code, 0));
    for (const pid of oldWorkers) await exitOf(pid, 10_000);
    assert.ok(alive(newPid), "the new primary runs on");
    for (const pid of newWorkers) assert.ok(alive(pid), `new worker ${pid} runs on`);
    firstWorked = true;
  });

  it("upgrades again, by SIGUSR2 to the new primary: its workers hand over in turn", async (t) => {
    if (!firstWorked) {
      t.skip("the first upgrade failed");
      return;
    }
    const first = newPid;
    const before = workerPids(gateway);
    stopClients = streamFromClients(clients, TICK_MS);
    backend.stream(TICK_MS);
    await sleep(500);
    process.kill(first, "SIGUSR2");
    // The new primary logs to the same stdout: its own upgrade line names its successor.
    const lines = await gateway.logsMatching(isUpgradeLine, 2, 30_000);
    const second = upgradeFigures(lines[1] ?? {});
    assert.equal(second.oldPid, first);
    newPid = second.newPid;
    assert.ok(second.moved >= SESSIONS, `every session moved again: ${JSON.stringify(lines[1])}`);
    assert.equal(await statusPid(gateway.adminPort), newPid, "the admin API answers from the third primary");
    await exitOf(first, 20_000);
    await sleep(500);
    stopClients();
    backend.stopStreaming();
    const verdict = await settleAndCount(clients, backend);
    assert.deepEqual(verdictOf(verdict), CLEAN, "every number arrived once and in order, both ways");
    const listed = await sessionsByClient(gateway.adminPort);
    assert.equal(
      clients.filter((client) => listed.has(`127.0.0.1:${client.localPort}`)).length,
      SESSIONS,
      "the third primary's workers serve them all",
    );
    const third = workerPids(gateway).filter((pid) => !before.includes(pid));
    assert.equal(third.length, WORKERS);
    for (const pid of before) await exitOf(pid, 10_000);
  });
});
