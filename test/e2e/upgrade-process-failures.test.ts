// End to end, through the real CLI: `wsgate upgrade` to a new process that cannot take over (its config does not
// load, it crashes on start, it cannot listen) leaves the old one serving everything (its sessions, its listeners: a
// TCP connect loop sees nothing refused), the answer and the log say why, and the next upgrade works. (A gateway that
// cannot be upgraded in place, --store, is in upgrade-workers.test.ts.)
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";
import { admin, echoConfig, runCli } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { closeWs, echo } from "../helpers/certs.js";
import { alive, exitOf as gone } from "../helpers/copied-build.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { TcpConnectLoop, openSession as openSessionTo, statusPid as statusPidOf } from "./upgrade-fixture.js";

/**
 * Loaded with `--require` by every process of the test. A new one throws on start while the `crash` file exists; while
 * `die-on-session` exists, it kills itself when the first session handed over reaches it.
 */
const CRASH_HOOK = `
const { existsSync } = require("node:fs");
const { join } = require("node:path");
if (process.env.WSGATE_UPGRADE_FROM !== undefined && existsSync(join(__dirname, "crash"))) {
  throw new Error("simulated crash of a new build");
}
if (process.env.WSGATE_UPGRADE_FROM !== undefined && existsSync(join(__dirname, "die-on-session"))) {
  process.on("message", (message) => {
    if (message !== null && typeof message === "object" && "wsgateHandover" in message) process.kill(process.pid, "SIGKILL");
  });
}
`;

/** Whether this build moves sessions (handover-core's side is in): without it every session stays in the old one. */
const MOVES_SESSIONS = existsSync(fileURLToPath(new URL("../../src/proxy/handover-send.js", import.meta.url)));

describe("wsgate upgrade: a new process that fails", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let adminPort: number;
  let dir: string;
  /** The process serving now. */
  let current: number;
  const config = (): string => echoConfig(port, backend.port);

  const statusPid = (): Promise<number> => statusPidOf(adminPort);
  const openSession = (): Promise<WebSocket> => openSessionTo(`ws://127.0.0.1:${port}/ws`);

  /** The old process's one log line for an upgrade from `pid`. */
  function upgradeLine(event: string, pid: number): Promise<LogLine> {
    return gateway.nextLog((line) => line["event"] === event && line["pid"] === pid, 15_000);
  }

  before(async () => {
    backend = await startBackend();
    port = await freePort();
    adminPort = await freePort();
    dir = mkdtempSync(join(tmpdir(), "wsgate-upgrade-"));
    writeFileSync(join(dir, "hook.cjs"), CRASH_HOOK);
    gateway = await GatewayProcess.start(config(), {
      admin: true,
      args: ["--admin-address", `127.0.0.1:${adminPort}`, "--upgrade-drain-timeout", "3s", "--log-format", "json"],
      nodeArgs: ["--require", join(dir, "hook.cjs")],
    });
    current = gateway.child.pid ?? 0;
  });

  after(async () => {
    if (current !== 0 && current !== gateway?.child.pid && alive(current)) {
      process.kill(current, "SIGTERM");
      await gone(current, 15_000).catch(() => process.kill(current, "SIGKILL"));
    }
    await gateway?.stop();
    await backend?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("keeps serving everything when the new process's config does not load, and says why", async () => {
    const ws = await openSession();
    gateway.rewriteConfig("kind: HTTPServer\nname: edge\nport: not-a-port\n");
    try {
      const run = await runCli(["upgrade", "--server", `127.0.0.1:${adminPort}`], { ms: 60_000 });
      assert.equal(run.code, 1, run.stdout);
      assert.match(
        run.stderr,
        /upgrade failed, this process keeps serving: the new process \(PID \d+\) could not start/,
      );
      assert.ok(run.stderr.includes(gateway.configFile), run.stderr);
      assert.match(run.stderr, /port/);
      const failed = await upgradeLine("upgrade_failed", current);
      assert.match(String(failed["reason"]), /could not start/);
    } finally {
      gateway.rewriteConfig(config());
    }
    assert.equal(await statusPid(), current);
    assert.equal(await echo(ws, "kept"), "kept");
    const fresh = await openSession();
    assert.equal(await echo(fresh, "new"), "new");
    await closeWs(fresh);
    await closeWs(ws);
  });

  it("keeps serving everything when the new process crashes on start, or cannot listen, and says why", async () => {
    const ws = await openSession();
    const tcp = new TcpConnectLoop(port);
    writeFileSync(join(dir, "crash"), "");
    try {
      const run = await runCli(["upgrade", "--server", `127.0.0.1:${adminPort}`], { ms: 60_000 });
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stderr, /the new process \(PID \d+\) exited with code 1 before it would load the config/);
    } finally {
      rmSync(join(dir, "crash"));
    }
    // A second server on a port some other socket holds: the new process cannot listen.
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const blocked = (blocker.address() as net.AddressInfo).port;
    const second = echoConfig(blocked, backend.port).split("---")[0]?.replace("name: edge", "name: second") ?? "";
    gateway.rewriteConfig(`${config()}---\n${second}`);
    try {
      const run = await runCli(["upgrade", "--server", `127.0.0.1:${adminPort}`], { ms: 60_000 });
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stderr, new RegExp(`could not start: .*${blocked}`));
    } finally {
      gateway.rewriteConfig(config());
      blocker.close();
    }
    await tcp.stop();
    assert.deepEqual(tcp.failures, [], `TCP connects refused or reset over ${tcp.connected}`);
    assert.equal(await statusPid(), current);
    assert.equal(await echo(ws, "kept"), "kept");
    await closeWs(ws);
    // And the next upgrade works.
    const run = await runCli(["upgrade", "--server", `127.0.0.1:${adminPort}`, "-o", "json"], { ms: 60_000 });
    assert.equal(run.code, 0, run.stderr);
    const answer = JSON.parse(run.stdout) as { oldPid: number; newPid: number };
    assert.equal(answer.oldPid, current);
    await gone(current, 15_000);
    current = answer.newPid;
    assert.equal(await statusPid(), current);
  });
});

