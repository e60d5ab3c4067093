// End to end through the real CLI: a session's credential policies (issue 18) move with it at `wsgate upgrade`.
// A session warned before the upgrade is not warned again after it, and is closed when its token ends, by the new
// process; one warned after the upgrade gets its warning once; a token renewal sent after the move is read as before
// (the end moves, the message never reaches the backend; a bad one closes 1008). A moved session's access-log line is
// written by the new process when it ends: its handshake's fields (user agent), its id, its whole duration and all
// its messages.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { WebSocket } from "ws";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { stopPid } from "../helpers/copied-build.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { sessionsByClient } from "../helpers/upgrade-checks.js";
import { upgradeByCli } from "./upgrade-fixture.js";

const SECRET = "wsgate-upgrade-policies-secret";
/** How late a close may come on a loaded machine (five test runs on two cores). */
const LATE_MS = 2500;
const WARNING = "token expires soon";
const USER_AGENT = "policy-test-client/1";

function token(sub: string, expSeconds: number, secret = SECRET): Promise<string> {
  return new SignJWT({ sub })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime(expSeconds)
    .sign(new TextEncoder().encode(secret));
}

function validator(warnBefore: string, renewal: boolean): string {
  return `  - kind: Validator
    name: auth
    expiryCloseCode: 4001
    expiryWarning:
      before: ${warnBefore}
      text: ${WARNING}
    jwt:
      algorithm: HS256
      secret: ${Buffer.from(SECRET).toString("hex")}
      queryParam: token
      clockSkew: 0ms
${renewal ? "      renewal:\n        tokenField: auth.token\n" : ""}`;
}

function pipeline(name: string, backendUrl: string, auth: string): string {
  return `kind: Pipeline
name: ${name}
flow:
  - filter: auth
  - filter: proxy
filters:
${auth}  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ${backendUrl}
`;
}

function config(port: number, backendUrl: string, accessLog: string): string {
  return `kind: HTTPServer
name: edge
port: ${port}
address: 127.0.0.1
accessLog:
  target: ${accessLog}
rules:
  - paths:
      - path: /jwt
        backend: jwt
      - path: /renew
        backend: renew
---
${pipeline("jwt", backendUrl, validator("12s", false))}---
${pipeline("renew", backendUrl, validator("1s", true))}`;
}

/** What a backend connection got: its messages, by the client's first message ("who:<name>"). */
interface Recorded {
  messages: string[];
}

/** A client's life: what it got, in order ("msg:..." and "close:code:reason"), and when it closed. */
interface Life {
  ws: WebSocket;
  localPort: number;
  openedAt: number;
  events: string[];
  closed: Promise<{ code: number; reason: string; at: number }>;
}

function open(url: string): Promise<Life> {
  return withTimeout(
    new Promise<Life>((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { "User-Agent": USER_AGENT } });
      const events: string[] = [];
      const closed = new Promise<{ code: number; reason: string; at: number }>((done) =>
        ws.on("close", (code, reason) => {
          events.push(`close:${code}:${String(reason)}`);
          done({ code, reason: String(reason), at: Date.now() });
        }),
      );
      ws.on("message", (data) => events.push(`msg:${String(data)}`));
      ws.on("unexpected-response", (_req, res) => reject(new Error(`status ${res.statusCode ?? 0}`)));
      ws.on("error", reject);
      ws.on("open", () => {
        const localPort = (ws as unknown as { _socket: { localPort: number } })._socket.localPort;
        resolve({ ws, localPort, openedAt: Date.now(), events, closed });
      });
    }),
    5000,
    `a connection to ${url}`,
  );
}

async function waitFor(life: Life, event: string, ms: number): Promise<void> {
  await withTimeout(
    (async () => {
      while (!life.events.includes(event)) await new Promise((resolve) => setTimeout(resolve, 10));
    })(),
    ms,
    `${event} on the client`,
  );
}

async function echoed(life: Life, text: string): Promise<void> {
  life.ws.send(text);
  await waitFor(life, `msg:${text}`, 3000);
}

const warnings = (life: Life): number => life.events.filter((event) => event === `msg:${WARNING}`).length;

