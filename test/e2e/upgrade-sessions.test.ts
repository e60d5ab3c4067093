// End to end through the real CLI: `wsgate upgrade` hands 500 live sessions, each streaming numbered messages both
// ways, to a new process started from a modified build on disk (another version behind the `current` symlink).
// Nothing closes, no number is lost, doubled or reordered either way, every session is then served by the new PID
// under the same id, and a client opening sessions back to back all along is never refused. A session holding the
// first fragment of a message, and one holding half a frame, finish their message after the upgrade. Then the new
// process is upgraded again by SIGUSR2, and the sessions still stream.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { alive, exitOf } from "../helpers/copied-build.js";
import { frame } from "../helpers/frames.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { ReconnectLoop, openNumbered } from "../helpers/numbered-streams.js";
import { RawWebSocket } from "../helpers/raw-client.js";
import { servingProcess, sessionsByClient, upgradeFigures, isUpgradeLine } from "../helpers/upgrade-checks.js";
import { UpgradeRig, assertNoLoss, numberedConfig, sleep, upgradeByCli } from "./upgrade-fixture.js";

const SESSIONS = 500;
/** Each session sends a number each way every TICK_MS: 500 × 2 × 5 = 5,000 messages/s through the gateway. */
const TICK_MS = 200;
const NEW_VERSION = "0.1.0-upgraded";