describe("wsgate upgrade: a new process that dies during the hand-over of the sessions", () => {
  it(
    "takes accepting back, keeps every session not acknowledged, and says why",
    { skip: MOVES_SESSIONS ? false : "this build does not move sessions" },
    async () => {
      const backend = await startBackend();
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), "wsgate-upgrade-"));
      writeFileSync(join(dir, "hook.cjs"), CRASH_HOOK);
      const gateway = await GatewayProcess.start(echoConfig(port, backend.port), {
        admin: true,
        args: ["--upgrade-drain-timeout", "3s", "--log-format", "json"],
        nodeArgs: ["--require", join(dir, "hook.cjs")],
      });
      const sessions: WebSocket[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
          ws.on("error", () => {});
          await withTimeout(new Promise((resolve) => ws.once("open", resolve)), 5000, "a session to open");
          sessions.push(ws);
        }
        writeFileSync(join(dir, "die-on-session"), "");
        const run = await runCli(["upgrade", "--server", `127.0.0.1:${gateway.adminPort}`], { ms: 60_000 });
        assert.equal(run.code, 1, run.stdout);
        assert.match(
          run.stderr,
          /upgrade failed, this process keeps serving: the new process \(PID \d+\) exited on SIGKILL during the hand-over of the sessions: 3 go on here/,
        );
        await gateway.nextLog((line) => line["event"] === "upgrade_failed", 5000);
        // Every session is still served by the old process, which accepts again.
        for (const [index, ws] of sessions.entries()) assert.equal(await echo(ws, `after ${index}`), `after ${index}`);
        const status = await admin(gateway.adminPort, "GET", "/apis/v2/status/objects");
        assert.equal(status.json<{ pid: number; sessionCount: number }>().pid, gateway.child.pid);
        assert.equal(status.json<{ pid: number; sessionCount: number }>().sessionCount, 3);
        const fresh = await waitUntilOpen(`ws://127.0.0.1:${port}/ws`);
        assert.equal(await echo(fresh, "new"), "new");
        await closeWs(fresh);
      } finally {
        for (const ws of sessions) ws.terminate();
        await gateway.stop();
        await backend.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

/** A session to `url`, tried again while the listener comes back. */
async function waitUntilOpen(url: string): Promise<WebSocket> {
  for (let attempt = 0; ; attempt++) {
    const ws = new WebSocket(url);
    const opened = await withTimeout(
      new Promise<boolean>((resolve) => {
        ws.once("open", () => resolve(true));
        ws.once("error", () => resolve(false));
      }),
      5000,
      "a session to open",
    );
    if (opened) return ws;
    if (attempt >= 50) throw new Error(`no session on ${url} after ${attempt} attempts`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
