// End to end (wsgate run): passive health. A backend whose connections fail is ejected for a back-off that doubles
// while its trial connections keep failing, and is not tried while ejected.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startCheckBackend, landing, type CheckBackend } from "../helpers/check-backends.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort } from "../helpers/net.js";

let gateway: GatewayProcess;
let port: number;
let deadPort: number;
let live: CheckBackend;

function ejected(line: LogLine): boolean {
  return line.event === "backend_health" && line.health === "ejected" && line.backend === `127.0.0.1:${deadPort}`;
}

function connectFailed(line: LogLine): boolean {
  return line.msg === "backend connect failed" && line.backend === `127.0.0.1:${deadPort}`;
}

before(async () => {
  live = await startCheckBackend("live");
  deadPort = await freePort();
  port = await freePort();
  gateway = await GatewayProcess.start(`
kind: HTTPServer
name: passive-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /
        backend: passive
---
kind: Pipeline
name: passive
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${deadPort}
          - url: ${live.url}
        loadBalance:
          policy: roundRobin
        passiveHealth:
          baseEjectionTime: 1s
          maxEjectionTime: 10s
`);
});

after(async () => {
  await gateway?.stop();
  await live?.stop();
});

describe("passive health (wsgate run)", () => {
  it("ejects a refusing backend after its first failure and does not try it again until the back-off is over", async () => {
    const url = `ws://127.0.0.1:${port}/app`;
    for (let i = 0; i < 2; i++) assert.equal((await landing(url)).backend, "live");
    const first = await gateway.nextLog(ejected);
    assert.equal(first.reason, "connection refused");
    assert.equal(first.pool, "passive/proxy/pools[0]");
    assert.equal(first.ejectionMs, 1000);
    const ejectedAt = Date.parse(String(first.time));
    for (let i = 0; i < 6; i++) assert.equal((await landing(url)).backend, "live");
    // The attempt that caused the ejection is logged with it; none may follow while the ejection lasts.
    const during = gateway.logs.filter(connectFailed).map((line) => Date.parse(String(line.time)) - ejectedAt);
    assert.deepEqual(
      during.filter((ms) => ms > 50 && ms < 1000),
      [],
      "not tried while ejected",
    );

    await gateway.nextLog((line) => line.event === "backend_health" && line.health === "trial", 2000);
    // The trial connection fails: ejected again, for twice as long.
    for (let i = 0; i < 2; i++) assert.equal((await landing(url)).backend, "live");
    const [, second] = await gateway.logsMatching(ejected, 2);
    assert.equal(second?.ejectionMs, 2000);
    assert.match(String(second?.reason), /^trial connection failed: connection refused$/);
  });
});
