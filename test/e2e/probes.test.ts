// End to end: /healthz and /readyz for Kubernetes probes and load balancers: no token, still the listener's Host and
// Origin rules; readyz waits for the listeners, the pools' first health round and the config, and says why not.
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { admin, echoConfig } from "../helpers/admin.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

const TOKEN = "probe-token-for-tests-0123456789";

/** A backend that accepts connections and never answers: a health check on it lasts its whole timeout. */
async function silentBackend(): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

function checkedConfig(port: number, backendPort: number, timeout: string): string {
  return `${echoConfig(port, backendPort)}        healthCheck:
          interval: 60s
          timeout: ${timeout}
          http:
            uri: /health
`;
}

/** A GET with the given Host and Origin (fetch would not send them as given). */
function probe(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve, reject) => {
      const request = http.get({ host: "127.0.0.1", port, path, headers }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on("error", reject);
    }),
    5000,
    `GET ${path}`,
  );
}

async function until(test: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await test()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("admin probes with a token configured", () => {
  let gateway: GatewayProcess;
  let backend: { port: number; close(): void };

  before(async () => {
    backend = await silentBackend();
    gateway = await GatewayProcess.start(checkedConfig(await freePort(), backend.port, "1500ms"), {
      admin: true,
      env: { ...process.env, WSGATE_ADMIN_TOKEN: TOKEN },
    });
  });

  after(async () => {
    await gateway?.stop();
    backend?.close();
  });

  it("/readyz is 503 before the pool's first health round ends, then 200, without a token", async () => {
    const early = await admin(gateway.adminPort, "GET", "/readyz");
    assert.equal(early.status, 503, early.text);
    assert.deepEqual(early.json(), { status: "not ready", reasons: ["1 pools before their first health check round"] });
    assert.doesNotMatch(early.text, /127\.0\.0\.1|echo|proxy/);
    await until(async () => (await admin(gateway.adminPort, "GET", "/readyz")).status === 200, 5000, "readyz 200");
    assert.deepEqual((await admin(gateway.adminPort, "GET", "/readyz")).json(), { status: "ready" });
  });

  it("/healthz is 200 without a token; other paths still need it", async () => {
    const live = await admin(gateway.adminPort, "GET", "/healthz");
    assert.equal(live.status, 200);
    assert.deepEqual(live.json(), { status: "ok" });
    for (const path of ["/metrics", "/apis/v2/objects", "/healthz/", "//readyz", "/readyz/../metrics", "/HEALTHZ"]) {
      const reply = await admin(gateway.adminPort, "GET", path);
      assert.ok(reply.status === 401 || reply.status === 404, `${path}: ${reply.status}`);
      assert.notEqual(reply.status, 200, path);
    }
  });

  it("probes keep the Host and Origin checks, and take no other method", async () => {
    const port = gateway.adminPort;
    for (const path of ["/healthz", "/readyz"]) {
      assert.equal(await probe(port, path, { Host: "attacker.example" }), 421, `${path} foreign Host`);
      assert.equal(await probe(port, path, { Host: `attacker.example:${port}` }), 421, `${path} foreign Host:port`);
      const origin = { Host: `127.0.0.1:${port}`, Origin: "http://attacker.example" };
      assert.equal(await probe(port, path, origin), 403, `${path} foreign Origin`);
      assert.equal(await probe(port, path, { Host: `localhost:${port}` }), 200, `${path} Host localhost`);
      const post = await admin(port, "POST", path, { body: "{}" });
      assert.ok(post.status === 401 || post.status === 405, `${path} POST: ${post.status}`);
    }
  });
});

describe("admin probes with --workers 2", () => {
  it("the primary answers /readyz 200 once its workers listen, and /metrics has one build", async () => {
    const gateway = await GatewayProcess.start(echoConfig(await freePort(), 1), {
      admin: true,
      args: ["--workers", "2"],
    });
    try {
      const reply = await withTimeout(admin(gateway.adminPort, "GET", "/readyz"), 5000, "readyz");
      assert.equal(reply.status, 200, reply.text);
      assert.equal((await admin(gateway.adminPort, "GET", "/healthz")).status, 200);
      // The build is the same in every worker: 1, not the number of workers; reloads are the primary's count.
      const scrape = (await admin(gateway.adminPort, "GET", "/metrics")).text;
      assert.match(scrape, /^wsgate_build_info\{version="[^"]+",node="[^"]+"\} 1$/m);
      assert.match(scrape, /^wsgate_config_reloads_total\{result="rejected"\} 0$/m);
    } finally {
      await gateway.stop();
    }
  });
});
