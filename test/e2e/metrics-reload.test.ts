// End to end: a SIGHUP reload that deletes a route and its pipeline removes their series from /metrics (they used to
// stay until restart), keeps the others, and counts the reload; a rejected reload is counted as such.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { admin } from "../helpers/admin.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, rawExchange } from "../helpers/net.js";

function config(port: number, deadPort: number, withDead: boolean): string {
  const route = (path: string): string => `      - path: /${path}\n        backend: ${path}\n`;
  const pipeline = (name: string): string => `---
kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${deadPort}
`;
  return `kind: HTTPServer
name: edge
port: ${port}
address: 127.0.0.1
rules:
  - paths:
${route("kept")}${withDead ? route("dead") : ""}${pipeline("kept")}${withDead ? pipeline("dead") : ""}`;
}

function upgrade(path: string): string {
  return (
    `GET /${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
  );
}

describe("metrics across a reload", () => {
  let gateway: GatewayProcess;
  let port: number;
  let deadPort: number;

  before(async () => {
    port = await freePort();
    deadPort = await freePort();
    gateway = await GatewayProcess.start(config(port, deadPort, true), { admin: true });
  });

  after(async () => {
    await gateway?.stop();
  });

  it("drops the deleted route's and pool's series, keeps the others, counts applied and rejected", async () => {
    await rawExchange(port, upgrade("kept"));
    await rawExchange(port, upgrade("dead"));
    const before = (await admin(gateway.adminPort, "GET", "/metrics")).text;
    assert.match(before, /route="\*\/dead"/);
    assert.match(before, /pool="dead\/proxy\/pools\[0\]"/);

    await writeFile(gateway.configFile, config(port, deadPort, false));
    gateway.child.kill("SIGHUP");
    await gateway.nextLog((line) => line.event === "config_applied", 5000);
    const after = (await admin(gateway.adminPort, "GET", "/metrics")).text;
    assert.doesNotMatch(after, /route="\*\/dead"|pool="dead\//);
    assert.match(
      after,
      /^wsgate_websocket_handshakes_total\{server="edge",route="\*\/kept",result="failed",status="502"\} 1$/m,
    );
    assert.match(after, /pool="kept\/proxy\/pools\[0\]"/);
    assert.match(after, /^wsgate_config_reloads_total\{result="applied"\} 1$/m);

    await writeFile(gateway.configFile, "kind: HTTPServer\nname: edge\nport: nope\n");
    gateway.child.kill("SIGHUP");
    await gateway.nextLog((line) => line.event === "config_rejected", 5000);
    const rejected = (await admin(gateway.adminPort, "GET", "/metrics")).text;
    assert.match(rejected, /^wsgate_config_reloads_total\{result="rejected"\} 1$/m);
  });
});