describe("wsgate upgrade: 500 streaming sessions to a new build", () => {
  let rig: UpgradeRig;
  let port: number;
  let firstUpgradeWorked = false;

  before(async () => {
    rig = await UpgradeRig.create([
      ["v1", "0.1.0"],
      ["v2", NEW_VERSION],
    ]);
    port = await freePort();
    await rig.start(numberedConfig(port, rig.backend.port));
  });

  after(async () => {
    await rig?.close();
  });

  it("moves every session to the new PID: no close, no gap, no repeat, no refused connection", async () => {
    const gateway = rig.gateway!;
    const oldPid = gateway.child.pid ?? 0;
    const before = await servingProcess(gateway.adminPort);
    assert.deepEqual(before, { pid: oldPid, version: "0.1.0" }, "status names the process and its version");

    const clients = (rig.clients = await openNumbered(`ws://127.0.0.1:${port}/ws`, SESSIONS, { concurrency: 25 }));
    const fragmented = await RawWebSocket.connect(port, "/ws?raw=fragmented");
    const halfFrame = await RawWebSocket.connect(port, "/ws?raw=half-frame");
    const listedBefore = await sessionsByClient(gateway.adminPort);
    assert.equal(listedBefore.size, SESSIONS + 2, "every session is listed before the upgrade");

    rig.stream(TICK_MS);
    const probes = (rig.probes = new ReconnectLoop(`ws://127.0.0.1:${port}/ws`));
    await sleep(500);

    // Mid-message and mid-frame at the moment of the upgrade.
    fragmented.send(frame({ opcode: 1, fin: false, payload: "first fragment;", mask: true }));
    const whole = frame({ opcode: 1, payload: "one frame, cut in two by an upgrade", mask: true });
    halfFrame.send(whole.subarray(0, 12));
    await sleep(100);

    rig.builds.deploy("v2");
    const attemptsBefore = probes.attempts;
    const { run, figures: answer } = await upgradeByCli(gateway.adminPort);
    const attemptsDuring = probes.attempts - attemptsBefore;
    rig.servingPid = answer.newPid;
    assert.equal(answer.oldPid, oldPid);
    assert.ok(answer.moved >= SESSIONS + 1, `500 numbered + the fragmented session moved: ${run.stdout}`);
    assert.equal(answer.closed, 0, "the upgrade closed nothing");
    const keptBy = (JSON.parse(run.stdout) as { keptBy?: { unsettled?: number } }).keptBy;
    assert.equal(keptBy?.unsettled, 1, "the session holding half a frame did not settle: it stays in the old process");

    const now = await servingProcess(gateway.adminPort);
    assert.deepEqual(now, { pid: answer.newPid, version: NEW_VERSION }, "the admin API answers from the new build");
    assert.notEqual(now.pid, oldPid);
    const line = await gateway.nextLog(isUpgradeLine, 5000);
    assert.deepEqual(
      upgradeFigures(line),
      answer,
      `the old process logs the same figures in one line: ${JSON.stringify(line)}`,
    );

    // The rest of the message and of the frame, now.
    fragmented.send(frame({ opcode: 0, fin: true, payload: " then the last", mask: true }));
    halfFrame.send(whole.subarray(12));
    await fragmented.waitForFrame((f) => f.payload.toString() === "first fragment; then the last", 5000);
    await halfFrame.waitForFrame((f) => f.payload.toString() === "one frame, cut in two by an upgrade", 5000);
    assert.deepEqual(rig.backend.rawMessages.get("fragmented"), ["first fragment; then the last"]);
    assert.deepEqual(rig.backend.rawMessages.get("half-frame"), ["one frame, cut in two by an upgrade"]);

    await sleep(500);
    const verdict = await rig.settle();
    assert.deepEqual(
      {
        gaps: verdict.gaps,
        repeats: verdict.repeats,
        missing: verdict.missing,
        closes: verdict.closes.slice(0, 5),
        unknown: verdict.unknown.length,
      },
      { gaps: 0, repeats: 0, missing: 0, closes: [], unknown: 0 },
      "every number arrived once and in order, both ways",
    );
    assert.ok(verdict.toBackend >= SESSIONS * 5 && verdict.toClient >= SESSIONS * 5, "the sessions streamed");

    const listedAfter = await sessionsByClient(gateway.adminPort);
    const notMoved = clients.filter((client) => {
      const address = `127.0.0.1:${client.localPort}`;
      return listedAfter.get(address)?.id !== listedBefore.get(address)?.id;
    });
    assert.deepEqual(
      notMoved.map((client) => client.key),
      [],
      "the new PID serves every numbered session, under its old id",
    );
    const fragmentedAddress = `127.0.0.1:${fragmented.socket.localPort}`;
    assert.equal(
      listedAfter.get(fragmentedAddress)?.id,
      listedBefore.get(fragmentedAddress)?.id,
      "the session between two fragments moved too",
    );
    const sample = listedAfter.get(`127.0.0.1:${clients[0]?.localPort}`);
    assert.ok((sample?.clientMessages ?? 0) > 5, "its counters went on from the old process's");

    assert.equal(probes.failed, 0, `the reconnect loop failed: ${JSON.stringify([...probes.failures])}`);
    assert.ok(attemptsDuring > 0 && probes.opened > 10, `sessions opened throughout (${attemptsDuring} during)`);

    fragmented.socket.destroy();
    halfFrame.socket.destroy();
    // Everything left: the old process has nothing more to serve and goes.
    await withTimeout(gateway.exited, 15_000, "the old process to exit").then((code) => assert.equal(code, 0));
    assert.ok(alive(rig.servingPid), "the new process runs on");
    firstUpgradeWorked = true;
  });

  it("upgrades again, by SIGUSR2 to the new process: the sessions still stream", async (t) => {
    if (!firstUpgradeWorked) {
      t.skip("the first upgrade failed");
      return;
    }
    const gateway = rig.gateway!;
    const first = rig.servingPid;
    assert.ok(alive(first));
    rig.stream(TICK_MS);
    await sleep(500);
    process.kill(first, "SIGUSR2");
    // The upgraded process logs to the same stdout: its own upgrade line names its successor.
    const lines = await gateway.logsMatching(isUpgradeLine, 2, 30_000);
    const second = upgradeFigures(lines[1] ?? {});
    assert.equal(second.oldPid, first);
    rig.servingPid = second.newPid;
    assert.equal(second.closed, 0);
    assert.equal((await servingProcess(gateway.adminPort)).pid, rig.servingPid, "the admin API answers from it");
    await exitOf(first, 15_000);
    await sleep(500);
    assertNoLoss(await rig.settle());
    const listed = await sessionsByClient(gateway.adminPort);
    assert.equal(
      rig.clients.filter((client) => listed.has(`127.0.0.1:${client.localPort}`)).length,
      SESSIONS,
      "the second new process serves them all",
    );
  });
});
