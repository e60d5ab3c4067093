// Gateway.apply in process (real sockets on 127.0.0.1): the parts of a reload that the CLI tests do not reach —
// route identity across moves, servers removed from a pool, a server renamed on its port, replaced pipelines let go
// of once their last session ends, applies in a row.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import type { HTTPServerSpec } from "../../src/config/kinds/http-server.js";
import { loadConfigText, type GatewayConfig } from "../../src/config/load.js";
import { Gateway } from "../../src/gateway.js";
import { diffSpecs, specText } from "../../src/reload/config-diff.js";
import { routeIdentities } from "../../src/server/route-identity.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { collectingLogger } from "../helpers/check-backends.js";
import { freePort, waitUntil, withTimeout } from "../helpers/net.js";

function config(yaml: string): GatewayConfig {
  const result = loadConfigText(yaml, "test.yaml");
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.config;
}

interface Session {
  ws: WebSocket;
  closed: Promise<{ code: number; reason: string }>;
}

function open(url: string): Promise<Session> {
  return withTimeout(
    new Promise<Session>((resolve, reject) => {
      const ws = new WebSocket(url);
      const closed = new Promise<{ code: number; reason: string }>((done) =>
        ws.on("close", (code, reason) => done({ code, reason: reason.toString() })),
      );
      ws.once("open", () => resolve({ ws, closed }));
      ws.once("error", reject);
    }),
    3000,
    `a session on ${url}`,
  );
}

function ask(session: Session, text: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve) => {
      session.ws.once("message", (data) => resolve(String(data)));
      session.ws.send(text);
    }),
    2000,
    `an answer to ${text}`,
  );
}

function namedEcho(name: string): Promise<TestBackend> {
  return startBackend({
    onConnection: (socket) => socket.on("message", (data) => socket.send(`${name}:${String(data)}`)),
  });
}

describe("route identity and spec diff", () => {
  const servers = (yaml: string): HTTPServerSpec[] => config(yaml).httpServers;
  const pipeline = "---\nkind: Pipeline\nname: p\nfilters:\n  - kind: WebSocketUpgradeCheck\n    name: check\n";

  it("keeps a route's key when rules move around it, and changes it when its match or pipeline changes", () => {
    const one = servers(
      `kind: HTTPServer\nname: s\nport: 1\nrules:\n  - host: a.test\n    paths:\n      - path: /ws\n        backend: p\n${pipeline}`,
    );
    const moved = servers(
      `kind: HTTPServer\nname: s\nport: 1\nrules:\n  - paths:\n      - path: /x\n        backend: p\n  - host: a.test\n    paths:\n      - path: /y\n        backend: p\n      - path: /ws\n        backend: p\n        clientMaxBodySize: 10\n${pipeline}`,
    );
    const [[route]] = routeIdentities("s", one[0]?.rules ?? []) as [[{ key: string; label: string }]];
    const movedRoutes = routeIdentities("s", moved[0]?.rules ?? []);
    assert.equal(route.label, "a.test/ws");
    assert.equal(movedRoutes[1]?.[1]?.key, route.key, "same host and path: same route, whatever its index");
    assert.equal(movedRoutes[0]?.[0]?.label, "*/x");
    assert.notEqual(movedRoutes[1]?.[0]?.key, route.key);
    const otherPipeline = routeIdentities("s", [{ ...(one[0]?.rules[0] as HTTPServerSpec["rules"][number]) }]);
    assert.equal(otherPipeline[0]?.[0]?.key, route.key);
    const rule = one[0]?.rules[0] as HTTPServerSpec["rules"][number];
    const elsewhere = routeIdentities("s", [{ ...rule, paths: rule.paths.map((path) => ({ ...path, backend: "q" })) }]);
    assert.notEqual(elsewhere[0]?.[0]?.key, route.key, "leading to another pipeline is another route");
  });

  it("tells added, updated, unchanged and deleted objects apart by their validated spec", () => {
    const running = new Map([
      ["kept", specText({ name: "kept", port: 1, rules: [] })],
      ["changed", specText({ name: "changed", port: 1 })],
      ["gone", specText({ name: "gone" })],
    ]);
    const diff = diffSpecs(running, [
      { rules: [], port: 1, name: "kept" },
      { name: "changed", port: 2 },
      { name: "new" },
    ]);
    assert.deepEqual(
      [diff.added, diff.updated, diff.unchanged, diff.deleted].map((part) =>
        part.map((item) => (typeof item === "string" ? item : item.name)),
      ),
      [["new"], ["changed"], ["kept"], ["gone"]],
    );
  });
});

