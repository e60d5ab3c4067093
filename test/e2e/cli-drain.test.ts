// End to end: `wsgate drain SERVER --over 1s` takes one of two backends of a pool out: its live sessions get 1001
// `backend draining` spread over the window, the other backend's sessions stay and echo, new sessions all go to the
// other backend, the status says draining; an unknown server is a 404 and one line from the CLI.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { admin, echoConfig, runCli } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { echo } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

interface OpenSession {
  ws: WebSocket;
  backend: TestBackend;
  closed: Promise<{ code: number; reason: string; at: number }>;
}

describe("wsgate drain", () => {
  let backends: TestBackend[];
  let gateway: GatewayProcess;
  let adminServer: string;
  let port: number;

  before(async () => {
    backends = [await startBackend(), await startBackend()];
    port = await freePort();
    gateway = await GatewayProcess.start(
      echoConfig(
        port,
        backends.map((backend) => backend.port),
      ),
      { admin: true },
    );
    adminServer = `127.0.0.1:${gateway.adminPort}`;
  });

  after(async () => {
    await gateway?.stop();
    for (const backend of backends ?? []) await backend.close();
  });

  /** A session that has echoed once; `backend` is the one whose connection count grew (sessions open one by one). */
  async function openSession(): Promise<OpenSession> {
    const counts = backends.map((backend) => backend.connections.length);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    ws.on("error", () => {});
    const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) =>
      ws.on("close", (code, reason) => resolve({ code, reason: String(reason), at: Date.now() })),
    );
    await withTimeout(new Promise((resolve) => ws.once("open", resolve)), 5000, "the upgrade");
    assert.equal(await echo(ws, "hello"), "hello");
    const backend = backends.find((candidate, index) => candidate.connections.length > (counts[index] ?? 0));
    assert.ok(backend !== undefined, "one backend took the session");
    return { ws, backend, closed };
  }

  it("closes the drained server's sessions with 1001 over the window, keeps the others, sends new ones elsewhere", async () => {
    const sessions: OpenSession[] = [];
    for (let i = 0; i < 12; i++) sessions.push(await openSession());
    const [drained, kept] = backends as [TestBackend, TestBackend];
    const onDrained = sessions.filter((session) => session.backend === drained);
    const onKept = sessions.filter((session) => session.backend === kept);
    assert.equal(onDrained.length, 6, "round robin put 6 sessions on each backend");

    const run = await runCli(["drain", `127.0.0.1:${drained.port}`, "--over", "1s", "--server", adminServer]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      `127.0.0.1:${drained.port} in echo/proxy/pools[0] draining: 6 session(s) closed with 1001 over 1s\n`,
    );

    const closes = await withTimeout(
      Promise.all(onDrained.map((session) => session.closed)),
      3000,
      "the drained sessions' closes",
    );
    for (const close of closes) assert.deepEqual([close.code, close.reason], [1001, "backend draining"]);
    const times = closes.map((close) => close.at).sort((a, b) => a - b);
    const first = times[0] ?? 0;
    const last = times[times.length - 1] ?? 0;
    // Measured from the first close, not from the CLI's start: starting a process on a busy machine takes a while.
    assert.ok(last - first < 1000 + 1000, `closed over the 1 s window (spread ${last - first} ms)`);
    assert.ok(last - first >= 500, `spread over the window, not all at once (${times.map((t) => t - first)})`);

    for (const session of onKept) {
      assert.equal(session.ws.readyState, WebSocket.OPEN);
      assert.equal(await echo(session.ws, "still here"), "still here");
    }
    const fresh: OpenSession[] = [];
    for (let i = 0; i < 4; i++) fresh.push(await openSession());
    assert.deepEqual(
      fresh.map((session) => session.backend.port),
      fresh.map(() => kept.port),
      "new sessions all go to the other backend",
    );

    const status = await admin(gateway.adminPort, "GET", "/apis/v2/status/objects");
    const servers = status.json<{ pools: { servers: { backend: string; state: string; eligible: boolean }[] }[] }>()
      .pools[0]?.servers;
    assert.deepEqual(
      servers?.map((server) => [server.backend, server.state, server.eligible]),
      [
        [`127.0.0.1:${drained.port}`, "draining", false],
        [`127.0.0.1:${kept.port}`, "healthy", true],
      ],
    );

    // Again: harmless, nothing left to close.
    const again = await runCli(["drain", `ws://127.0.0.1:${drained.port}`, "--over", "0", "--server", adminServer]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /draining: 0 session\(s\) closed with 1001 at once/);

    for (const session of [...onKept, ...fresh]) session.ws.close();
  });

  it("answers 404 for an unknown server, and the CLI says so in one line with exit 1", async () => {
    const reply = await admin(gateway.adminPort, "POST", "/apis/v2/servers/drain", {
      body: JSON.stringify({ server: "127.0.0.1:1" }),
      headers: { "Content-Type": "application/json" },
    });
    assert.equal(reply.status, 404, reply.text);
    assert.equal(reply.json()["code"], "WSG_SERVER_NOT_FOUND");

    const run = await runCli(["drain", "127.0.0.1:1", "--server", adminServer]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.equal(run.stderr.split("\n").filter(Boolean).length, 1, run.stderr);
    assert.match(run.stderr, /^wsgate: no upstream server 127\.0\.0\.1:1 /);
  });

  it("refuses a body without a server or with a bad window (400), and one without a JSON or YAML type (415)", async () => {
    const cases: { body: string; headers?: Record<string, string>; status: number }[] = [
      { body: "{}", status: 400 },
      { body: '{"server": 5}', status: 400 },
      { body: "not json", status: 400 },
      { body: `{"server": "127.0.0.1:${backends[1]?.port}", "over": "5 minutes"}`, status: 400 },
      { body: `{"server": "127.0.0.1:${backends[1]?.port}", "over": 5}`, status: 400 },
      { body: `{"server": "127.0.0.1:${backends[1]?.port}", "over": "48h"}`, status: 400 },
      { body: `{"server": "127.0.0.1:${backends[1]?.port}", "pool": 1}`, status: 400 },
      {
        body: `{"server": "127.0.0.1:${backends[1]?.port}"}`,
        headers: { "Content-Type": "text/plain" },
        status: 415,
      },
    ];
    for (const { body, headers, status } of cases) {
      const reply = await admin(gateway.adminPort, "POST", "/apis/v2/servers/drain", {
        body,
        headers: { "Content-Type": "application/json", ...headers },
      });
      assert.equal(reply.status, status, `${body}: ${reply.text}`);
    }
    // None of them drained the other backend.
    const status = await admin(gateway.adminPort, "GET", "/apis/v2/status/objects");
    assert.match(status.text, /"state": "healthy"/);
  });

  it("has --help with examples", async () => {
    const run = await runCli(["drain", "--help"]);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /Usage:\n {2}wsgate drain SERVER/);
    assert.match(run.stdout, /--over DURATION/);
    assert.match(run.stdout, /--pool POOL/);
    assert.match(run.stdout, /Examples:\n {2}wsgate drain /);
  });
});

