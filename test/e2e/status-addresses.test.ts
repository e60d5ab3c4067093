// End to end: status views write addresses as users write them: a dual-stack listener is `*:PORT` (was `:::PORT`),
// and a session's client is `127.0.0.1:PORT` (was `::ffff:127.0.0.1:PORT`), in the admin API and in `wsgate get`.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { admin, echoConfig, runCli } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

/** One server on every address (no `address`: Node binds `::`, dual stack). */
function dualStackConfig(port: number, backendPort: number): string {
  return echoConfig(port, backendPort).replace("address: 127.0.0.1\n", "");
}

describe("status addresses on a dual-stack listener", () => {
  let gateway: GatewayProcess;
  let backend: TestBackend;
  let port: number;

  before(async () => {
    backend = await startBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(dualStackConfig(port, backend.port), { admin: true });
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  it("shows the listener as *:PORT and the IPv4 client without ::ffff:", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await withTimeout(new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject)), 5000, "open");
    try {
      const status = (await admin(gateway.adminPort, "GET", "/apis/v2/status/objects")).json<{
        listeners: { address: string; port: number; endpoint: string }[];
        sessions: { client: string; clientIp: string }[];
      }>();
      assert.deepEqual(status.listeners, [{ server: "edge", address: "::", port, endpoint: `*:${port}` }]);
      const [session] = status.sessions;
      assert.match(session?.client ?? "", /^127\.0\.0\.1:\d+$/);
      assert.equal(session?.clientIp, "127.0.0.1");
      const get = await runCli(["get", "--server", `http://127.0.0.1:${gateway.adminPort}`]);
      assert.equal(get.code, 0, get.stderr);
      assert.match(get.stdout, new RegExp(`listening \\*:${port}\\b`));
      assert.doesNotMatch(get.stdout + JSON.stringify(status), /::ffff:|:::/);
    } finally {
      ws.terminate();
    }
  });
});
