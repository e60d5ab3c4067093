// End to end (wsgate run, real backends on 127.0.0.1): active health checks decide which servers take new
// WebSocket clients; a dead, failing or mismatching backend is skipped, comes back by itself, and the logs say so.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { startCheckBackend, landing, type CheckBackend } from "../helpers/check-backends.js";
import { GatewayProcess, type LogLine } from "../helpers/gateway-process.js";
import { freePort, rawExchange, statusOf, waitUntil, withTimeout } from "../helpers/net.js";

let gateway: GatewayProcess;
let port: number;
const b: Record<string, CheckBackend> = {};

const HTTP_CHECK = `
        healthCheck:
          interval: 150ms
          timeout: 2s
          http:
            uri: /health`;

function pipeline(name: string, servers: string[], extra: string): string {
  return `
---
kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
${servers.map((server) => `          - url: ${b[server]?.url ?? server}`).join("\n")}
        loadBalance:
          policy: roundRobin${extra}
`;
}

function url(path: string): string {
  return `ws://127.0.0.1:${port}${path}`;
}

/** Where `count` clients in a row land, by backend name. */
async function landings(path: string, count: number): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i++) names.push((await landing(url(path))).backend);
  return names;
}

function healthLine(pipelineName: string, backend: CheckBackend, health: string) {
  return (line: LogLine): boolean =>
    line.event === "backend_health" &&
    line.pool === `${pipelineName}/proxy/pools[0]` &&
    line.backend === `127.0.0.1:${backend.port}` &&
    line.health === health;
}

function open(path: string): Promise<WebSocket> {
  const ws = new WebSocket(url(path));
  return withTimeout(
    new Promise((resolve, reject) => {
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
    }),
    3000,
    `open ${path}`,
  );
}

function echo(ws: WebSocket): Promise<string> {
  const reply = new Promise<string>((resolve) => ws.once("message", (data) => resolve(String(data))));
  ws.send("ping");
  return withTimeout(reply, 2000, "an echo");
}

/** Each backend's first check, as it must come out; tests start from there (the first round runs at start-up). */
const FIRST_CHECKS: Array<[pipeline: string, backend: string, health: string, reason: string]> = [
  ["killed", "a", "healthy", "first check passed"],
  ["killed", "b", "healthy", "first check passed"],
  ["status500", "c", "unhealthy", "http check: status 500 (expected 200-399)"],
  ["status500", "d", "healthy", "first check passed"],
  ["wsrefused", "e", "unhealthy", "ws check: status 403 (expected 101)"],
  ["wsrefused", "f", "healthy", "first check passed"],
  ["matching", "g", "healthy", "first check passed"],
  ["matching", "h", "unhealthy", "http check: status 200 (expected 500-503)"],
  ["matching", "i", "unhealthy", "ws check: header X-Status is 'sick' (expected 'healthy')"],
  ["down", "j", "healthy", "first check passed"],
  ["slow", "k", "healthy", "first check passed"],
  ["drain", "l", "healthy", "first check passed"],
  ["drain", "m", "healthy", "first check passed"],
];

