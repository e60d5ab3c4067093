// End to end: `wsgate run --workers 2` as users run it: both workers serve one port, a killed worker is replaced while
// the other's sessions go on, and SIGTERM on the primary drains every worker.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import type { SessionView } from "../../src/control/control.js";
import { admin } from "../helpers/admin.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { sumOf } from "../helpers/metrics.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { echo, isOpen, openClients, type EchoClient } from "./clients.js";
import { clusterYaml } from "./gateway-yaml.js";

/** How long a SIGKILLed worker's sockets may take to look closed to their clients. */
const SETTLE_MS = 500;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

async function echoAll(clients: readonly EchoClient[], tag: string): Promise<void> {
  for (const [index, client] of clients.entries()) {
    assert.equal(await echo(client, `${tag} ${index}`), `${tag} ${index}`);
  }
}

describe("wsgate run --workers 2", () => {
  let backend: TestBackend;
  before(async () => {
    backend = await startBackend();
  });
  after(() => backend.close());

  it("serves one port from both workers; a killed worker is replaced while the other's sessions keep echoing", async () => {
    const port = await freePort();
    const gateway = await GatewayProcess.start(clusterYaml(port, backend.url), {
      admin: true,
      args: ["--workers", "2", "--drain-timeout", "2s"],
    });
    const clients: EchoClient[] = [];
    try {
      const started = await gateway.logsMatching((line) => line.msg === "worker started", 2);
      const [first, second] = started.map((line: LogLine) => ({ id: Number(line.worker), pid: Number(line.pid) }));
      assert.ok(first !== undefined && second !== undefined);

      const before = await openClients(port, 30);
      clients.push(...before);
      await echoAll(before, "before");

      process.kill(first.pid, "SIGKILL");
      await gateway.nextLog((line) => line.msg === "worker died" && line.worker === first.id);
      await sleep(SETTLE_MS);
      const ended = before.filter((client) => !isOpen(client));
      const survivors = before.filter(isOpen);
      // Round-robin put sessions on both workers: the killed one's ended, the other's did not.
      assert.ok(ended.length > 0, "some sessions were on the killed worker");
      assert.ok(survivors.length > 0, "some sessions were on the other worker");
      await echoAll(survivors, "after kill");
      // The admin API answers for the workers left: the survivors' sessions, all on the other worker, and the metrics.
      const listed = (await admin(gateway.adminPort, "GET", "/apis/v2/sessions")).json<SessionView[]>();
      assert.equal(listed.length, survivors.length);
      assert.ok(listed.every((session) => session.worker === second.id && session.id.startsWith(`${second.id}-`)));
      const metrics = (await admin(gateway.adminPort, "GET", "/metrics")).text;
      assert.equal(sumOf(metrics, "wsgate_websocket_sessions_active"), survivors.length);

      // The replacement runs the same objects and takes its share of new connections.
      const replacement = await gateway.nextLog(
        (line) => line.msg === "worker applied" && Number(line.worker) !== first.id && line.worker !== second.id,
        10_000,
      );
      const fresh = await openClients(port, 20);
      clients.push(...fresh);
      await echoAll(fresh, "fresh");

      // With the older worker gone too, what is left open was served by the replacement.
      process.kill(second.pid, "SIGKILL");
      await gateway.nextLog((line) => line.msg === "worker died" && line.worker === second.id);
      await sleep(SETTLE_MS);
      assert.equal(survivors.filter(isOpen).length, 0, "the older worker's sessions ended with it");
      const onReplacement = fresh.filter(isOpen);
      assert.ok(onReplacement.length > 0, `worker ${String(replacement.worker)} serves new connections`);
      await echoAll(onReplacement, "on replacement");
    } finally {
      for (const client of clients) client.socket.terminate();
      assert.equal(await gateway.stop(), 0);
    }
  });

  it("SIGTERM on the primary closes every session with 1001 and exits 0 within the drain time", async () => {
    const port = await freePort();
    const drainMs = 3000;
    const gateway = await GatewayProcess.start(clusterYaml(port, backend.url), {
      args: ["--workers", "2", "--drain-timeout", `${drainMs}ms`],
    });
    const pids = (await gateway.logsMatching((line) => line.msg === "worker started", 2)).map((line) =>
      Number(line.pid),
    );
    const clients = await openClients(port, 12);
    await echoAll(clients, "hello");

    const startedAt = Date.now();
    gateway.child.kill("SIGTERM");
    const closes = await withTimeout(
      Promise.all(clients.map((client) => client.closed)),
      drainMs,
      "every session to close",
    );
    assert.deepEqual(
      closes.map((close) => close.code),
      clients.map(() => 1001),
    );
    const code = await withTimeout(gateway.exited, drainMs + 2000, "the primary to exit");
    assert.equal(code, 0);
    assert.ok(Date.now() - startedAt < drainMs + 2000, "exited within the drain time");
    assert.ok(pids.every(processGone), "no worker is left behind");
  });

  it("a port that is taken: the workers cannot listen, the cluster does not start and says why", async () => {
    const port = await freePort();
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(port, "127.0.0.1", () => resolve()));
    try {
      await assert.rejects(
        GatewayProcess.start(clusterYaml(port, backend.url), { args: ["--workers", "2"] }),
        /exited with 2 before listening: wsgate: .*(EADDRINUSE|in use)/,
      );
    } finally {
      taken.close();
    }
  });
});
