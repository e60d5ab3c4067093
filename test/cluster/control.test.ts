// `wsgate run --workers 2` with its real admin API: every answer is for the whole gateway (sessions, status and
// metrics over both workers), session closes reach the worker that holds the session, object writes reach both.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { SessionView } from "../../src/control/control.js";
import { admin } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { sumOf } from "../helpers/metrics.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { echo, isOpen, openClients, type EchoClient } from "./clients.js";
import { clusterYaml } from "./gateway-yaml.js";

const SESSIONS = 20;

let backend: TestBackend;
let gateway: GatewayProcess;
let port: number;
let clients: EchoClient[] = [];

async function get<T>(path: string): Promise<T> {
  const reply = await admin(gateway.adminPort, "GET", path);
  assert.equal(reply.status, 200, reply.text);
  return reply.json<T>();
}

const sessions = (): Promise<SessionView[]> => get<SessionView[]>("/apis/v2/sessions");

async function metricsText(): Promise<string> {
  const reply = await admin(gateway.adminPort, "GET", "/metrics");
  assert.equal(reply.status, 200, reply.text);
  assert.match(reply.headers.get("content-type") ?? "", /^text\/plain/);
  return reply.text;
}

interface StreamEvent {
  name: string;
  data: unknown;
}

/** Reads the dashboard's server-sent events until `enough` says so (or 10 s pass); `opened` runs once it answers. */
async function dashboardEvents(enough: (events: StreamEvent[]) => boolean, opened: () => void): Promise<StreamEvent[]> {
  const abort = new AbortController();
  const events: StreamEvent[] = [];
  const reading = (async () => {
    const response = await fetch(`http://127.0.0.1:${gateway.adminPort}/apis/v2/dashboard/stream`, {
      signal: abort.signal,
    });
    assert.equal(response.status, 200);
    opened();
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
        events.push({ name, data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null") as unknown });
        if (enough(events)) return events;
      }
    }
    return events;
  })();
  try {
    return await withTimeout(reading, 10_000, "dashboard events");
  } finally {
    abort.abort();
  }
}

/** The objects of clusterYaml by name, as the admin API takes them. */
function objectText(name: string): string {
  const text = clusterYaml(port, backend.url)
    .split("---\n")
    .find((object) => new RegExp(`^name: ${name}$`, "m").test(object));
  assert.ok(text !== undefined, name);
  return text;
}

async function workerPids(): Promise<Map<number, number>> {
  const lines = await gateway.logsMatching((line) => line.msg === "worker started", 2);
  return new Map(lines.map((line) => [Number(line.worker), Number(line.pid)]));
}

/**
 * `count` sessions on `path`, and more until both workers hold some of them (bounded): the workers accept on the
 * shared socket themselves (SCHED_NONE), and the kernel may give a burst of connections all to one of them.
 */
async function openOnBothWorkers(path: string, pipeline: string, count: number): Promise<EchoClient[]> {
  const opened = await openClients(port, count, path);
  for (let round = 0; round < 40; round++) {
    const on = (await sessions()).filter((session) => session.pipeline === pipeline);
    if (new Set(on.map((session) => session.worker)).size === 2) break;
    opened.push(...(await openClients(port, 1, path)));
  }
  return opened;
}