before(async () => {
  for (const name of ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"]) {
    b[name] = await startCheckBackend(name);
  }
  b.c!.http = { status: 500, headers: {}, body: "", delayMs: 0 };
  b.e!.wsCheckRefuse = 403;
  b.g!.http = { status: 503, headers: {}, body: "", delayMs: 0 };
  b.g!.wsCheckHeaders = { "X-Status": "healthy" };
  b.h!.http = { status: 200, headers: {}, body: "", delayMs: 0 };
  b.h!.wsCheckHeaders = { "X-Status": "healthy" };
  b.i!.http = { status: 503, headers: {}, body: "", delayMs: 0 };
  b.i!.wsCheckHeaders = { "X-Status": "sick" };
  b.k!.http = { status: 200, headers: {}, body: "", delayMs: 350 };
  port = await freePort();
  gateway = await GatewayProcess.start(
    `
kind: HTTPServer
name: health-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /killed
        backend: killed
      - pathPrefix: /status500
        backend: status500
      - pathPrefix: /wsrefused
        backend: wsrefused
      - pathPrefix: /matching
        backend: matching
      - pathPrefix: /down
        backend: down
      - pathPrefix: /slow
        backend: slow
      - pathPrefix: /drain
        backend: drain
` +
      pipeline("killed", ["a", "b"], HTTP_CHECK) +
      pipeline("status500", ["c", "d"], HTTP_CHECK) +
      pipeline(
        "wsrefused",
        ["e", "f"],
        `
        healthCheck:
          interval: 150ms
          ws:
            uri: /health/ws`,
      ) +
      pipeline(
        "matching",
        ["g", "h", "i"],
        `
        healthCheck:
          interval: 150ms
          ws:
            uri: /health/ws
            match:
              headers:
                - name: X-Status
                  value: healthy
                  type: exact
          http:
            uri: /health
            match:
              statusCodes: [[500, 503]]`,
      ) +
      pipeline("down", ["j"], HTTP_CHECK) +
      pipeline(
        "slow",
        ["k"],
        `
        healthCheck:
          interval: 100ms
          timeout: 2s
          http:
            uri: /health`,
      ) +
      pipeline(
        "drain",
        ["l", "m"],
        `
        healthCheck:
          interval: 150ms
          http:
            uri: /health
          drainSessions:
            after: 300ms
            over: 600ms`,
      ),
  );
  // The first round of checks runs at start-up; tests start from its outcome.
  for (const [name, backend, health, reason] of FIRST_CHECKS) {
    const line = await gateway.nextLog(
      (entry) => healthLine(name, b[backend]!, health)(entry) && entry.previous === "unknown",
      10_000,
    );
    assert.equal(line.reason, reason, `${name}/${backend}`);
  }
});

after(async () => {
  // Backends close even when the gateway never started, so that the test process can end.
  const code = await gateway?.stop();
  await Promise.all(Object.values(b).map((backend) => backend.stop()));
  assert.equal(code, 0, "the gateway stops cleanly with checks running");
});