describe("Gateway.apply", () => {
  let a: TestBackend;
  let b: TestBackend;
  let port: number;
  let gateway: Gateway;
  const { log, lines } = collectingLogger();

  const server = (name: string, listenPort = port): string => `kind: HTTPServer
name: ${name}
port: ${listenPort}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /
        backend: main
---
`;
  const main = (servers: TestBackend[], drainRemoved?: string): string => `kind: Pipeline
name: main
filters:
  - kind: WebSocketProxy
    name: proxy
    drainWindow: 0
    pools:
      - servers:
${servers.map((backend) => `          - url: ${backend.url}`).join("\n")}
${drainRemoved === undefined ? "" : `        drainRemovedServers: ${drainRemoved}`}
`;

  before(async () => {
    a = await namedEcho("a");
    b = await namedEcho("b");
    port = await freePort();
    gateway = await Gateway.start(config(server("first") + main([a, b])), log);
  });

  after(async () => {
    await gateway?.stop(1000);
    await a?.close();
    await b?.close();
  });

  it("closes the sessions of a server removed from a pool that says drainRemovedServers; the others go on", async () => {
    const sessions = [await open(`ws://127.0.0.1:${port}/`), await open(`ws://127.0.0.1:${port}/`)];
    const answers = await Promise.all(sessions.map((session, index) => ask(session, String(index))));
    const onB = sessions[answers.findIndex((answer) => answer.startsWith("b:"))] as Session;
    const onA = sessions[answers.findIndex((answer) => answer.startsWith("a:"))] as Session;
    const summary = await gateway.apply(config(server("first") + main([a], "0")));
    assert.equal(summary.drained, 1);
    assert.deepEqual(await withTimeout(onB.closed, 2000, "the removed server's session to close"), {
      code: 1001,
      reason: "backend removed",
    });
    assert.equal(await ask(onA, "on"), "a:on");
    onA.ws.close();
    await onA.closed;
  });

  it("lets go of a replaced pipeline version (its pools, their status) once its last session ends", async () => {
    const label = "main/proxy/pools[0]";
    const count = (): number => gateway.telemetry.upstreamStatus.pools().filter((pool) => pool.pool === label).length;
    const session = await open(`ws://127.0.0.1:${port}/`);
    assert.equal(count(), 1);
    await gateway.apply(config(server("first") + main([b])));
    assert.equal(count(), 2, "the old version stays while its session lives");
    assert.equal(await ask(session, "old"), "a:old");
    session.ws.close();
    await waitUntil(() => (count() === 1 ? true : undefined), 3000, "the old version to be released");
  });

  it("hands the port over when a server is renamed: the old name's sessions drain, the new name serves", async () => {
    const session = await open(`ws://127.0.0.1:${port}/`);
    const summary = await gateway.apply(config(server("second") + main([b])));
    assert.deepEqual(summary.added, ["HTTPServer/second"]);
    assert.deepEqual(summary.deleted, ["HTTPServer/first"]);
    assert.deepEqual(await withTimeout(session.closed, 2000, "the old server's session to close"), {
      code: 1001,
      reason: "server removed",
    });
    const fresh = await open(`ws://127.0.0.1:${port}/`);
    assert.equal(await ask(fresh, "renamed"), "b:renamed");
    assert.deepEqual(
      gateway.listening.map((listener) => [listener.server, listener.address.port]),
      [["second", port]],
    );
    fresh.ws.close();
    await fresh.closed;
  });

  it("runs applies one after the other: the last one given wins", async () => {
    const other = await freePort();
    const [first, second] = await Promise.all([
      gateway.apply(config(server("second", other) + main([a]))),
      gateway.apply(config(server("second") + main([a]))),
    ]);
    assert.deepEqual(first.relistened, ["second"]);
    assert.deepEqual(second.relistened, ["second"]);
    assert.equal(gateway.listening[0]?.address.port, port);
    const session = await open(`ws://127.0.0.1:${port}/`);
    assert.equal(await ask(session, "last"), "a:last");
    session.ws.close();
    await session.closed;
    assert.ok(!lines.some((line) => line.level === 50), "no error logged");
  });
});
