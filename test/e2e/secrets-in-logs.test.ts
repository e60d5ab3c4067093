// End to end: tokens, Authorization, cookies and the token query parameters never reach a log line (main log and
// access log), the admin sessions list, /metrics or an error body, across refusals, successes and session ends; logged
// paths show the token parameters as REDACTED.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { WebSocket } from "ws";
import { admin } from "../helpers/admin.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { startRecordingBackend, type RecordingBackend } from "../helpers/recording-backend.js";

const SECRET = "secrets-in-logs-test-secret";

function hs256(claims: Record<string, unknown>, options: { secret?: string; exp?: number } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime(options.exp ?? "5m")
    .sign(new TextEncoder().encode(options.secret ?? SECRET));
}

/** A correctly signed HS256 token whose header says `crit: [name]`, which jose will not sign itself. */
function critToken(name: string): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  const signed = `${part({ alg: "HS256", crit: [name], [name]: true })}.${part({ sub: "carol" })}`;
  return `${signed}.${createHmac("sha256", SECRET).update(signed).digest("base64url")}`;
}

/** Sends a raw request (with Connection: close) and resolves with all the answer once the gateway closes. */
function exchange(port: number, target: string, headers: ReadonlyArray<readonly [string, string]> = []) {
  const lines = [`GET ${target} HTTP/1.1`, "Host: gateway.test", "Connection: close"];
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  return withTimeout(
    new Promise<string>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      let text = "";
      socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
      socket.on("close", () => resolve(text));
      socket.on("error", () => resolve(text));
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    }),
    4000,
    `the answer to ${target}`,
  );
}

function statusOf(answer: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
}

