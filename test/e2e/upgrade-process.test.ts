// End to end, through the real CLI: `wsgate upgrade` (and POST /apis/v2/upgrade, and SIGUSR2) replaces the running
// process by a new one started from the code and config on disk. The new one takes the listening sockets (the admin
// API's too) while the old one still accepts, so a client connect loop running throughout sees no refused connection;
// the answer names the new PID, which the status then reports; the old process exits once what stayed there ended.
// Upgrading again (the new process has no parent channel any more) works, through the API and on SIGUSR2.
// Failures: upgrade-process-failures.test.ts.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { WebSocket } from "ws";
import { admin, echoConfig, runCli } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { closeWs, echo } from "../helpers/certs.js";
import { alive, exitOf as gone } from "../helpers/copied-build.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort, waitUntil, withTimeout } from "../helpers/net.js";
import { TcpConnectLoop, openSession as openSessionTo, statusPid as statusPidOf } from "./upgrade-fixture.js";

/** WebSocket sessions opened, echoed once and closed, by `workers` clients in a loop until stopped. */
class ConnectLoop {
  opened = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly done: Promise<void[]>;

  constructor(url: string, workers: number) {
    this.done = Promise.all(Array.from({ length: workers }, () => this.loop(url)));
  }

  private async loop(url: string): Promise<void> {
    for (let round = 0; this.running && round < 100_000; round++) {
      try {
        const ws = new WebSocket(url);
        await withTimeout(
          new Promise<void>((resolve, reject) => {
            ws.once("open", () => resolve());
            ws.once("error", reject);
            ws.once("unexpected-response", (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
          }),
          5000,
          "a session to open",
        );
        this.opened++;
        assert.equal(await echo(ws, `round ${round}`), `round ${round}`);
        await closeWs(ws);
      } catch (error) {
        this.failures.push((error as NodeJS.ErrnoException).code ?? (error as Error).message);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await withTimeout(this.done, 10_000, "the connect loop to stop");
  }
}

describe("wsgate upgrade: the process", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let adminPort: number;
  /** The process serving now. */
  let current: number;
  /** A session opened before the first upgrade. */
  let held: WebSocket;
  let heldClose: Promise<{ code: number; at: number }>;
  const config = (): string => echoConfig(port, backend.port);

  const statusPid = (): Promise<number> => statusPidOf(adminPort);
  const openSession = (): Promise<WebSocket> => openSessionTo(`ws://127.0.0.1:${port}/ws`);

  /** The old process's one log line for an upgrade from `pid`. */
  function upgradeLine(event: string, pid: number): Promise<LogLine> {
    return gateway.nextLog((line) => line["event"] === event && line["pid"] === pid, 15_000);
  }

  before(async () => {
    backend = await startBackend();
    port = await freePort();
    adminPort = await freePort();
    gateway = await GatewayProcess.start(config(), {
      admin: true,
      args: ["--admin-address", `127.0.0.1:${adminPort}`, "--upgrade-drain-timeout", "3s", "--log-format", "json"],
    });
    current = gateway.child.pid ?? 0;
    held = await openSession();
    heldClose = new Promise((resolve) => held.on("close", (code) => resolve({ code, at: Date.now() })));
  });

  after(async () => {
    held?.terminate();
    if (current !== 0 && current !== gateway?.child.pid && alive(current)) {
      process.kill(current, "SIGTERM");
      await gone(current, 15_000).catch(() => process.kill(current, "SIGKILL"));
    }
    await gateway?.stop();
    await backend?.close();
  });

  it("hands the listeners over with no connection refused; the CLI names the new PID, which the status reports", async () => {
    const sessions = new ConnectLoop(`ws://127.0.0.1:${port}/ws`, 3);
    const tcp = new TcpConnectLoop(port);
    const admins = new TcpConnectLoop(adminPort);
    await waitUntil(() => (sessions.opened >= 10 ? true : undefined), 10_000, "the loop to run");
    const run = await runCli(["upgrade", "--server", `127.0.0.1:${adminPort}`], { ms: 60_000 });
    assert.equal(run.code, 0, run.stderr);
    const match =
      /^upgraded: PID (\d+) serves now \(was (\d+), [^)]+\); sessions: (\d+) moved, (\d+) kept by PID \d+ until they end, 0 closed( \(kept: [^)]+\))?\n$/.exec(
        run.stdout,
      );
    assert.ok(match !== null, run.stdout);
    const newPid = Number(match[1]);
    assert.equal(Number(match[2]), current);
    assert.notEqual(newPid, current);
    // The held session, and any loop session live at that moment, either moved or stayed.
    assert.ok(Number(match[3]) + Number(match[4]) >= 1, run.stdout);
    const line = await upgradeLine("upgrade", current);
    assert.equal(line["newPid"], newPid);
    for (const figure of ["moved", "kept", "closed", "tookMs"]) assert.equal(typeof line[figure], "number", figure);

    // Traffic goes on through the new process for a while, then the loops stop.
    const openedAt = sessions.opened;
    await waitUntil(() => (sessions.opened >= openedAt + 10 ? true : undefined), 10_000, "sessions after the upgrade");
    assert.equal(await statusPid(), newPid);
    await sessions.stop();
    await tcp.stop();
    await admins.stop();
    assert.deepEqual(sessions.failures, [], `session failures over ${sessions.opened} sessions`);
    assert.deepEqual(tcp.failures, [], `TCP connects refused or reset over ${tcp.connected}`);
    assert.deepEqual(admins.failures, [], `admin connects refused or reset over ${admins.connected}`);
    assert.ok(tcp.connected > 0 && admins.connected > 0);

    // The held session was opened in the old process: it still echoes, wherever it is served now.
    assert.equal(await echo(held, "still here"), "still here");
    // The old process exits once what stayed there ended; the held session, if it stayed, gets 1001 at the drain end.
    assert.equal(await withTimeout(gateway.exited, 15_000, "the old process to exit"), 0);
    await upgradeLine("upgrade_drained", current);
    // What stayed may be a loop session, not the held one: the held one stayed only if it closed with that process,
    // and then with 1001 at the drain's end; else it moved and is still open.
    const heldEnd = await Promise.race([heldClose, sleep(1000).then(() => undefined)]);
    if (heldEnd === undefined) assert.equal(held.readyState, WebSocket.OPEN, "the held session moved");
    else assert.equal(heldEnd.code, 1001);
    current = newPid;
  });

  it("upgrades again through POST /apis/v2/upgrade, and again on SIGUSR2: the new process needs no parent", async () => {
    const tcp = new TcpConnectLoop(port);
    const reply = await admin(adminPort, "POST", "/apis/v2/upgrade", {
      body: "{}",
      headers: { "Content-Type": "application/json" },
    });
    assert.equal(reply.status, 200, reply.text);
    const answer = reply.json<{ oldPid: number; newPid: number; moved: number; kept: number; closed: number }>();
    assert.equal(answer.oldPid, current);
    assert.equal(reply.headers.get("connection"), "close");
    await gone(current, 15_000);
    assert.equal(await statusPid(), answer.newPid);
    current = answer.newPid;

    process.kill(current, "SIGUSR2");
    const line = await upgradeLine("upgrade", current);
    const next = Number(line["newPid"]);
    await gone(current, 15_000);
    assert.equal(await statusPid(), next);
    current = next;
    await tcp.stop();
    assert.deepEqual(tcp.failures, [], `TCP connects refused or reset over ${tcp.connected}`);
    const ws = await openSession();
    assert.equal(await echo(ws, "after three upgrades"), "after three upgrades");
    await closeWs(ws);
  });
});