describe("wsgate run --workers 2: the admin API answers for both workers", () => {
  before(async () => {
    backend = await startBackend();
    port = await freePort();
    // The objects as created through the admin API (a state file, as after a restart), so the tests may change them.
    const stateFile = join(mkdtempSync(join(tmpdir(), "wsgate-cluster-state-")), "objects.wsgate-state");
    writeFileSync(stateFile, clusterYaml(port, backend.url));
    gateway = await GatewayProcess.start("kind: Gateway\nname: settings\n", {
      admin: true,
      args: ["--workers", "2", "--drain-timeout", "2s", "--state-file", stateFile],
    });
    clients = await openClients(port, SESSIONS);
    for (const client of clients) assert.equal(await echo(client, "hi"), "hi");
  });

  after(async () => {
    for (const client of clients) client.socket.terminate();
    await gateway?.stop();
    await backend?.close();
  });

  it("GET /apis/v2/sessions: every worker's sessions, ids unique and prefixed with their worker", async () => {
    const listed = await sessions();
    assert.equal(listed.length, SESSIONS);
    assert.equal(new Set(listed.map((session) => session.id)).size, SESSIONS);
    assert.equal(new Set(listed.map((session) => session.worker)).size, 2, "both workers have sessions");
    for (const session of listed) {
      assert.match(session.id, new RegExp(`^${String(session.worker)}-\\d+$`));
      assert.equal(session.server, "cluster-server");
      assert.equal(session.pipeline, "echo");
      assert.equal(session.clientMessages, 1);
      assert.equal(session.backendMessages, 1);
    }
  });

  it("the dashboard stream counts both workers' sessions and charts their messages (read from each worker)", async () => {
    const listed = await sessions();
    const charted = (events: StreamEvent[]): boolean =>
      events.some((event) => event.name === "sample" && (event.data as { messagesIn: number }).messagesIn > 0);
    const events = await dashboardEvents(
      (seen) => charted(seen) && seen.some((event) => event.name === "state"),
      // Messages after the stream's first sample, so that a rate shows them.
      () =>
        void new Promise((resolve) => setTimeout(resolve, 1500)).then(() =>
          Promise.all(clients.map((client) => echo(client, "again"))).catch(() => undefined),
        ),
    );
    const state = events.findLast((event) => event.name === "state")?.data as {
      sessionCount: number;
      counts: { servers: Record<string, number>; backends: Record<string, number> };
      sessions: SessionView[];
    };
    assert.equal(state.sessionCount, listed.length);
    assert.deepEqual(state.counts.servers, { "cluster-server": listed.length });
    assert.equal(
      Object.values(state.counts.backends).reduce((sum, n) => sum + n, 0),
      listed.length,
    );
    assert.deepEqual(
      new Set(state.sessions.map((session) => session.id)),
      new Set(listed.map((session) => session.id)),
    );
    assert.equal(new Set(state.sessions.map((session) => session.worker)).size, 2, "rows from both workers");
  });

  it("DELETE /apis/v2/sessions/{id}?code=: the worker holding it closes it with the code; an unknown id is 404", async () => {
    const [first] = await sessions();
    assert.ok(first !== undefined);
    const before = clients.filter(isOpen);
    const reply = await admin(gateway.adminPort, "DELETE", `/apis/v2/sessions/${first.id}?code=4000`);
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(reply.json(), { id: first.id, closed: true, code: 4000, reason: "closed by operator" });
    const closed = await withTimeout(
      Promise.race(before.map((client) => client.closed)),
      3000,
      "the closed session's client to see the close",
    );
    assert.equal(closed.code, 4000);
    assert.equal((await admin(gateway.adminPort, "DELETE", "/apis/v2/sessions/99-1?code=4000")).status, 404);
    assert.equal((await sessions()).length, SESSIONS - 1);
  });

  it("GET /apis/v2/status/objects: sessions and each pool's connections counted over both workers", async () => {
    const status = await get<{
      sessionCount: number;
      sessions: SessionView[];
      listeners: unknown[];
      pools: Array<{ pool: string; servers: Array<{ activeConnections: number }> }>;
      lastApplyError?: string;
    }>("/apis/v2/status/objects");
    const open = clients.filter(isOpen).length;
    assert.equal(status.sessionCount, open);
    assert.equal(status.sessions.length, open);
    assert.deepEqual(status.listeners, [
      { server: "cluster-server", address: "127.0.0.1", port, endpoint: `127.0.0.1:${port}` },
    ]);
    const echoPool = status.pools.find((pool) => pool.pool.startsWith("echo/"));
    assert.ok(echoPool !== undefined, "the echo pipeline's pool is listed");
    assert.equal(status.pools.filter((pool) => pool.pool === echoPool.pool).length, 1, "listed once");
    assert.equal(echoPool.servers.length, 1);
    assert.equal(echoPool.servers[0]?.activeConnections, open);
    assert.equal(status.lastApplyError, undefined);
  });

  it("GET /metrics: one exposition for the whole gateway; sessions summed, messages counted exactly", async () => {
    const before = await metricsText();
    const types = before.split("\n").filter((line) => line.startsWith("# TYPE wsgate_process_resident_memory_bytes"));
    assert.equal(types.length, 1, "every metric once");
    assert.ok(sumOf(before, "wsgate_process_resident_memory_bytes") > 0);
    const open = clients.filter(isOpen);
    assert.equal(sumOf(before, "wsgate_websocket_sessions_active", { server: "cluster-server" }), open.length);
    const toBackend = { server: "cluster-server", direction: "client_to_backend" };
    const toClient = { server: "cluster-server", direction: "backend_to_client" };
    const N = 3;
    for (const client of open) {
      for (let i = 0; i < N; i++) assert.equal(await echo(client, `m${i}`), `m${i}`);
    }
    const after = await metricsText();
    for (const direction of [toBackend, toClient]) {
      assert.equal(
        sumOf(after, "wsgate_websocket_messages_total", direction) -
          sumOf(before, "wsgate_websocket_messages_total", direction),
        N * open.length,
        `${direction.direction}: exactly ${N} more per session over both workers`,
      );
    }
    // One more session counts 1 more whichever worker takes it, and 0 again once it closed.
    const active = (text: string): number =>
      sumOf(text, "wsgate_websocket_sessions_active", { server: "cluster-server" });
    const [extra] = await openClients(port, 1);
    assert.ok(extra !== undefined);
    assert.equal(active(await metricsText()), open.length + 1);
    extra.socket.close(1000);
    await withTimeout(extra.closed, 3000, "the extra session to close");
    const deadline = Date.now() + 3000;
    while (active(await metricsText()) !== open.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(active(await metricsText()), open.length);
  });

  it("a worker that does not answer is left out after the request timeout; the admin call does not hang", async () => {
    const pids = await workerPids();
    const all = await sessions();
    const [stoppedWorker, stoppedPid] = [...pids.entries()][0] ?? [];
    assert.ok(stoppedWorker !== undefined && stoppedPid !== undefined);
    process.kill(stoppedPid, "SIGSTOP");
    try {
      const startedAt = Date.now();
      const answered = await withTimeout(sessions(), 5000, "the sessions answer");
      assert.ok(Date.now() - startedAt < 4000);
      assert.deepEqual(
        answered.map((session) => session.id).sort(),
        all
          .filter((session) => session.worker !== stoppedWorker)
          .map((session) => session.id)
          .sort(),
      );
    } finally {
      process.kill(stoppedPid, "SIGCONT");
    }
  });

  it("a route deleted by PUT drains on every worker with 1001; the other route's sessions keep echoing", async () => {
    const others = await openOnBothWorkers("/other", "other", 6);
    clients.push(...others);
    const onOther = (await sessions()).filter((session) => session.pipeline === "other");
    assert.equal(new Set(onOther.map((session) => session.worker)).size, 2, "both workers serve /other");
    const server = objectText("cluster-server").replace(/\n {6}- pathPrefix: \/other\n {8}backend: other/, "");
    const put = await admin(gateway.adminPort, "PUT", "/apis/v2/objects/cluster-server", { body: server });
    assert.equal(put.status, 200, put.text);
    const closes = await withTimeout(
      Promise.all(others.map((client) => client.closed)),
      5000,
      "the deleted route's sessions to close",
    );
    assert.deepEqual(
      closes.map((close) => [close.code, close.reason]),
      others.map(() => [1001, "route removed"]),
    );
    const deleted = await admin(gateway.adminPort, "DELETE", "/apis/v2/objects/other");
    assert.equal(deleted.status, 200, deleted.text);
    for (const client of clients.filter(isOpen)) assert.equal(await echo(client, "kept"), "kept");
  });

  it("objects written by POST and PUT reach every worker: a new route on both, old sessions keep echoing", async () => {
    const created = await admin(gateway.adminPort, "POST", "/apis/v2/objects", { body: objectText("other") });
    assert.equal(created.status, 201, created.text);
    const server = objectText("cluster-server").replace("pathPrefix: /other", "pathPrefix: /renamed");
    const put = await admin(gateway.adminPort, "PUT", "/apis/v2/objects/cluster-server", { body: server });
    assert.equal(put.status, 200, put.text);
    const renamed = await openOnBothWorkers("/renamed", "other", 6);
    clients.push(...renamed);
    for (const client of renamed) assert.equal(await echo(client, "renamed"), "renamed");
    const onRenamed = (await sessions()).filter((session) => session.pipeline === "other");
    assert.equal(new Set(onRenamed.map((session) => session.worker)).size, 2, "both workers took the change");
    for (const client of clients.filter(isOpen)) assert.equal(await echo(client, "still"), "still");
  });

  it("a change the workers cannot apply answers 500, is undone and shows in status; the workers keep serving", async () => {
    const taken = await startBackend();
    try {
      const body = objectText("cluster-server").replace(`port: ${port}`, `port: ${taken.port}`);
      const reply = await admin(gateway.adminPort, "PUT", "/apis/v2/objects/cluster-server", { body });
      assert.equal(reply.status, 500, reply.text);
      assert.equal(reply.json()["code"], "WSG_APPLY_FAILED");
      assert.match(String(reply.json()["error"]), /EADDRINUSE.*\(the change was undone\)/);
      const stored = await get<{ port: number }>("/apis/v2/objects/cluster-server");
      assert.equal(stored.port, port, "the store holds the running server again");
      const status = await get<{ lastApplyError?: string }>("/apis/v2/status/objects");
      assert.match(status.lastApplyError ?? "", /EADDRINUSE/, "the status tells the last failure");
      for (const client of clients.filter(isOpen)) assert.equal(await echo(client, "still"), "still");
      const fresh = await openClients(port, 2);
      clients.push(...fresh);
      for (const client of fresh) assert.equal(await echo(client, "fresh"), "fresh");
    } finally {
      await taken.close();
    }
  });
});
