// `backlog` reaches the kernel's listen queue: with the gateway stopped (SIGSTOP), the kernel still completes the TCP
// handshakes of as many connections as the queue holds, and leaves the rest waiting. Linux holds backlog + 1.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, describe, it } from "node:test";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort } from "../helpers/net.js";

const CONNECTIONS = 24;

/** Opens `count` connections at once; resolves with how many completed their TCP handshake within `ms`. */
async function establishedWithin(port: number, count: number, ms: number): Promise<number> {
  const sockets = Array.from({ length: count }, () => connect({ port, host: "127.0.0.1" }));
  const outcomes = await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), ms);
          socket.once("connect", () => {
            clearTimeout(timer);
            resolve(true);
          });
          socket.once("error", () => {
            clearTimeout(timer);
            resolve(false);
          });
        }),
    ),
  );
  for (const socket of sockets) socket.destroy();
  return outcomes.filter(Boolean).length;
}

async function stoppedGateway(backlog: number | undefined): Promise<{ gateway: GatewayProcess; port: number }> {
  const port = await freePort();
  const gateway = await GatewayProcess.start(`
kind: HTTPServer
name: edge
port: ${port}
address: 127.0.0.1
${backlog === undefined ? "" : `backlog: ${backlog}`}
rules:
  - paths:
      - path: /ws
        backend: app
---
kind: Pipeline
name: app
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:9
`);
  return { gateway, port };
}

describe("HTTPServer backlog: the kernel's listen queue", { skip: process.platform !== "linux" }, () => {
  const gateways: GatewayProcess[] = [];
  after(async () => {
    for (const gateway of gateways) {
      gateway.child.kill("SIGCONT");
      await gateway.stop();
    }
  });

  it("backlog: 4 holds 5 connections while the gateway takes none; the rest wait", async () => {
    const { gateway, port } = await stoppedGateway(4);
    gateways.push(gateway);
    gateway.child.kill("SIGSTOP");
    try {
      const established = await establishedWithin(port, CONNECTIONS, 700);
      assert.ok(established >= 4 && established <= 6, `${established} of ${CONNECTIONS} established`);
    } finally {
      gateway.child.kill("SIGCONT");
    }
  });

  it("the default (4096) holds every one of them", async () => {
    const { gateway, port } = await stoppedGateway(undefined);
    gateways.push(gateway);
    gateway.child.kill("SIGSTOP");
    try {
      assert.equal(await establishedWithin(port, CONNECTIONS, 3000), CONNECTIONS);
    } finally {
      gateway.child.kill("SIGCONT");
    }
  });
});