describe("wsgate upgrade: a moved session's credential policies and access line", () => {
  let backend: TestBackend & { seen: Map<string, Recorded> };
  let gateway: GatewayProcess;
  let port: number;
  let dir: string;
  let accessLog: string;
  let newPid = 0;

  before(async () => {
    const seen = new Map<string, Recorded>();
    backend = Object.assign(
      await startBackend({
        onConnection: (socket) => {
          const record: Recorded = { messages: [] };
          socket.on("message", (data, isBinary) => {
            const text = String(data);
            if (text.startsWith("who:")) seen.set(text.slice(4), record);
            record.messages.push(text);
            socket.send(data, { binary: isBinary });
          });
        },
      }),
      { seen },
    );
    dir = mkdtempSync(join(tmpdir(), "wsgate-upgrade-policies-"));
    accessLog = join(dir, "access.log");
    port = await freePort();
    gateway = await GatewayProcess.start(config(port, backend.url, accessLog), { admin: true });
  });

  after(async () => {
    if (newPid !== 0) await stopPid(newPid);
    await gateway?.stop();
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("warns once, closes when due, reads renewals after the move, and logs the moved session's end there", async (t) => {
    const t0 = Math.ceil(Date.now() / 1000);
    // The upgrade has from t0 + 4 to t0 + 15 (11 s: under load a start takes seconds).
    // Warned 12 s before its end: at t0 + 4, before the upgrade; closed at t0 + 16, after it.
    const warnedBefore = await open(`ws://127.0.0.1:${port}/jwt?token=${await token("a", t0 + 16)}`);
    // Warned at t0 + 15 and closed at t0 + 27: both after the upgrade.
    const warnedAfter = await open(`ws://127.0.0.1:${port}/jwt?token=${await token("b", t0 + 27)}`);
    // Renewed after the upgrade from t0 + 15 to t0 + 18 (warned 1 s before its end).
    const renewed = await open(`ws://127.0.0.1:${port}/renew?token=${await token("c", t0 + 15)}`);
    // Renewed after the upgrade with a token of another key: 1008.
    const refused = await open(`ws://127.0.0.1:${port}/renew?token=${await token("d", t0 + 60)}`);
    for (const [life, name] of [
      [warnedBefore, "a"],
      [warnedAfter, "b"],
      [renewed, "c"],
      [refused, "d"],
    ] as const) {
      await echoed(life, `who:${name}`);
      await echoed(life, `before ${name}`);
    }
    const listedBefore = await sessionsByClient(gateway.adminPort);

    await waitFor(warnedBefore, `msg:${WARNING}`, 8000);
    assert.equal(warnings(warnedAfter), 0, "not due yet");

    const { run, figures } = await upgradeByCli(gateway.adminPort);
    newPid = figures.newPid;
    assert.equal(figures.moved, 4, run.stdout);
    const upgradedAt = Date.now();
    t.diagnostic(`upgraded ${upgradedAt - t0 * 1000} ms after t0`);
    assert.ok(upgradedAt < (t0 + 15) * 1000 - 200, "the upgrade was over before the second warning was due");
    const listedAfter = await sessionsByClient(gateway.adminPort);
    assert.equal(listedAfter.size, 4, "the new process serves the four sessions");

    // A renewal after the move: read (never relayed), and the end moves.
    renewed.ws.send(JSON.stringify({ auth: { token: await token("c", t0 + 18) } }));
    await echoed(renewed, "after c");
    const renewedId = listedBefore.get(`127.0.0.1:${renewed.localPort}`)?.id;
    const deadline = async (): Promise<unknown> =>
      (await sessionsByClient(gateway.adminPort)).get(`127.0.0.1:${renewed.localPort}`)?.deadline;
    assert.equal(await deadline(), (t0 + 18) * 1000, `the renewal moved session ${renewedId}'s end`);
    // A bad one closes the session.
    refused.ws.send(JSON.stringify({ auth: { token: await token("d", t0 + 120, "another-secret") } }));
    const refusedClose = await withTimeout(refused.closed, 3000, "the refused renewal's close");
    assert.equal(refusedClose.code, 1008);

    await echoed(warnedBefore, "after a");
    const closes = await withTimeout(
      Promise.all([warnedBefore.closed, warnedAfter.closed, renewed.closed]),
      30_000,
      "the expiry closes",
    );
    assert.deepEqual(
      [warnings(warnedBefore), warnings(warnedAfter), warnings(renewed)],
      [1, 1, 1],
      "each warned exactly once",
    );
    const dues = [(t0 + 16) * 1000, (t0 + 27) * 1000, (t0 + 18) * 1000];
    closes.forEach((close, i) => {
      const due = dues[i] ?? 0;
      assert.equal(close.code, 4001, `session ${i}: ${close.reason}`);
      assert.ok(close.at >= due, `session ${i} closed ${due - close.at} ms before its end`);
      assert.ok(close.at <= due + LATE_MS, `session ${i} closed ${close.at - due} ms after its end`);
    });
    assert.deepEqual(backend.seen.get("c")?.messages, ["who:c", "before c", "after c"], "no renewal relayed");
    assert.deepEqual(backend.seen.get("d")?.messages, ["who:d", "before d"]);

    // The access lines of the moved sessions, from the new process: the handshake's fields, the whole session.
    const idOf = (life: Life): number => Number(listedBefore.get(`127.0.0.1:${life.localPort}`)?.id);
    const lines = await withTimeout(
      (async () => {
        for (;;) {
          const parsed = readFileSync(accessLog, "utf8")
            .split("\n")
            .filter((line) => line !== "")
            .map((line) => JSON.parse(line) as Record<string, unknown>)
            .filter((line) => line["event"] === "websocket_session");
          if (parsed.length >= 4) return parsed;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })(),
      5000,
      "four session lines in the access log",
    );
    const line = lines.find((entry) => entry["session"] === idOf(warnedBefore));
    assert.ok(line !== undefined, `a line for session ${idOf(warnedBefore)}: ${JSON.stringify(lines)}`);
    assert.equal(line["userAgent"], USER_AGENT, "the handshake's fields");
    assert.equal(line["route"], "*/jwt");
    assert.equal(line["closeCode"], 4001);
    assert.equal(line["messagesIn"], 3, "its messages before and after the upgrade");
    const lived = (closes[0]?.at ?? 0) - warnedBefore.openedAt;
    assert.ok(Number(line["durationMs"]) >= lived - 500, `from its start: ${String(line["durationMs"])} vs ${lived}`);
    assert.equal(lines.filter((entry) => entry["session"] === idOf(warnedBefore)).length, 1, "one line, not two");
  });
});
