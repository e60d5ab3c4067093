// End to end through the real CLI: /metrics of `wsgate run --workers 2` carries on across `wsgate upgrade`. The old
// primary sends the whole cluster's counter totals (its workers' and its own) with its `done`; the new primary serves
// its own cluster's counts plus those, per series. Every counter series read before the upgrade is served at least as
// high right after the CLI's answer; what the moved sessions relayed is counted once; counting goes on from there,
// through a second upgrade too.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { WebSocket } from "ws";
import { echoConfig } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { closeWs, echo } from "../helpers/certs.js";
import { stopPid } from "../helpers/copied-build.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, refusal } from "../helpers/net.js";
import { openSession, readCounters, seriesKey, upgradeByCli, wentBack, type CounterValues } from "./upgrade-fixture.js";

const SESSIONS = 12;
const ENDED = 4;
const MESSAGES_EACH = 3;

const EDGE = { route: "*/ws", server: "edge" };
const toBackend = (values: CounterValues, backendPort: number): number =>
  values.get(
    seriesKey("wsgate_websocket_messages_total", {
      ...EDGE,
      backend: `127.0.0.1:${backendPort}`,
      direction: "client_to_backend",
    }),
  ) ?? 0;
const accepted = (values: CounterValues): number =>
  values.get(seriesKey("wsgate_websocket_handshakes_total", { ...EDGE, result: "accepted", status: "101" })) ?? 0;

describe("wsgate upgrade --workers 2: the counters carry on", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let sessions: WebSocket[] = [];
  let servingPid = 0;

  before(async () => {
    backend = await startBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(echoConfig(port, backend.port), {
      admin: true,
      args: ["--workers", "2", "--upgrade-drain-timeout", "10s"],
    });
    servingPid = gateway.child.pid ?? 0;
  });

  after(async () => {
    for (const ws of sessions) ws.terminate();
    if (servingPid !== 0 && servingPid !== gateway?.child.pid) await stopPid(servingPid);
    await gateway?.stop();
    await backend?.close();
  });

  async function echoOnEach(round: string): Promise<void> {
    await Promise.all(sessions.map(async (ws, i) => assert.equal(await echo(ws, `${round} ${i}`), `${round} ${i}`)));
  }

  it("serves every counter series of the old cluster at least as high after the upgrade, moved messages once", async () => {
    sessions = await Promise.all(Array.from({ length: SESSIONS }, () => openSession(`ws://127.0.0.1:${port}/ws`)));
    for (let round = 0; round < MESSAGES_EACH; round++) await echoOnEach(`before ${round}`);
    for (const ws of sessions.splice(0, ENDED)) await closeWs(ws);
    assert.equal(await refusal(`ws://127.0.0.1:${port}/elsewhere`), 404);
    await fetch(`http://127.0.0.1:${port}/plain`).then((response) => response.arrayBuffer());

    const beforeUpgrade = await readCounters(gateway.adminPort);
    assert.equal(accepted(beforeUpgrade), SESSIONS, "the old workers counted the handshakes");
    assert.equal(toBackend(beforeUpgrade, backend.port), SESSIONS * MESSAGES_EACH);

    const oldPid = gateway.child.pid ?? 0;
    const { run, figures } = await upgradeByCli(gateway.adminPort);
    assert.equal(figures.moved, SESSIONS - ENDED, `the live sessions moved: ${run.stdout}`);
    assert.notEqual(figures.newPid, oldPid);
    servingPid = figures.newPid;

    const afterUpgrade = await readCounters(gateway.adminPort);
    assert.deepEqual(wentBack(beforeUpgrade, afterUpgrade), [], "no counter series went back");
    assert.equal(accepted(afterUpgrade), SESSIONS);
    assert.equal(toBackend(afterUpgrade, backend.port), SESSIONS * MESSAGES_EACH, "moved messages counted once");

    // Counting goes on in the new workers from there.
    await echoOnEach("after");
    const later = await readCounters(gateway.adminPort);
    assert.equal(toBackend(later, backend.port), SESSIONS * MESSAGES_EACH + (SESSIONS - ENDED));
    assert.deepEqual(wentBack(afterUpgrade, later), [], "no counter series went back later");

    // A second upgrade carries the carried totals on (the new primary's own metrics hold them).
    const second = await upgradeByCli(gateway.adminPort);
    assert.equal(second.figures.moved, SESSIONS - ENDED, `the live sessions moved again: ${second.run.stdout}`);
    assert.notEqual(second.figures.newPid, servingPid);
    servingPid = second.figures.newPid;
    const twice = await readCounters(gateway.adminPort);
    assert.deepEqual(wentBack(later, twice), [], "no counter series went back at the second upgrade");
    assert.equal(toBackend(twice, backend.port), SESSIONS * MESSAGES_EACH + (SESSIONS - ENDED));
  });
});
