// The two active checks against real servers on 127.0.0.1: what passes, what fails and why, and that no answer
// (garbage, silence, a cut connection) can make a check throw or hang.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { HttpCheck } from "../../src/upstream/health/http-check.js";
import type { HttpCheckSpec, WsCheckSpec } from "../../src/upstream/health/types.js";
import { WsCheck } from "../../src/upstream/health/ws-check.js";
import { UpstreamServer } from "../../src/upstream/server.js";
import { startCheckBackend, type CheckBackend } from "../helpers/check-backends.js";
import { freePort, waitUntil } from "../helpers/net.js";

const TIMEOUT = 1000;

function serverAt(port: number): UpstreamServer {
  return new UpstreamServer({ url: `ws://127.0.0.1:${port}/app`, weight: 0, keepHost: false, tags: [] });
}

function httpSpec(extra: Partial<HttpCheckSpec> = {}, match: Partial<HttpCheckSpec["match"]> = {}): HttpCheckSpec {
  return {
    method: "GET",
    headers: {},
    uri: "/health",
    ...extra,
    match: { statusCodes: [[200, 399]], headers: [], ...match },
  };
}

function wsSpec(extra: Partial<WsCheckSpec> = {}, match: Partial<WsCheckSpec["match"]> = {}): WsCheckSpec {
  return { headers: {}, uri: "/health/ws", ...extra, match: { statusCodes: [[101, 101]], headers: [], ...match } };
}

function runHttp(spec: HttpCheckSpec, port: number, timeout = TIMEOUT) {
  return new HttpCheck(spec).run(serverAt(port), timeout, new AbortController().signal);
}

function runWs(spec: WsCheckSpec, port: number, timeout = TIMEOUT) {
  return new WsCheck(spec).run(serverAt(port), timeout, new AbortController().signal);
}