describe("secrets stay out of logs, metrics, the sessions list and error bodies (wsgate run)", () => {
  let backend: RecordingBackend;
  let gateway: GatewayProcess;
  let port: number;

  before(async () => {
    backend = await startRecordingBackend();
    port = await freePort();
    const proxies = `
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}
  - kind: WebSocketProxy
    name: wsproxy
    pools:
      - servers:
          - url: ${backend.url.replace("http:", "ws:")}`;
    gateway = await GatewayProcess.start(
      `
kind: HTTPServer
name: secrets-server
port: ${port}
address: 127.0.0.1
accessLog:
  target: stdout
rules:
  - paths:
      - pathPrefix: /guarded
        backend: guarded
      - pathPrefix: /open
        backend: open
---
kind: Pipeline
name: guarded
flow:
  - filter: validator
    jumpIf: {invalid: END}
  - filter: proxy
  - filter: wsproxy
filters:
  - kind: Validator
    name: validator
    jwt:
      algorithm: HS256
      secret: ${Buffer.from(SECRET).toString("hex")}
      cookieName: sid
      queryParam: ticket
      forwardClaims:
        sub: X-User${proxies}
---
kind: Pipeline
name: open
flow:
  - filter: proxy
  - filter: wsproxy
filters:${proxies}
`,
      { admin: true },
    );
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  it("regression: no token, Authorization, cookie or token parameter value appears anywhere; paths show REDACTED", async () => {
    const sessionToken = await hs256({ sub: "alice" });
    const cookieToken = await hs256({ sub: "bob" });
    const wrongKey = await hs256({ sub: "mallory" }, { secret: "not-the-secret" });
    const expired = await hs256({ sub: "eve" }, { exp: Math.floor(Date.now() / 1000) - 3600 });
    const critical = critToken("SecretCritMarker");
    const basic = Buffer.from("operator:basic-password-marker").toString("base64");
    const secrets = [
      sessionToken,
      cookieToken,
      wrongKey,
      expired,
      critical,
      "SecretCritMarker",
      basic,
      "open-token-marker",
      "open-cookie-marker",
      "duplicate-ticket-marker",
      "semicolon-ticket-marker",
    ];
    const bodies: string[] = [];
    // Checked after the leaks, so that both show when both are wrong.
    const wrongStatus: string[] = [];
    const answer = async (
      status: number,
      target: string,
      headers: ReadonlyArray<readonly [string, string]> = [],
    ): Promise<void> => {
      const text = await exchange(port, target, headers);
      if (statusOf(text) !== status) wrongStatus.push(`${target}: ${statusOf(text)}, not ${status}`);
      // The gateway's own answers; a success's body is the backend's (the recording backend echoes the target).
      if (status >= 400) bodies.push(text);
    };

    // Refusals: a token that does not verify, an expired one, one with an unknown critical header, two copies.
    await answer(401, `/guarded/ws?ticket=${wrongKey}&x=1`);
    await answer(401, "/guarded/api", [["Authorization", `Bearer ${expired}`]]);
    await answer(401, `/guarded/api?ticket=${critical}`);
    await answer(400, `/guarded/api?ticket=duplicate-ticket-marker&ticket=${sessionToken}`);
    await answer(401, "/guarded/api?x=1;ticket=semicolon-ticket-marker");
    await answer(400, "/guarded/api", [
      ["Authorization", `Basic ${basic}`],
      ["Authorization", `Bearer ${expired}`],
    ]);
    // Successes: a cookie on a plain request, the documented query parameter on a WebSocket; an open route's own.
    await answer(200, "/guarded/api", [["Cookie", `theme=dark; sid=${cookieToken}`]]);
    await answer(200, "/open/page?access_token=open-token-marker&q=1", [
      ["Authorization", `Basic ${basic}`],
      ["Cookie", "sid=open-cookie-marker"],
    ]);

    const ws = new WebSocket(`ws://127.0.0.1:${port}/guarded/ws?ticket=${sessionToken}&room=7`);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.on("open", () => resolve());
        ws.on("error", reject);
      }),
      3000,
      "the session to open",
    );
    const sessions = await admin(gateway.adminPort, "GET", "/apis/v2/sessions");
    assert.equal(sessions.status, 200);
    const metrics = await admin(gateway.adminPort, "GET", "/metrics");
    assert.equal(metrics.status, 200);
    ws.close();
    await gateway.logsMatching((line) => line.event === "websocket_session" && line.msg === undefined, 1);
    await gateway.logsMatching((line) => line.msg === "websocket session ended", 1);
    const metricsAfter = await admin(gateway.adminPort, "GET", "/metrics");

    const places: ReadonlyArray<readonly [string, string]> = [
      ...gateway.logs.map((line, index) => [`log line ${index}`, JSON.stringify(line)] as const),
      ["the sessions list", sessions.text],
      ["/metrics during the session", metrics.text],
      ["/metrics after the session", metricsAfter.text],
      ...bodies.map((body, index) => [`answer ${index}`, body] as const),
    ];
    const leaks: string[] = [];
    for (const secret of secrets) {
      const signature = secret.split(".").at(-1) ?? secret;
      for (const [where, text] of places) {
        if (text.includes(secret) || text.includes(signature)) leaks.push(`${where} shows ${secret.slice(0, 24)}`);
      }
    }
    assert.deepEqual(leaks, []);
    assert.deepEqual(wrongStatus, []);

    // The paths are still there, their token parameters redacted.
    const paths = gateway.logs.map((line) => line.path).filter((path) => typeof path === "string");
    for (const expected of [
      "/guarded/ws?ticket=REDACTED&x=1",
      "/guarded/api?ticket=REDACTED&ticket=REDACTED",
      "/guarded/api?x=1;ticket=REDACTED",
      "/open/page?access_token=REDACTED&q=1",
      "/guarded/ws?ticket=REDACTED&room=7",
    ]) {
      assert.ok(paths.includes(expected), `a log line with path ${expected}; paths: ${JSON.stringify(paths)}`);
    }
    const sessionEnd = gateway.logs.find((line) => line.msg === "websocket session ended");
    assert.equal(sessionEnd?.path, "/guarded/ws?ticket=REDACTED&room=7");
  });
});
