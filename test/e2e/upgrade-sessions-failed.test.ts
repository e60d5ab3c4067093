// End to end through the real CLI: an upgrade to a build that crashes on start fails, says why, and loses nothing:
// the old process keeps its listeners (a reconnect loop is never refused) and every session (numbered messages go on
// both ways without a gap, same ids, same PID). Deploying a good build afterwards, the next upgrade works.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runCli } from "../helpers/admin.js";
import { alive } from "../helpers/copied-build.js";
import { freePort } from "../helpers/net.js";
import { ReconnectLoop, openNumbered } from "../helpers/numbered-streams.js";
import { servingProcess, sessionsByClient } from "../helpers/upgrade-checks.js";
import { UpgradeRig, assertNoLoss, numberedConfig, sleep, upgradeByCli } from "./upgrade-fixture.js";

const SESSIONS = 100;
const TICK_MS = 100;
const CRASHING_CLI = `process.stderr.write("this build cannot start: broken on purpose\\n");\nprocess.exit(3);\n`;

describe("wsgate upgrade to a build that crashes on start", () => {
  let rig: UpgradeRig;

  before(async () => {
    rig = await UpgradeRig.create([
      ["v1", "0.1.0"],
      ["broken", "0.1.0-broken", CRASHING_CLI],
      ["v2", "0.1.0-fixed"],
    ]);
  });

  after(async () => {
    await rig?.close();
  });

  it("fails, says why, and the old process keeps every listener and session", async () => {
    const port = await freePort();
    const gateway = await rig.start(numberedConfig(port, rig.backend.port));
    const oldPid = gateway.child.pid ?? 0;
    rig.clients = await openNumbered(`ws://127.0.0.1:${port}/ws`, SESSIONS);
    const listedBefore = await sessionsByClient(gateway.adminPort);
    rig.stream(TICK_MS);
    const probes = (rig.probes = new ReconnectLoop(`ws://127.0.0.1:${port}/ws`));
    await sleep(500);

    rig.builds.deploy("broken");
    const run = await runCli(["upgrade", "--server", `127.0.0.1:${gateway.adminPort}`], { ms: 30_000 });
    assert.equal(run.code, 1, `the CLI says the upgrade failed: ${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /exit|code 3|broken on purpose/, "and why: the new process exited");
    const failure = await gateway.nextLog((line) => line["event"] === "upgrade_failed", 5000);
    assert.equal(failure.level, "error");
    assert.match(String(failure["reason"]), /exit|code 3|broken on purpose/, "the log says why too");

    await sleep(500);
    assertNoLoss(await rig.settle(), "the sessions streamed on, untouched");
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
    rig.builds.deploy("v2");
    rig.probes = undefined;
    rig.stream(TICK_MS);
    const { figures } = await upgradeByCli(rig.adminPort, 30_000);
    rig.servingPid = figures.newPid;
    assert.deepEqual(await servingProcess(rig.adminPort), { pid: figures.newPid, version: "0.1.0-fixed" });
    await sleep(500);
    assertNoLoss(await rig.settle());
  });
});