describe("wsgate drain --workers 2", () => {
  it("every worker drains its copy of the pool; the answer counts the sessions of all of them", async () => {
    const backends = [await startBackend(), await startBackend()];
    const port = await freePort();
    const gateway = await GatewayProcess.start(
      echoConfig(
        port,
        backends.map((backend) => backend.port),
      ),
      {
        admin: true,
        args: ["--workers", "2"],
      },
    );
    const sockets: WebSocket[] = [];
    try {
      const [drained] = backends as [TestBackend, TestBackend];
      const drainedCloses: Promise<number>[] = [];
      for (let i = 0; i < 8; i++) {
        const before = drained.connections.length;
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
        ws.on("error", () => {});
        const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
        await withTimeout(new Promise((resolve) => ws.once("open", resolve)), 5000, "the upgrade");
        assert.equal(await echo(ws, "hello"), "hello");
        sockets.push(ws);
        if (drained.connections.length > before) drainedCloses.push(closed);
      }
      const onDrained = drainedCloses.length;
      assert.ok(onDrained > 0, "some sessions landed on the backend to drain");
      const run = await runCli([
        "drain",
        `127.0.0.1:${drained.port}`,
        "--over",
        "0",
        "--server",
        `127.0.0.1:${gateway.adminPort}`,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`draining: ${onDrained} session\\(s\\) closed with 1001 at once`));
      const codes = await withTimeout(Promise.all(drainedCloses), 3000, "the drained sessions' closes");
      assert.deepEqual(
        codes,
        codes.map(() => 1001),
      );
      const status = await admin(gateway.adminPort, "GET", "/apis/v2/status/objects");
      assert.match(status.text, /"state": "draining"/);
    } finally {
      for (const ws of sockets) ws.terminate();
      await gateway.stop();
      for (const backend of backends) await backend.close();
    }
  });
});
