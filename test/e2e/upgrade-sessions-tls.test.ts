// End to end through the real CLI: sessions whose TLS the gateway terminates cannot move (Node cannot export a TLS
// session's keys), so `wsgate upgrade` keeps them in the old process, which goes on serving them, numbered messages
// both ways without a gap, while the plaintext sessions move. Those that end normally end normally (the backend sees
// the client's 1000); those still open at --upgrade-drain-timeout get 1001; then the old process exits.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runCli } from "../helpers/admin.js";
import { TestPki, type CertFiles } from "../helpers/certs.js";
import { alive } from "../helpers/copied-build.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { openNumbered, type NumberedClient } from "../helpers/numbered-streams.js";
import { isUpgradeLine, servingProcess, sessionsByClient, upgradeFigures } from "../helpers/upgrade-checks.js";
import { UpgradeRig, assertNoLoss, numberedRoutes, sleep } from "./upgrade-fixture.js";

const PLAIN = 40;
const TLS_ENDING = 8;
const TLS_STAYING = 8;
const DRAIN_MS = 8000;
const TICK_MS = 100;

function config(port: number, tlsPort: number, cert: CertFiles, backendPort: number): string {
  const { rules, pipeline } = numberedRoutes(backendPort);
  return `kind: HTTPServer
name: plain
port: ${port}
address: 127.0.0.1
${rules}
---
kind: HTTPServer
name: secure
port: ${tlsPort}
address: 127.0.0.1
https: true
certFiles:
  - certFile: ${cert.certFile}
    keyFile: ${cert.keyFile}
${rules}
---
${pipeline}`;
}

describe("wsgate upgrade with TLS sessions: they stay behind, then end or drain", () => {
  let rig: UpgradeRig;
  let pki: TestPki;

  before(async () => {
    rig = await UpgradeRig.create([
      ["v1", "0.1.0"],
      ["v2", "0.1.0-upgraded"],
    ]);
    pki = await TestPki.create();
  });

  after(async () => {
    await rig?.close();
  });

  it("keeps TLS sessions streaming in the old process; 1000 passes through, 1001 at the drain timeout", async () => {
    const cert = await pki.issue({ cn: "gateway", ips: ["127.0.0.1"] });
    const [port, tlsPort] = [await freePort(), await freePort()];
    const backend = rig.backend;
    const gateway = await rig.start(config(port, tlsPort, cert, backend.port), {
      servers: 2,
      args: ["--upgrade-drain-timeout", `${DRAIN_MS / 1000}s`],
    });
    const oldPid = gateway.child.pid ?? 0;
    const plain = await openNumbered(`ws://127.0.0.1:${port}/ws`, PLAIN, { prefix: "plain-" });
    const wss = { ca: pki.ca.cert };
    const ending = await openNumbered(`wss://127.0.0.1:${tlsPort}/ws`, TLS_ENDING, {
      prefix: "ending-",
      wsOptions: wss,
    });
    const staying = await openNumbered(`wss://127.0.0.1:${tlsPort}/ws`, TLS_STAYING, {
      prefix: "staying-",
      wsOptions: wss,
    });
    rig.clients = [...plain, ...ending, ...staying];
    rig.stream(TICK_MS);
    await sleep(500);

    rig.builds.deploy("v2");
    const run = await runCli(["upgrade", "--server", `127.0.0.1:${gateway.adminPort}`], { ms: 30_000 });
    const upgradedAt = Date.now();
    assert.equal(run.code, 0, `wsgate upgrade failed: ${run.stdout}${run.stderr}`);
    const figures = upgradeFigures(await gateway.nextLog(isUpgradeLine, 5000));
    const newPid = (rig.servingPid = figures.newPid);
    assert.match(run.stdout, new RegExp(`PID ${newPid} serves now`), "the CLI's line names the new PID");
    assert.match(run.stdout, new RegExp(`kept: ${TLS_ENDING + TLS_STAYING} TLS\\)`), "and why sessions stayed");
    assert.deepEqual(
      [figures.moved, figures.kept, figures.closed],
      [PLAIN, TLS_ENDING + TLS_STAYING, 0],
      "plaintext sessions moved, TLS ones kept",
    );
    assert.equal((await servingProcess(gateway.adminPort)).pid, newPid);
    assert.notEqual(newPid, oldPid);

    const listed = await sessionsByClient(gateway.adminPort);
    const servedByNew = (client: NumberedClient): boolean => listed.has(`127.0.0.1:${client.localPort}`);
    assert.deepEqual(
      [plain.filter(servedByNew).length, [...ending, ...staying].filter(servedByNew).length],
      [PLAIN, 0],
      "the new process lists the plaintext sessions, not the TLS ones",
    );

    // A SIGHUP to the draining process (a config hook, `pkill -HUP wsgate`) neither reloads nor kills it: its TLS
    // sessions go on (Node's default for SIGHUP, once no handler is left, is to exit).
    process.kill(oldPid, "SIGHUP");
    await sleep(1000);
    assertNoLoss(await rig.settle(), "both kinds streamed through the upgrade without a gap");
    assert.ok(alive(oldPid), "the old process stays for its TLS sessions");

    // The ones that end, end as their client says: the backend gets the 1000.
    for (const client of ending) client.ws.close(1000, "done");
    await withTimeout(
      (async () => {
        while (ending.some((client) => (backend.sessions.get(client.key)?.tally.closes.length ?? 0) === 0))
          await sleep(50);
      })(),
      5000,
      "the backend to see the TLS sessions end",
    );
    for (const client of ending)
      assert.deepEqual(backend.sessions.get(client.key)?.tally.closes, ["backend saw 1000 done"], client.key);

    // The others are closed by the old process at the drain timeout, with 1001.
    const closes = await withTimeout(
      Promise.all(
        staying.map(
          (client) =>
            new Promise<{ code: number; at: number }>((resolve) =>
              client.ws.once("close", (code) => resolve({ code, at: Date.now() })),
            ),
        ),
      ),
      DRAIN_MS + 10_000,
      "the drain timeout's closes",
    );
    for (const close of closes) {
      assert.equal(close.code, 1001);
      // From the CLI's answer: the drain window began a little before it.
      assert.ok(
        close.at - upgradedAt >= DRAIN_MS - 1500,
        `closed at the timeout, not before (${close.at - upgradedAt} ms)`,
      );
    }
    const code = await withTimeout(gateway.exited, 10_000, "the old process to exit after its drain");
    assert.equal(code, 0);
    assert.ok(alive(newPid), "the new process serves on");
    assert.equal((await sessionsByClient(gateway.adminPort)).size, PLAIN);
  });
});
