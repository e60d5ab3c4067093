// End to end through the real CLI (issue 18): sessions that end when their credential does. A JWT's `exp` (plus
// clockSkew) closes with the configured code, the warning first; a renewal message moves the end and never reaches
// the backend, a bad one closes with 1008; maxSessionDuration with jitter spreads 200 sessions' ends over 4-6 s; basic
// auth's maxSessionDuration; a client certificate's notAfter; the session list (admin API and CLI) shows each end.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { WebSocket } from "ws";
import { runCli } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { TestPki, type CertFiles } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

const SECRET = "wsgate-deadline-test-secret";
const SKEW_MS = 500;
/** How late a close may come on a loaded machine (the issue asks for 100 ms; CI gets four times that). */
const LATE_MS = 400;

function token(sub: string, expSeconds: number, secret = SECRET): Promise<string> {
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime(expSeconds)
    .sign(new TextEncoder().encode(secret));
}

/** A backend that echoes and records, per connection, the messages and the close it got. */
interface Recorded {
  messages: string[];
  close?: number;
}

function recordingBackend(): Promise<TestBackend & { seen: Recorded[] }> {
  const seen: Recorded[] = [];
  return startBackend({
    onConnection: (socket) => {
      const record: Recorded = { messages: [] };
      seen.push(record);
      socket.on("message", (data, isBinary) => {
        record.messages.push(String(data));
        socket.send(data, { binary: isBinary });
      });
      socket.on("close", (code) => (record.close = code));
    },
  }).then((backend) => Object.assign(backend, { seen }));
}

/** A client's life: what it got, in order ("msg:..." and "close:code:reason"), and when it closed. */
interface Life {
  ws: WebSocket;
  /** The client's TCP port, as the gateway's session list names it. */
  localPort: number;
  events: string[];
  openedAt: number;
  closed: Promise<{ code: number; reason: string; at: number }>;
}