/** A raw TCP server that answers every connection with `onData`. */
async function rawServer(onConnection: (socket: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => socket.destroy());
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe("http check", () => {
  let backend: CheckBackend;
  before(async () => {
    backend = await startCheckBackend("h");
  });
  after(() => backend.stop());

  it("passes on a status in range and sends method, uri, headers, body and basic auth", async () => {
    backend.http = { status: 204, headers: {}, body: "", delayMs: 0 };
    const spec = httpSpec({
      method: "POST",
      uri: "/probe?deep=1",
      headers: { "X-Health-Check": "wsgate" },
      body: "ping",
      username: "ops",
      password: "s3cret",
    });
    assert.deepEqual(await runHttp(spec, backend.port), { ok: true });
    const seen = backend.requests.at(-1);
    assert.equal(seen?.method, "POST");
    assert.equal(seen?.url, "/probe?deep=1");
    assert.equal(seen?.headers["x-health-check"], "wsgate");
    assert.equal(seen?.body, "ping");
    assert.equal(seen?.headers.authorization, `Basic ${Buffer.from("ops:s3cret").toString("base64")}`);
  });

  it("uses the server URL's path when no uri is given, and the check's port over the server's", async () => {
    const other = await startCheckBackend("other");
    try {
      const result = await new HttpCheck(httpSpec({ uri: undefined, port: other.port })).run(
        serverAt(await freePort()),
        TIMEOUT,
        new AbortController().signal,
      );
      assert.deepEqual(result, { ok: true });
      assert.equal(other.requests.at(-1)?.url, "/app");
    } finally {
      await other.stop();
    }
  });

  it("fails on a status out of range, naming it; passes it when a range includes it", async () => {
    backend.http = { status: 500, headers: {}, body: "down", delayMs: 0 };
    assert.deepEqual(await runHttp(httpSpec(), backend.port), {
      ok: false,
      reason: "http check: status 500 (expected 200-399)",
    });
    const ranges: HttpCheckSpec["match"]["statusCodes"] = [
      [200, 200],
      [500, 503],
    ];
    assert.deepEqual(await runHttp(httpSpec({}, { statusCodes: ranges }), backend.port), { ok: true });
    backend.http = { status: 201, headers: {}, body: "", delayMs: 0 };
    const failed = await runHttp(httpSpec({}, { statusCodes: ranges }), backend.port);
    assert.deepEqual(failed, { ok: false, reason: "http check: status 201 (expected 200, 500-503)" });
  });

  it("matches response headers exactly or by regexp, both ways; an empty value only needs the header", async () => {
    backend.http = { status: 200, headers: { "X-Status": "healthy-7" }, body: "", delayMs: 0 };
    const check = (name: string, value: string, type: "exact" | "regexp") =>
      runHttp(httpSpec({}, { headers: [{ name, value, type }] }), backend.port);
    assert.deepEqual(await check("X-Status", "healthy-7", "exact"), { ok: true });
    assert.deepEqual(await check("x-status", "^healthy-\\d$", "regexp"), { ok: true });
    assert.deepEqual(await check("X-Status", "", "exact"), { ok: true });
    assert.deepEqual(await check("X-Status", "healthy", "exact"), {
      ok: false,
      reason: "http check: header X-Status is 'healthy-7' (expected 'healthy')",
    });
    assert.deepEqual(await check("X-Status", "^sick", "regexp"), {
      ok: false,
      reason: "http check: header X-Status is 'healthy-7' (expected to match '^sick')",
    });
    assert.deepEqual(await check("X-Other", "", "exact"), { ok: false, reason: "http check: header X-Other missing" });
  });

  it("matches the body by substring or regexp, both ways", async () => {
    backend.http = { status: 200, headers: {}, body: '{"status":"UP","db":"ok"}', delayMs: 0 };
    const check = (value: string, type: "contains" | "regexp") =>
      runHttp(httpSpec({}, { body: { value, type } }), backend.port);
    assert.deepEqual(await check('"status":"UP"', "contains"), { ok: true });
    assert.deepEqual(await check('"db":"(ok|degraded)"', "regexp"), { ok: true });
    assert.deepEqual(await check("DOWN", "contains"), {
      ok: false,
      reason: "http check: body does not contain 'DOWN'",
    });
    assert.deepEqual(await check("^DOWN", "regexp"), { ok: false, reason: "http check: body does not match '^DOWN'" });
  });

  it("fails with 'connection refused' on a closed port and 'timeout' on a backend that is too slow", async () => {
    assert.deepEqual(await runHttp(httpSpec(), await freePort()), {
      ok: false,
      reason: "http check: connection refused",
    });
    // The backend answers long after the 200 ms timeout; the bound only tells "gave up" from "waited for it".
    backend.http = { status: 200, headers: {}, body: "", delayMs: 3000 };
    const started = Date.now();
    assert.deepEqual(await runHttp(httpSpec(), backend.port, 200), { ok: false, reason: "http check: timeout" });
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 190 && elapsed < 2000, `settled after ${elapsed} ms`);
    backend.http = { status: 200, headers: {}, body: "ok", delayMs: 0 };
  });

  it("never throws or hangs, whatever the backend sends", async () => {
    const answers: Array<(socket: net.Socket) => void> = [
      (socket) => socket.end("garbage that is not HTTP\r\n\r\n"),
      (socket) => socket.destroy(),
      (socket) => socket.on("data", () => socket.end("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")),
      (socket) => socket.on("data", () => socket.end("HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n")),
      (socket) => socket.on("data", () => socket.end(`HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(100_000)}\r\n\r\n`)),
      (socket) => socket.on("data", () => socket.end("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")),
      () => {}, // silence
    ];
    for (const [index, answer] of answers.entries()) {
      const raw = await rawServer(answer);
      try {
        const body = { value: "x", type: "contains" as const };
        const started = Date.now();
        const result = await runHttp(httpSpec({}, { body }), raw.port, 300);
        assert.equal(result.ok, false, `answer ${index} passed`);
        assert.ok(Date.now() - started < 2500, `answer ${index} took ${Date.now() - started} ms`);
      } finally {
        raw.close();
      }
    }
  });

  it("matches a body longer than 64 KiB on its beginning", async () => {
    backend.http = { status: 200, headers: {}, body: `MARK${"x".repeat(1_000_000)}`, delayMs: 0 };
    assert.deepEqual(await runHttp(httpSpec({}, { body: { value: "MARK", type: "contains" } }), backend.port), {
      ok: true,
    });
    backend.http = { status: 200, headers: {}, body: "ok", delayMs: 0 };
  });

  it("settles at once as 'stopped' when aborted", async () => {
    backend.http = { status: 200, headers: {}, body: "", delayMs: 2000 };
    const abort = new AbortController();
    const pending = new HttpCheck(httpSpec()).run(serverAt(backend.port), 5000, abort.signal);
    setTimeout(() => abort.abort(), 50);
    assert.deepEqual(await pending, { ok: false, reason: "http check: stopped" });
    backend.http = { status: 200, headers: {}, body: "ok", delayMs: 0 };
  });
});