describe("active health checks (wsgate run)", () => {
  it("stops sending clients to a backend killed mid-run within an interval, and resumes once it is back", async () => {
    const a = b.a!;
    assert.deepEqual(new Set(await landings("/killed", 6)), new Set(["a", "b"]));
    await a.stop();
    const down = await gateway.nextLog(healthLine("killed", a, "unhealthy"), 5000);
    // A check in flight when the backend died sees the reset; the next ones find the port closed.
    assert.match(String(down.reason), /^http check: connection (refused|reset)$/);
    assert.equal(down.msg, "backend unhealthy");
    const seen = gateway.logs.length;
    assert.deepEqual(await landings("/killed", 8), Array(8).fill("b"));
    const tried = gateway.logs
      .slice(seen)
      .filter((line) => line.msg === "backend connect failed" && line.backend === `127.0.0.1:${a.port}`);
    assert.deepEqual(tried, [], "the dead backend was not even tried");

    await a.start();
    const up = await gateway.nextLog(
      (line) => healthLine("killed", a, "healthy")(line) && line.previous === "unhealthy",
      5000,
    );
    assert.equal(up.reason, "check passed");
    assert.ok((await landings("/killed", 6)).includes("a"), "the restarted backend gets clients again");
    assert.equal(gateway.logs.filter(healthLine("killed", a, "unhealthy")).length, 1, "logged once");
  });

  it("skips a backend whose HTTP check answers 500, and one that refuses the WebSocket check", async () => {
    // Both were found unhealthy by the first round, with these reasons (see FIRST_CHECKS).
    assert.deepEqual(await landings("/status500", 6), Array(6).fill("d"));
    assert.deepEqual(await landings("/wsrefused", 6), Array(6).fill("f"));
    assert.ok(b.f!.wsChecks.length >= 1, "the healthy backend was checked with a WebSocket handshake");
  });

  it("matches status ranges and headers both ways: only the backend matching both checks gets clients", async () => {
    // h answers the HTTP check out of range, i the WebSocket check with the wrong header (see FIRST_CHECKS).
    assert.deepEqual(await landings("/matching", 6), Array(6).fill("g"));
    // The other way round: h matches once it answers in range, and leaves when its header changes.
    b.h!.http = { status: 502, headers: {}, body: "", delayMs: 0 };
    await gateway.nextLog(healthLine("matching", b.h!, "healthy"), 5000);
    assert.ok((await landings("/matching", 6)).includes("h"));
  });

  it("answers 503 with Retry-After when every server is unhealthy, logs it, and leaves live sessions alone", async () => {
    const j = b.j!;
    const live = await open("/down");
    assert.equal(await echo(live), "j:ping");
    j.http = { status: 500, headers: {}, body: "", delayMs: 0 };
    await gateway.nextLog(healthLine("down", j, "unhealthy"), 5000);
    const pool = await gateway.nextLog((line) => line.event === "pool_health" && line.pool === "down/proxy/pools[0]");
    assert.equal(pool.msg, "no healthy server in pool: new connections get 503");
    const answer = await rawExchange(
      port,
      `GET /down HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      5000,
    );
    assert.equal(statusOf(answer.received), 503);
    const text = answer.received.toString("latin1");
    const retryAfter = Number(/\r\nRetry-After: (\d+)\r\n/.exec(text)?.[1]);
    assert.ok(retryAfter >= 1 && retryAfter <= 3, `Retry-After ${retryAfter} (next check within 150 ms, timeout 2 s)`);
    // The client gets a generic reason; the log line names the pool.
    assert.match(text, /\r\n\r\nno backend available\n$/);
    const rejected = await gateway.nextLog(
      (line) => line.event === "request_rejected" && line.code === "WSG_NO_UPSTREAM" && line.path === "/down",
    );
    assert.equal(rejected.status, 503);
    assert.equal(await echo(live), "j:ping", "the live session was not cut");
    live.close();
  });

  it("never runs two checks of one server at once, even when a check takes longer than the interval", async () => {
    const k = b.k!;
    await waitUntil(() => (k.requests.length >= 4 ? true : undefined), 4000, "four slow checks");
    assert.equal(k.maxConcurrentRequests, 1);
  });

  it("with drainSessions, closes an unhealthy backend's sessions with 1001 after the grace period, spread out", async () => {
    const clients: WebSocket[] = [];
    for (let i = 0; i < 6; i++) clients.push(await open("/drain"));
    const homes = await Promise.all(clients.map((client) => echo(client)));
    const onL = clients.filter((_, index) => homes[index] === "l:ping");
    const onM = clients.filter((_, index) => homes[index] === "m:ping");
    assert.equal(onL.length, 3);
    const closes = onL.map(
      (client) =>
        new Promise<{ code: number; reason: string; at: number }>((resolve) =>
          client.once("close", (code, reason) => resolve({ code, reason: String(reason), at: Date.now() })),
        ),
    );
    b.l!.http = { status: 500, headers: {}, body: "", delayMs: 0 };
    await gateway.nextLog(healthLine("drain", b.l!, "unhealthy"), 5000);
    const unhealthyAt = Date.now();
    const closed = await withTimeout(Promise.all(closes), 3000, "the drained sessions' closes");
    for (const close of closed) assert.deepEqual([close.code, close.reason], [1001, "backend unhealthy"]);
    const times = closed.map((close) => close.at - unhealthyAt).sort((x, y) => x - y);
    assert.ok((times[0] ?? 0) >= 200, `first close ${times[0]} ms after the unhealthy line (grace 300 ms)`);
    assert.ok((times[2] ?? 0) - (times[0] ?? 0) >= 300, `closes spread over ${(times[2] ?? 0) - (times[0] ?? 0)} ms`);
    for (const client of onM) assert.equal(await echo(client), "m:ping", "the healthy backend's sessions stay");
    const drain = await gateway.nextLog(
      (line) => line.event === "backend_drain" && line.pool === "drain/proxy/pools[0]",
    );
    assert.equal(drain.sessions, 3);
    for (const client of onM) client.close();
  });
});
