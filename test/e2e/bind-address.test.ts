// `wsgate run --bind-address ADDR`: every HTTPServer listens on ADDR, whatever its `address` says, so that several
// gateways can share a host (127.0.0.2, 127.0.0.3...) with the same config files.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

function echoVia(url: string, text: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once("open", () => ws.send(text));
      ws.once("message", (data) => {
        ws.close();
        resolve(String(data));
      });
      ws.once("error", reject);
    }),
    3000,
    `an echo via ${url}`,
  );
}

describe("wsgate run --bind-address", () => {
  let backend: TestBackend;
  let port: number;
  const gateways: GatewayProcess[] = [];

  before(async () => {
    backend = await startBackend();
    port = await freePort();
    const yaml = `
kind: HTTPServer
name: shared
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /
        backend: echo
---
kind: Pipeline
name: echo
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}
`;
    for (const address of ["127.0.0.2", "127.0.0.3"]) {
      gateways.push(await GatewayProcess.start(yaml, { args: ["--bind-address", address] }));
    }
  });

  after(async () => {
    await Promise.all(gateways.map((gateway) => gateway.stop()));
    await backend?.close();
  });

  it("listens on the given address instead of the config's, so members share a host and a port", async () => {
    const [second, third] = gateways;
    assert.equal((await second?.nextLog((line) => line.msg === "listening"))?.address, "127.0.0.2");
    assert.equal((await third?.nextLog((line) => line.msg === "listening"))?.address, "127.0.0.3");
    assert.equal(await echoVia(`ws://127.0.0.2:${port}/`, "two"), "two");
    assert.equal(await echoVia(`ws://127.0.0.3:${port}/`, "three"), "three");
    await assert.rejects(echoVia(`ws://127.0.0.1:${port}/`, "one"), "the config's own address is not used");
  });
});
