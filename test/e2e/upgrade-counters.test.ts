// End to end through the real CLI: /metrics carries on across `wsgate upgrade`. Every counter series the old process
// served (handshakes, refusals, closes, messages, bytes, plain requests, control frames...) is served by the new one
// at least as high, read right after the CLI's answer; what the moved sessions relayed is counted once, not once per
// process; and the counts go on from there, through a second upgrade too.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { WebSocket } from "ws";
import { echoConfig } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { closeWs, echo } from "../helpers/certs.js";
import { stopPid } from "../helpers/copied-build.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, refusal } from "../helpers/net.js";
import {
  openSession,
  readCounters,
  readCountersWhen,
  seriesKey,
  upgradeByCli,
  wentBack,
  type CounterValues,
} from "./upgrade-fixture.js";

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
const clientCloses = (values: CounterValues): number =>
  values.get(seriesKey("wsgate_websocket_closes_total", { server: "edge", side: "client", code: "1005" })) ?? 0;

describe("wsgate upgrade: the counters carry on", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let sessions: WebSocket[] = [];
  let servingPid = 0;

  before(async () => {
    backend = await startBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(echoConfig(port, backend.port), { admin: true });
    servingPid = gateway.child.pid ?? 0;
  });

  after(async () => {
    for (const ws of sessions) ws.terminate();
    if (servingPid !== 0 && servingPid !== gateway?.child.pid) await stopPid(servingPid);
    await gateway?.stop();
    await backend?.close();
  });

  async function upgrade(moving: number): Promise<number> {
    const { run, figures } = await upgradeByCli(gateway.adminPort);
    assert.equal(figures.moved, moving, `the live sessions moved: ${run.stdout}`);
    servingPid = figures.newPid;
    return figures.newPid;
  }

  async function echoOnEach(round: string): Promise<void> {
    await Promise.all(sessions.map(async (ws, i) => assert.equal(await echo(ws, `${round} ${i}`), `${round} ${i}`)));
  }

  it("serves every counter series at least as high after the upgrade, each moved message counted once", async () => {
    const opened = await Promise.all(Array.from({ length: SESSIONS }, () => openSession(`ws://127.0.0.1:${port}/ws`)));
    sessions = opened;
    for (let round = 0; round < MESSAGES_EACH; round++) await echoOnEach(`before ${round}`);
    for (const ws of sessions.splice(0, ENDED)) await closeWs(ws);
    assert.equal(await refusal(`ws://127.0.0.1:${port}/elsewhere`), 404);
    await fetch(`http://127.0.0.1:${port}/plain`).then((response) => response.arrayBuffer());

    const beforeUpgrade = await readCountersWhen(gateway.adminPort, (values) => clientCloses(values) >= ENDED);
    assert.equal(accepted(beforeUpgrade), SESSIONS, "the old process counted the handshakes");
    assert.equal(toBackend(beforeUpgrade, backend.port), SESSIONS * MESSAGES_EACH);

    const oldPid = gateway.child.pid ?? 0;
    const newPid = await upgrade(SESSIONS - ENDED);
    assert.notEqual(newPid, oldPid);
    const afterUpgrade = await readCounters(gateway.adminPort);
    assert.deepEqual(wentBack(beforeUpgrade, afterUpgrade), [], "no counter series went back");
    // Nothing happened in between: the same figures, not the moved sessions' counted twice.
    assert.equal(accepted(afterUpgrade), SESSIONS);
    assert.equal(toBackend(afterUpgrade, backend.port), SESSIONS * MESSAGES_EACH, "moved messages counted once");

    // Counting goes on in the new process from there.
    await echoOnEach("after");
    const later = await readCounters(gateway.adminPort);
    const sent = SESSIONS * MESSAGES_EACH + (SESSIONS - ENDED);
    assert.equal(toBackend(later, backend.port), sent);
    for (const ws of sessions.splice(0, 1)) await closeWs(ws);
    const closed = await readCountersWhen(gateway.adminPort, (values) => clientCloses(values) >= ENDED + 1);
    assert.equal(clientCloses(closed), ENDED + 1, "closes before and after the upgrade, in one series");

    // A second upgrade carries the carried totals on.
    const second = await upgrade(SESSIONS - ENDED - 1);
    assert.notEqual(second, newPid);
    const twice = await readCounters(gateway.adminPort);
    assert.deepEqual(wentBack(closed, twice), [], "no counter series went back at the second upgrade");
    assert.equal(toBackend(twice, backend.port), sent);
  });
});
