// End to end with the real CLI on a gateway whose admin API needs a token (`wsgate run --admin-token`): every CLI verb
// is refused without the token (a clear message, exit 1) and works with `--token` or WSGATE_ADMIN_TOKEN; GET /metrics
// is refused too, and with the token its values move as traffic flows.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { admin, echoConfig, runCli, type CliRun } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { sumOf } from "../helpers/metrics.js";
import { freePort, withTimeout } from "../helpers/net.js";

const TOKEN = "operate-token-for-tests-0123456789";

describe("a token-protected admin API, with the real CLI", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let server: string;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "wsgate-operate-"));
    backend = await startBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(echoConfig(port, backend.port), {
      admin: true,
      args: ["--admin-token", TOKEN],
    });
    server = `http://127.0.0.1:${gateway.adminPort}`;
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  /** Runs a verb without a token, with a wrong one, with --token and with WSGATE_ADMIN_TOKEN. */
  async function fourWays(args: string[]): Promise<{ none: CliRun; wrong: CliRun; flag: CliRun; env: CliRun }> {
    const base = [...args, "--server", server];
    const [none, wrong, flag, env] = await Promise.all([
      runCli(base),
      runCli([...base, "--token", "wrong-token-wrong-token-wrong"]),
      runCli([...base, "--token", TOKEN]),
      runCli(base, { env: { ...process.env, WSGATE_ADMIN_TOKEN: TOKEN } }),
    ]);
    return { none: none as CliRun, wrong: wrong as CliRun, flag: flag as CliRun, env: env as CliRun };
  }

  function denied(runs: { none: CliRun; wrong: CliRun }, verb: string): void {
    assert.equal(runs.none.code, 1, `${verb} without a token: ${runs.none.stderr}`);
    assert.match(runs.none.stderr, /^wsgate: unauthorized: .*\(pass --token or set WSGATE_ADMIN_TOKEN\)\n$/);
    assert.equal(runs.wrong.code, 1, `${verb} with a wrong token: ${runs.wrong.stderr}`);
    assert.match(runs.wrong.stderr, /unauthorized: .*\(check --token \/ WSGATE_ADMIN_TOKEN\)/);
    assert.equal(runs.none.stdout, "");
  }

  it("get, describe and sessions: refused without the token, answered with --token or WSGATE_ADMIN_TOKEN", async () => {
    for (const args of [["get"], ["get", "echo"], ["describe", "edge"], ["sessions"]]) {
      const runs = await fourWays(args);
      denied(runs, args.join(" "));
      for (const allowed of [runs.flag, runs.env])
        assert.equal(allowed.code, 0, `${args.join(" ")}: ${allowed.stderr}`);
      assert.equal(runs.flag.stdout, runs.env.stdout);
    }
  });

  it("apply -f and delete: refused without the token and nothing changes; done with the token", async () => {
    const [, pipeline] = echoConfig(port, backend.port).split("---\n");
    const file = join(dir, "extra.yaml");
    writeFileSync(file, (pipeline ?? "").replace("name: echo", "name: extra"));
    const apply = await Promise.all([
      runCli(["apply", "-f", file, "--server", server]),
      runCli(["apply", "-f", file, "--server", server, "--token", "wrong-token-wrong-token-wrong"]),
    ]);
    denied({ none: apply[0] as CliRun, wrong: apply[1] as CliRun }, "apply");
    assert.equal((await admin(gateway.adminPort, "GET", "/apis/v2/objects/extra", { token: TOKEN })).status, 404);
    const created = await runCli(["apply", "-f", file, "--server", server, "--token", TOKEN]);
    assert.equal(created.code, 0, created.stderr);
    const updated = await runCli(["apply", "-f", file, "--server", server], {
      env: { ...process.env, WSGATE_ADMIN_TOKEN: TOKEN },
    });
    assert.equal(updated.code, 0, updated.stderr);

    const remove = await Promise.all([
      runCli(["delete", "extra", "--server", server]),
      runCli(["delete", "extra", "--server", server, "--token", "wrong-token-wrong-token-wrong"]),
    ]);
    denied({ none: remove[0] as CliRun, wrong: remove[1] as CliRun }, "delete");
    assert.equal((await admin(gateway.adminPort, "GET", "/apis/v2/objects/extra", { token: TOKEN })).status, 200);
    const deleted = await runCli(["delete", "extra", "--server", server], {
      env: { ...process.env, WSGATE_ADMIN_TOKEN: TOKEN },
    });
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal((await admin(gateway.adminPort, "GET", "/apis/v2/objects/extra", { token: TOKEN })).status, 404);
  });

  it("GET /metrics: 401 without the token; with it, a session is gauge 1 then 0 and messages are counted exactly", async () => {
    assert.equal((await admin(gateway.adminPort, "GET", "/metrics")).status, 401);
    const scrape = async (): Promise<string> => {
      const reply = await admin(gateway.adminPort, "GET", "/metrics", { token: TOKEN });
      assert.equal(reply.status, 200, reply.text);
      return reply.text;
    };
    const labels = { server: "edge" };
    const toBackend = { ...labels, direction: "client_to_backend" };
    const toClient = { ...labels, direction: "backend_to_client" };
    const before = await scrape();
    assert.equal(sumOf(before, "wsgate_websocket_sessions_active", labels), 0);

    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await withTimeout(
      new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject)),
      3000,
      "the session to open",
    );
    assert.equal(sumOf(await scrape(), "wsgate_websocket_sessions_active", labels), 1);

    const N = 17;
    let echoed = 0;
    const allEchoed = new Promise<void>((resolve) =>
      ws.on("message", () => {
        if (++echoed === N) resolve();
      }),
    );
    for (let i = 0; i < N; i++) ws.send(`message ${i}`);
    await withTimeout(allEchoed, 5000, "the echoes");
    const during = await scrape();
    for (const direction of [toBackend, toClient]) {
      assert.equal(
        sumOf(during, "wsgate_websocket_messages_total", direction) -
          sumOf(before, "wsgate_websocket_messages_total", direction),
        N,
        direction.direction,
      );
    }

    const closed = new Promise((resolve) => ws.once("close", resolve));
    ws.close(1000);
    await withTimeout(closed, 3000, "the session to close");
    // The gateway may see the close a moment after the client does.
    const deadline = Date.now() + 3000;
    let after = await scrape();
    while (sumOf(after, "wsgate_websocket_sessions_active", labels) !== 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = await scrape();
    }
    assert.equal(sumOf(after, "wsgate_websocket_sessions_active", labels), 0);
    for (const direction of [toBackend, toClient]) {
      assert.equal(
        sumOf(after, "wsgate_websocket_messages_total", direction) -
          sumOf(before, "wsgate_websocket_messages_total", direction),
        N,
        `an ended session's messages stay counted (${direction.direction})`,
      );
    }
  });
});
