import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import { connect, type AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { WebSocket, WebSocketServer } from "ws";
import { parseOptions } from "../../bench/options.js";
import { terminatesTls } from "../../bench/targets.js";
import { TestPki, type CertFiles } from "../helpers/certs.js";
import { freePort, waitUntil, withTimeout } from "../helpers/net.js";

/** Whether something accepts on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Waits (5 s at most) until the floor listens. */
async function listening(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await accepts(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on ${port} after 5 s`);
}

const FLOOR = fileURLToPath(new URL("../../bench/targets/node-floor.js", import.meta.url));

describe("bench: Node's floor targets", () => {
  it("node-sockets terminates TLS for the wss:// scenarios, node-handles does not", () => {
    assert.equal(terminatesTls("node-sockets"), true);
    assert.equal(terminatesTls("node-handles"), false);
  });

  it("run only when --targets names them", () => {
    assert.ok(!parseOptions([]).targets.some((name) => name.startsWith("node-")));
    assert.deepEqual(parseOptions(["--targets", "nginx,node-handles,node-sockets"]).targets, [
      "direct",
      "nginx",
      "node-sockets",
      "node-handles",
    ]);
  });

  let backend: WebSocketServer;
  const closeCodes: number[] = [];
  before(async () => {
    backend = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await once(backend, "listening");
    backend.on("connection", (socket) => {
      socket.on("message", (data, binary) => socket.send(data, { binary }));
      socket.on("close", (code) => closeCodes.push(code));
    });
  });
  after(() => backend.close());

  let pki: TestPki;
  let cert: CertFiles;
  before(async () => {
    pki = await TestPki.create();
    cert = await pki.issue({ cn: "localhost", ips: ["127.0.0.1"] });
  });
  after(() => rm(pki.dir, { recursive: true, force: true }));

  const cases = [
    { mode: "sockets", scheme: "ws" },
    { mode: "handles", scheme: "ws" },
    { mode: "sockets", scheme: "wss" },
  ] as const;
  for (const { mode, scheme } of cases) {
    it(`${mode}, ${scheme}://: a WebSocket through it echoes every message, its close code reaches the backend`, async () => {
      const port = await freePort();
      const backendPort = (backend.address() as AddressInfo).port;
      const files = scheme === "wss" ? [cert.certFile, cert.keyFile] : [];
      const floor: ChildProcess = spawn(process.execPath, [FLOOR, mode, String(port), String(backendPort), ...files], {
        stdio: ["ignore", "ignore", "inherit"],
      });
      try {
        await listening(port);
        const before = closeCodes.length;
        for (let round = 0; round < 3; round++) {
          const client = new WebSocket(`${scheme}://127.0.0.1:${port}/ws`, { ca: pki.ca.cert });
          await withTimeout(once(client, "open"), 3000, "open");
          const echoed: string[] = [];
          client.on("message", (data) => echoed.push(String(data)));
          const sent = Array.from({ length: 20 }, (_, i) => `${round}:${i}:${"x".repeat(i * 500)}`);
          for (const text of sent) client.send(text);
          await waitUntil(() => (echoed.length === sent.length ? true : undefined), 3000, "every echo");
          assert.deepEqual(echoed, sent);
          client.close(4001, "done");
          const [code] = (await withTimeout(once(client, "close"), 3000, "close")) as [number];
          assert.equal(code, 4001);
        }
        await waitUntil(() => (closeCodes.length === before + 3 ? true : undefined), 3000, "the backend's closes");
        assert.deepEqual(closeCodes.slice(before), [4001, 4001, 4001]);
      } finally {
        floor.kill("SIGKILL");
      }
    });
  }
});
