// End to end: `wsgate sessions close ID [--code] [--reason]` closes one live session through the admin API, with the
// close code and reason the client then gets; `--server` given as HOST:PORT.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { echoConfig, runCli } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

interface OpenSession {
  ws: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
}

describe("wsgate sessions close", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let server: string;
  let port: number;

  before(async () => {
    backend = await startBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(echoConfig(port, backend.port), { admin: true });
    server = `127.0.0.1:${gateway.adminPort}`;
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  /** A session that has echoed once, so that the gateway lists it. */
  async function openSession(): Promise<OpenSession> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    ws.on("error", () => {});
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.on("close", (code, reason) => resolve({ code, reason: String(reason) })),
    );
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once("error", reject);
        ws.on("open", () => ws.send("ping"));
        ws.once("message", () => resolve());
      }),
      5000,
      "an echo",
    );
    return { ws, closed };
  }

  async function onlySessionId(): Promise<string> {
    const list = await runCli(["sessions", "--server", server, "-o", "json"]);
    assert.equal(list.code, 0, list.stderr);
    const sessions = JSON.parse(list.stdout) as { id: string }[];
    assert.equal(sessions.length, 1, list.stdout);
    return sessions[0]?.id ?? "";
  }

  it("closes the session with the given code and reason, and says so", async () => {
    const session = await openSession();
    const id = await onlySessionId();
    const run = await runCli([
      "sessions",
      "close",
      id,
      "--code",
      "4000",
      "--reason",
      "maintenance",
      "--server",
      server,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `session ${id} closed with 4000 maintenance\n`);
    assert.deepEqual(await withTimeout(session.closed, 5000, "the client's close"), {
      code: 4000,
      reason: "maintenance",
    });
  });

  it("without --code the client gets the gateway's 1008", async () => {
    const session = await openSession();
    const id = await onlySessionId();
    const run = await runCli(["sessions", "close", id, "--server", server]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await withTimeout(session.closed, 5000, "the client's close")).code, 1008);
  });

  it("an unknown ID exits 1 with the server's message; a missing ID or a bad code are usage errors", async () => {
    const unknown = await runCli(["sessions", "close", "no-such-session", "--server", server]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^wsgate: .*no-such-session/);
    const missing = await runCli(["sessions", "close", "--server", server]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /needs a session ID/);
    const session = await openSession();
    try {
      const bad = await runCli(["sessions", "close", await onlySessionId(), "--code", "1006", "--server", server]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /1006/);
    } finally {
      session.ws.close();
      await session.closed;
    }
  });
});