describe("ws check", () => {
  let backend: CheckBackend;
  before(async () => {
    backend = await startCheckBackend("w");
  });
  after(() => backend.stop());

  it("passes a real handshake, sends the check's headers, and closes with 1000", async () => {
    const before = backend.wsCheckCloses.length;
    assert.deepEqual(await runWs(wsSpec({ headers: { "X-Health-Check": "easegress" } }), backend.port), { ok: true });
    await waitUntil(() => (backend.wsCheckCloses.length > before ? true : undefined), 2000, "the check's close");
    assert.equal(backend.wsCheckCloses.at(-1), 1000);
  });

  it("fails when the backend refuses the upgrade, naming the status; a range can accept it", async () => {
    backend.wsCheckRefuse = 403;
    assert.deepEqual(await runWs(wsSpec(), backend.port), { ok: false, reason: "ws check: status 403 (expected 101)" });
    const ranges: WsCheckSpec["match"]["statusCodes"] = [
      [101, 101],
      [400, 403],
    ];
    assert.deepEqual(await runWs(wsSpec({}, { statusCodes: ranges }), backend.port), { ok: true });
    backend.wsCheckRefuse = undefined;
  });

  it("matches the 101's headers exactly or by regexp, both ways", async () => {
    backend.wsCheckHeaders = { "X-Status": "healthy" };
    const check = (value: string, type: "exact" | "regexp") =>
      runWs(wsSpec({}, { headers: [{ name: "X-Status", value, type }] }), backend.port);
    assert.deepEqual(await check("healthy", "exact"), { ok: true });
    assert.deepEqual(await check("^heal", "regexp"), { ok: true });
    assert.deepEqual(await check("sick", "exact"), {
      ok: false,
      reason: "ws check: header X-Status is 'healthy' (expected 'sick')",
    });
    backend.wsCheckHeaders = {};
    assert.deepEqual(await check("healthy", "exact"), { ok: false, reason: "ws check: header X-Status missing" });
  });

  // Issue 16: checks dialled with the `ws` library while sessions used wsgate's own backend handshake, so a backend
  // whose 101 every session refused could pass its check and keep getting clients.
  it("fails a backend whose 101 the session connector refuses (no Connection: Upgrade), as every session would", async () => {
    const accept = (request: string): string => {
      const key = /sec-websocket-key: *([^\r]+)\r\n/i.exec(request)?.[1] ?? "";
      return createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
    };
    const answer = (connection: string) =>
      rawServer((socket) => {
        let request = "";
        socket.on("data", (chunk: Buffer) => {
          request += chunk.toString("latin1");
          if (!request.includes("\r\n\r\n")) return;
          socket.write(
            `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n${connection}` +
              `Sec-WebSocket-Accept: ${accept(request)}\r\n\r\n`,
          );
        });
      });
    const good = await answer("Connection: Upgrade\r\n");
    const noConnection = await answer("");
    try {
      assert.deepEqual(await runWs(wsSpec(), good.port), { ok: true }, "the well-formed 101 passes");
      assert.deepEqual(await runWs(wsSpec(), noConnection.port), {
        ok: false,
        reason: "ws check: bad 101: 101 without Connection: Upgrade",
      });
    } finally {
      good.close();
      noConnection.close();
    }
  });

  it("fails with 'connection refused', 'timeout' and on a wrong 101, without throwing", async () => {
    assert.deepEqual(await runWs(wsSpec(), await freePort()), { ok: false, reason: "ws check: connection refused" });
    const silent = await rawServer(() => {});
    const badAccept = await rawServer((socket) =>
      socket.on("data", () =>
        socket.write(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
        ),
      ),
    );
    const garbage = await rawServer((socket) => socket.on("data", () => socket.end("nonsense\r\n\r\n")));
    try {
      const started = Date.now();
      assert.deepEqual(await runWs(wsSpec(), silent.port, 200), { ok: false, reason: "ws check: timeout" });
      assert.ok(Date.now() - started < 2000, "a silent backend costs the timeout, not more");
      const wrong = await runWs(wsSpec(), badAccept.port, 500);
      assert.equal(wrong.ok, false);
      assert.match(wrong.ok ? "" : wrong.reason, /^ws check: .*Sec-WebSocket-Accept/);
      assert.equal((await runWs(wsSpec(), garbage.port, 500)).ok, false);
    } finally {
      silent.close();
      badAccept.close();
      garbage.close();
    }
  });
});
