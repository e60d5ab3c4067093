// ClusterControl in a real primary with two real workers (test/cluster/fixtures/control-primary.ts exposes it over a
// small JSON endpoint, as the admin API will): every answer is for the whole gateway.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { loadConfigText, type ConfigObject } from "../../src/config/load.js";
import type { SessionView, StatusView } from "../../src/control/control.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { echo, isOpen, openClients, type EchoClient } from "./clients.js";
import { clusterYaml } from "./gateway-yaml.js";

const PRIMARY = fileURLToPath(new URL("./fixtures/control-primary.js", import.meta.url));
const SESSIONS = 20;

let backend: TestBackend;
let gateway: GatewayProcess;
let port: number;
let controlPort: number;
let clients: EchoClient[] = [];

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${controlPort}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return (await response.json()) as T;
}

async function workerPids(): Promise<Map<number, number>> {
  const lines = await gateway.logsMatching((line) => line.msg === "worker started", 2);
  return new Map(lines.map((line) => [Number(line.worker), Number(line.pid)]));
}

describe("ClusterControl over two workers", () => {
  before(async () => {
    backend = await startBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(clusterYaml(port, backend.url), {
      entry: PRIMARY,
      args: ["--workers", "2", "--drain-timeout", "2s"],
    });
    controlPort = Number((await gateway.nextLog((line) => line.msg === "control listening")).port);
    clients = await openClients(port, SESSIONS);
    for (const client of clients) assert.equal(await echo(client, "hi"), "hi");
  });

  after(async () => {
    for (const client of clients) client.socket.terminate();
    await gateway.stop();
    await backend.close();
  });

  it("sessions(): every worker's sessions, ids unique and prefixed with their worker", async () => {
    const sessions = await call<SessionView[]>("GET", "/sessions");
    assert.equal(sessions.length, SESSIONS);
    assert.equal(new Set(sessions.map((session) => session.id)).size, SESSIONS);
    assert.equal(new Set(sessions.map((session) => session.worker)).size, 2, "both workers have sessions");
    for (const session of sessions) {
      assert.match(session.id, new RegExp(`^${String(session.worker)}-\\d+$`));
      assert.equal(session.server, "cluster-server");
      assert.equal(session.pipeline, "echo");
      assert.equal(session.clientMessages, 1);
      assert.equal(session.backendMessages, 1);
    }
  });

  it("closeSession(): the worker that has the session closes it with the code; an unknown id is false", async () => {
    const [first] = await call<SessionView[]>("GET", "/sessions");
    assert.ok(first !== undefined);
    const before = clients.filter(isOpen);
    assert.deepEqual(await call("DELETE", `/sessions/${first.id}?code=4000`), { closed: true });
    const closes = await withTimeout(
      Promise.race(before.map((client) => client.closed)),
      3000,
      "the closed session's client to see the close",
    );
    assert.equal(closes.code, 4000);
    assert.deepEqual(await call("DELETE", `/sessions/99-1?code=4000`), { closed: false });
    assert.equal((await call<SessionView[]>("GET", "/sessions")).length, SESSIONS - 1);
  });

  it("status(): sessions and each pool's connections are counted over both workers", async () => {
    const status = await call<StatusView>("GET", "/status");
    const open = clients.filter(isOpen).length;
    assert.equal(status.sessions, open);
    assert.deepEqual(status.listeners, [{ server: "cluster-server", address: "127.0.0.1", port }]);
    const echoPool = status.pools.find((pool) => pool.pool.startsWith("echo/"));
    assert.ok(echoPool !== undefined, "the echo pipeline's pool is listed once");
    assert.equal(status.pools.filter((pool) => pool.pool === echoPool.pool).length, 1);
    assert.equal(echoPool.servers.length, 1);
    assert.equal(echoPool.servers[0]?.activeConnections, open);
    assert.equal(status.lastApplyError, undefined);
  });

  it("metrics(): one exposition for the whole gateway, every metric once", async () => {
    const metrics = await call<{ contentType: string; body: string }>("GET", "/metrics");
    assert.match(metrics.contentType, /^text\/plain/);
    const types = metrics.body
      .split("\n")
      .filter((line) => line.startsWith("# TYPE wsgate_process_resident_memory_bytes"));
    assert.equal(types.length, 1);
    const sample = /^wsgate_process_resident_memory_bytes (\d+)/m.exec(metrics.body);
    assert.ok(sample !== null && Number(sample[1]) > 0);
  });

  it("a worker that does not answer is left out after the request timeout; the admin call does not hang", async () => {
    const pids = await workerPids();
    const sessions = await call<SessionView[]>("GET", "/sessions");
    const [stoppedWorker, stoppedPid] = [...pids.entries()][0] ?? [];
    assert.ok(stoppedWorker !== undefined && stoppedPid !== undefined);
    process.kill(stoppedPid, "SIGSTOP");
    try {
      const startedAt = Date.now();
      const answered = await withTimeout(call<SessionView[]>("GET", "/sessions"), 5000, "the sessions answer");
      assert.ok(Date.now() - startedAt < 4000);
      assert.deepEqual(
        answered.map((session) => session.id).sort(),
        sessions
          .filter((session) => session.worker !== stoppedWorker)
          .map((session) => session.id)
          .sort(),
      );
    } finally {
      process.kill(stoppedPid, "SIGCONT");
    }
  });

  it("a deleted route drains on every worker with 1001; the other route's sessions keep echoing", async () => {
    const others = await openClients(port, 6, "/other");
    clients.push(...others);
    const sessions = await call<SessionView[]>("GET", "/sessions");
    const onOther = sessions.filter((session) => session.pipeline === "other");
    assert.equal(new Set(onOther.map((session) => session.worker)).size, 2, "both workers serve /other");
    const without = loadConfigText(
      clusterYaml(port, backend.url)
        .replace(/\n {6}- pathPrefix: \/other\n {8}backend: other/, "")
        .replace(/---\nkind: Pipeline\nname: other[\s\S]*$/, ""),
      "without-other.yaml",
    );
    assert.ok(without.ok, JSON.stringify(without.ok ? [] : without.errors));
    assert.deepEqual(await call("PUT", "/objects", without.config.objects), { error: null });
    const closes = await withTimeout(
      Promise.all(others.map((client) => client.closed)),
      5000,
      "the deleted route's sessions to close",
    );
    assert.deepEqual(
      closes.map((close) => close.code),
      others.map(() => 1001),
    );
    for (const client of clients.filter(isOpen)) assert.equal(await echo(client, "kept"), "kept");
  });

  it("a store change reaches every worker: new routes on both, old sessions keep echoing", async () => {
    const objects = loadConfigText(
      clusterYaml(port, backend.url).replace("pathPrefix: /other", "pathPrefix: /renamed"),
      "changed.yaml",
    );
    assert.ok(objects.ok);
    assert.deepEqual(await call("PUT", "/objects", objects.config.objects), { error: null });
    const renamed = await openClients(port, 6, "/renamed");
    clients.push(...renamed);
    for (const client of renamed) assert.equal(await echo(client, "renamed"), "renamed");
    const sessions = await call<SessionView[]>("GET", "/sessions");
    const onRenamed = sessions.filter((session) => session.pipeline === "other");
    assert.equal(new Set(onRenamed.map((session) => session.worker)).size, 2, "both workers took the change");
    for (const client of clients.filter(isOpen)) assert.equal(await echo(client, "still"), "still");
  });

  it("a change that cannot be applied is reported by settled() and status(); the workers keep serving", async () => {
    const bad: ConfigObject[] = [{ kind: "Pipeline", name: "broken", data: { kind: "Pipeline", name: "broken" } }];
    const answer = await call<{ error: string | null }>("PUT", "/objects", bad);
    assert.ok(answer.error !== null, "settled() names the error");
    const status = await call<StatusView>("GET", "/status");
    assert.equal(status.lastApplyError, answer.error);
    for (const client of clients.filter(isOpen)) assert.equal(await echo(client, "still"), "still");
  });
});