function open(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<Life> {
  return withTimeout(
    new Promise<Life>((resolve, reject) => {
      const ws = new WebSocket(url, options);
      const events: string[] = [];
      const closed = new Promise<{ code: number; reason: string; at: number }>((done) =>
        ws.on("close", (code, reason) => {
          events.push(`close:${code}:${String(reason)}`);
          done({ code, reason: String(reason), at: Date.now() });
        }),
      );
      ws.on("message", (data) => events.push(`msg:${String(data)}`));
      ws.on("unexpected-response", (_req, res) => reject(new Error(`status ${res.statusCode ?? 0}`)));
      ws.on("error", (error) => reject(error));
      ws.on("open", () => {
        const localPort = (ws as unknown as { _socket: { localPort: number } })._socket.localPort;
        resolve({ ws, localPort, events, openedAt: Date.now(), closed });
      });
    }),
    5000,
    `a connection to ${url}`,
  );
}

async function echoed(life: Life, text: string): Promise<void> {
  const before = life.events.length;
  life.ws.send(text);
  await withTimeout(
    new Promise<void>((resolve) => {
      const check = (): void => {
        if (life.events.slice(before).includes(`msg:${text}`)) resolve();
        else setTimeout(check, 5);
      };
      check();
    }),
    3000,
    `the echo of ${text}`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function proxyPipeline(name: string, backendUrl: string, validator: string, proxyExtra = ""): string {
  return `kind: Pipeline
name: ${name}
flow:
${validator === "" ? "" : "  - filter: auth\n"}  - filter: proxy
filters:
${validator}  - kind: WebSocketProxy
    name: proxy
${proxyExtra}    pools:
      - servers:
          - url: ${backendUrl}
`;
}

describe("session deadlines (wsgate run)", () => {
  let backend: TestBackend & { seen: Recorded[] };
  let gateway: GatewayProcess;
  let port: number;
  let adminServer: string;

  before(async () => {
    backend = await recordingBackend();
    port = await freePort();
    const secretHex = Buffer.from(SECRET).toString("hex");
    const jwtValidator = (renewal: boolean): string => `  - kind: Validator
    name: auth
    expiryCloseCode: 4001
    expiryWarning:
      before: 1s
      text: token expires soon
    jwt:
      algorithm: HS256
      secret: ${secretHex}
      queryParam: token
      clockSkew: ${SKEW_MS}ms
${renewal ? "      renewal:\n        tokenField: auth.token\n" : ""}`;
    const dir = mkdtempSync(join(tmpdir(), "wsgate-deadline-"));
    const users = join(dir, "users");
    writeFileSync(users, `alice:{SHA}${createHash("sha1").update("alice-pass").digest("base64")}\n`);
    gateway = await GatewayProcess.start(
      `kind: HTTPServer
name: edge
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - path: /jwt
        backend: jwt
      - path: /renew
        backend: renew
      - path: /lifetime
        backend: lifetime
      - path: /pool-lifetime
        backend: pool-lifetime
      - path: /basic
        backend: basic
      - path: /plain
        backend: plain
---
${proxyPipeline("jwt", backend.url, jwtValidator(false))}---
${proxyPipeline("renew", backend.url, jwtValidator(true))}---
${proxyPipeline("lifetime", backend.url, "", "    maxSessionDuration: {duration: 5s, jitter: 20%, closeCode: 1012}\n")}---
kind: Pipeline
name: pool-lifetime
filters:
  - kind: WebSocketProxy
    name: proxy
    maxSessionDuration: 1h
    pools:
      - servers:
          - url: ${backend.url}
        maxSessionDuration: 1s
---
${proxyPipeline(
  "basic",
  backend.url,
  `  - kind: Validator
    name: auth
    maxSessionDuration: 1s
    basicAuth:
      mode: FILE
      userFile: ${users}
`,
)}---
${proxyPipeline("plain", backend.url, "")}`,
      { admin: true },
    );
    adminServer = `http://127.0.0.1:${gateway.adminPort}`;
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  it("a JWT with 2 s to live: the warning, then the configured code at exp + clockSkew (never before)", async (t) => {
    const exp = Math.ceil(Date.now() / 1000) + 2;
    const life = await open(`ws://127.0.0.1:${port}/jwt?token=${await token("alice", exp)}`);
    await echoed(life, "hello");
    const closed = await withTimeout(life.closed, 6000, "the expiry close");
    const due = exp * 1000 + SKEW_MS;
    t.diagnostic(`closed ${closed.at - due} ms after exp + clockSkew`);
    assert.ok(closed.at >= due, `closed ${due - closed.at} ms before exp + clockSkew`);
    assert.ok(closed.at <= due + LATE_MS, `closed ${closed.at - due} ms after exp + clockSkew`);
    assert.equal(closed.code, 4001);
    assert.equal(closed.reason, "token expired");
    assert.deepEqual(life.events, ["msg:hello", "msg:token expires soon", "close:4001:token expired"]);
    const record = backend.seen.at(-1);
    await withTimeout(
      (async () => {
        while (record?.close === undefined) await sleep(10);
      })(),
      3000,
      "the backend's close",
    );
    assert.equal(record?.close, 1001);
    assert.deepEqual(record?.messages, ["hello"]);
  });

  it("renewal moves the end, is never relayed, and the session list shows the end; a bad token closes 1008", async () => {
    // Time for two CLI runs before the first token ends.
    const first = Math.ceil(Date.now() / 1000) + 5;
    const life = await open(`ws://127.0.0.1:${port}/renew?token=${await token("alice", first)}`);
    const record = backend.seen.at(-1) as Recorded;
    await echoed(life, "before");

    const listed = async (): Promise<number | undefined> => {
      const run = await runCli(["sessions", "--server", adminServer, "-o", "json"]);
      assert.equal(run.code, 0, run.stderr);
      const sessions = JSON.parse(run.stdout) as Array<{ route: string; deadline?: number }>;
      return sessions.find((session) => session.route.endsWith("/renew"))?.deadline;
    };
    assert.equal(await listed(), first * 1000 + SKEW_MS);

    const second = first + 2;
    life.ws.send(JSON.stringify({ auth: { token: await token("alice", second) } }));
    await echoed(life, "after");
    assert.equal(await listed(), second * 1000 + SKEW_MS, "the renewal moved the deadline");
    const table = await runCli(["sessions", "--server", adminServer]);
    assert.match(table.stdout, /\/renew .* in \d/);

    const closed = await withTimeout(life.closed, 8000, "the renewed expiry close");
    assert.ok(closed.at >= second * 1000 + SKEW_MS, "not closed at the first token's end");
    assert.equal(closed.code, 4001);
    assert.deepEqual(record.messages, ["before", "after"], "the renewal message never reached the backend");
    // The warning came before the renewed end, right before the close.
    assert.deepEqual(life.events.slice(-2), ["msg:token expires soon", "close:4001:token expired"]);

    const bad = await open(`ws://127.0.0.1:${port}/renew?token=${await token("alice", first + 60)}`);
    const badRecord = backend.seen.at(-1) as Recorded;
    await echoed(bad, "one");
    bad.ws.send(JSON.stringify({ auth: { token: await token("alice", first + 120, "another-secret") } }));
    const refused = await withTimeout(bad.closed, 3000, "the refused renewal's close");
    assert.equal(refused.code, 1008);
    assert.deepEqual(badRecord.messages, ["one"]);

    // Another subject's valid token does not take over the session.
    const other = await open(`ws://127.0.0.1:${port}/renew?token=${await token("alice", first + 60)}`);
    other.ws.send(JSON.stringify({ auth: { token: await token("mallory", first + 120) } }));
    assert.equal((await withTimeout(other.closed, 3000, "the other subject's close")).code, 1008);
  });

  it("200 sessions with maxSessionDuration 5s, jitter 20%: closed with 1012, spread over 4-6 s", async (t) => {
    const lives = await Promise.all(Array.from({ length: 200 }, () => open(`ws://127.0.0.1:${port}/lifetime`)));
    const run = await runCli(["sessions", "--server", adminServer, "-o", "json"]);
    type Listed = { route: string; client: string; deadline?: number; startedAt: string };
    const listed = (JSON.parse(run.stdout) as Listed[]).filter((session) => session.route.endsWith("/lifetime"));
    assert.equal(listed.length, 200);
    // Each client's session as the gateway started it (by the client's port): 200 clients opening at once see their
    // `open` late on a busy test process, so lifetimes count from the gateway's start.
    const startedAt = new Map<number, number>();
    for (const session of listed) {
      const lived = (session.deadline ?? 0) - Date.parse(session.startedAt);
      assert.ok(lived >= 3990 && lived <= 5010, `deadline ${lived} ms after the start`);
      startedAt.set(Number(session.client.split(":").at(-1)), Date.parse(session.startedAt));
    }
    const closes = await withTimeout(Promise.all(lives.map((life) => life.closed)), 12_000, "200 closes");
    const lifetimes = closes.map((closed, i) => {
      return closed.at - (startedAt.get((lives[i] as Life).localPort) ?? NaN);
    });
    assert.ok(lifetimes.every((lived) => Number.isFinite(lived)));
    const min = Math.min(...lifetimes);
    const max = Math.max(...lifetimes);
    assert.ok(closes.every((closed) => closed.code === 1012));
    assert.ok(min >= 3900, `a session lived only ${min} ms`);
    assert.ok(max <= 6000 + 1000, `a session lived ${max} ms`);
    // Spread, not all at once: every fifth of the window holds some of them, none holds most.
    const buckets = [0, 0, 0, 0, 0];
    for (const lived of lifetimes) buckets[Math.min(4, Math.max(0, Math.floor((lived - 4000) / 200)))]! += 1;
    t.diagnostic(`lifetimes ${min}-${max} ms; ends per 200 ms from 4 s: ${buckets.join(", ")}`);
    assert.ok(
      buckets.every((count) => count >= 10 && count <= 100),
      `ends per 200 ms from 4 s: ${buckets.join(", ")}`,
    );
  });

  it("a pool's maxSessionDuration replaces the filter's; 1001 by default", async () => {
    const life = await open(`ws://127.0.0.1:${port}/pool-lifetime`);
    const closed = await withTimeout(life.closed, 4000, "the pool lifetime's close");
    assert.equal(closed.code, 1001);
    assert.ok(closed.at - life.openedAt >= 990);
  });

  it("basic auth: maxSessionDuration closes with 1008 'session duration exceeded'", async () => {
    const authorization = `Basic ${Buffer.from("alice:alice-pass").toString("base64")}`;
    const life = await open(`ws://127.0.0.1:${port}/basic`, { headers: { authorization } });
    await echoed(life, "hi");
    const closed = await withTimeout(life.closed, 4000, "the duration close");
    assert.equal(closed.code, 1008);
    assert.equal(closed.reason, "session duration exceeded");
    assert.ok(closed.at - life.openedAt >= 990);
    assert.ok(closed.at - life.openedAt <= 1000 + LATE_MS + 500);
  });

  it("without a deadline: no deadline in the list, the session stays", async () => {
    const life = await open(`ws://127.0.0.1:${port}/plain`);
    await echoed(life, "x");
    const run = await runCli(["sessions", "--server", adminServer, "-o", "json"]);
    const listed = (JSON.parse(run.stdout) as Array<Record<string, unknown>>).find((session) =>
      String(session["route"]).endsWith("/plain"),
    );
    assert.ok(listed !== undefined);
    assert.equal("deadline" in listed, false);
    life.ws.close();
    await life.closed;
  });
});

describe("a client certificate's notAfter (wsgate run)", () => {
  let pki: TestPki;
  let server: CertFiles;
  let client: CertFiles;
  let backend: TestBackend & { seen: Recorded[] };
  let gateway: GatewayProcess;
  let port: number;

  before(async () => {
    pki = await TestPki.create();
    server = await pki.issue({ cn: "localhost", ips: ["127.0.0.1"] });
    // openssl writes whole seconds: at least 3 s from now.
    client = await pki.issue({ cn: "alice", usage: "client", notAfter: new Date(Date.now() + 4000) });
    backend = await recordingBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(`kind: HTTPServer
name: tls-edge
port: ${port}
address: 127.0.0.1
https: true
certFiles:
  - certFile: ${server.certFile}
    keyFile: ${server.keyFile}
caCertFile: ${pki.ca.certFile}
clientAuth: request
rules:
  - paths:
      - path: /ws
        backend: certs
---
${proxyPipeline(
  "certs",
  backend.url,
  `  - kind: Validator
    name: auth
    expiryCloseCode: 4003
    clientCertificate: {}
`,
)}`);
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
    await pki?.cleanup();
  });

  it("closes the session at the certificate's notAfter with the configured code", async () => {
    const notAfter = Date.parse(new (await import("node:crypto")).X509Certificate(client.cert).validTo);
    const life = await open(`wss://127.0.0.1:${port}/ws`, { ca: pki.ca.cert, cert: client.cert, key: client.key });
    await echoed(life, "hi");
    const closed = await withTimeout(life.closed, 8000, "the certificate's close");
    assert.equal(closed.code, 4003);
    assert.equal(closed.reason, "certificate expired");
    assert.ok(closed.at >= notAfter, `closed ${notAfter - closed.at} ms before notAfter`);
    assert.ok(closed.at <= notAfter + LATE_MS + 600);
  });

  it("refuses a connection without a client certificate (403)", async () => {
    await assert.rejects(open(`wss://127.0.0.1:${port}/ws`, { ca: pki.ca.cert }), /status 403/);
  });
});
