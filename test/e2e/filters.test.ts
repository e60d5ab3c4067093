// End to end: the handshake filters (WebSocketUpgradeCheck, Validator, RateLimiter), WebSocketProxy's origin
// allowlist and connection limits, and HTTPServer's ipFilter, through the real CLI on 127.0.0.1.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import { appendFileSync, mkdtempSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import bcrypt from "bcryptjs";
import { SignJWT, exportJWK, exportSPKI, generateKeyPair } from "jose";
import { WebSocket } from "ws";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, rawExchange, statusOf, withTimeout } from "../helpers/net.js";

const SECRET = "wsgate-test-secret-of-enough-length";

interface Attempt {
  status: number;
  headers: http.IncomingHttpHeaders;
  ws: WebSocket | undefined;
}

/** Opens a WebSocket; resolves with 101 and the open socket, or the refusal's status and headers. */
function attempt(url: string, headers: Record<string, string> = {}): Promise<Attempt> {
  return withTimeout(
    new Promise<Attempt>((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.on("open", () => resolve({ status: 101, headers: {}, ws }));
      ws.on("unexpected-response", (_req, res) => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, ws: undefined });
        res.resume();
        ws.terminate();
      });
      ws.on("error", (error) => reject(error));
    }),
    5000,
    `a handshake on ${url}`,
  );
}

async function statusFor(url: string, headers: Record<string, string> = {}): Promise<number> {
  const result = await attempt(url, headers);
  result.ws?.terminate();
  return result.status;
}

function hs256(claims: Record<string, unknown>, expiresIn: string | number = "5m", secret = SECRET): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

describe("handshake filters (wsgate run)", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let jwks: http.Server;
  let esKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  let rsKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  let edKey: Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];
  let base: string;
  let users: string;

  before(async () => {
    backend = await startBackend();
    port = await freePort();
    base = `ws://127.0.0.1:${port}`;
    const keys = await generateKeyPair("ES256");
    esKey = keys.privateKey;
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: "k1", alg: "ES256" };
    jwks = http.createServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    const jwksPort = (jwks.address() as AddressInfo).port;

    const dir = mkdtempSync(join(tmpdir(), "wsgate-filters-"));
    const rs = await generateKeyPair("RS256");
    rsKey = rs.privateKey;
    const rsPem = await exportSPKI(rs.publicKey);
    const ed = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    edKey = ed.privateKey;
    const jwksFile = join(dir, "jwks.json");
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(ed.publicKey)), kid: "ed" }] }));
    users = join(dir, "users.htpasswd");
    const sha = createHash("sha1").update("sha-pass").digest("base64");
    writeFileSync(users, `alice:${bcrypt.hashSync("alice-pass", 4).replace("$2b$", "$2y$")}\nbob:{SHA}${sha}\n`);

    const proxy = (extra = ""): string => `
  - kind: WebSocketProxy
    name: proxy${extra}
    pools:
      - servers:
          - url: ${backend.url}`;
    const pipeline = (name: string, filters: string, flow: string, proxyExtra = ""): string => `
---
kind: Pipeline
name: ${name}
flow:${flow}
  - filter: proxy
filters:${filters}${proxy()}${proxyExtra}`;
    const path = (p: string, pipe: string, extra = ""): string => `
      - path: ${p}
        backend: ${pipe}${extra}`;

    gateway = await GatewayProcess.start(`
kind: HTTPServer
name: filters-server
port: ${port}
address: 127.0.0.1
xForwardedFor: true
trustedProxies: [127.0.0.1]
rules:
  - paths:${path("/check", "check")}${path("/headers", "headers")}${path("/jwt", "jwt")}${path("/jwks", "jwks")}${path(
    "/basic",
    "basic",
  )}${path("/rate", "rate")}${path("/conn", "conn")}${path("/msgrate", "msgrate")}${path("/rsa", "rsa")}${path("/eddsa", "eddsa")}${path(
    "/ratewait",
    "ratewait",
  )}${path("/ratekey", "ratekey")}${path("/perip", "perip")}${path(
    "/xff",
    "plain",
    `
        ipFilter:
          blockIPs: [203.0.113.0/24]`,
  )}${path("/msgclose", "msgclose")}${path("/origin", "origin")}${path(
    "/blocked",
    "plain",
    `
        ipFilter:
          blockIPs: [127.0.0.0/8]`,
  )}${path(
    "/allowed",
    "plain",
    `
        ipFilter:
          blockByDefault: true
          allowIPs: [127.0.0.1/32, "::1"]`,
  )}
${pipeline(
  "check",
  `
  - kind: WebSocketUpgradeCheck
    name: upgrade`,
  `
  - filter: upgrade`,
)}
${pipeline(
  "headers",
  `
  - kind: Validator
    name: validator
    headers:
      X-Api-Key:
        values: [key-1, key-2]
      X-Version:
        regexp: "^v[0-9]+$"`,
  `
  - filter: validator
    jumpIf: {invalid: END}`,
)}
${pipeline(
  "jwt",
  `
  - kind: Validator
    name: validator
    jwt:
      algorithm: HS256
      secret: ${Buffer.from(SECRET).toString("hex")}
      cookieName: session
      queryParam: access_token
      clockSkew: 1s
      issuer: wsgate-tests
      forwardClaims:
        sub: X-User`,
  `
  - filter: validator
    jumpIf: {invalid: END}`,
)}
${pipeline(
  "jwks",
  `
  - kind: Validator
    name: validator
    jwt:
      algorithms: [ES256]
      jwksUrl: http://127.0.0.1:${jwksPort}/jwks.json`,
  `
  - filter: validator`,
)}
${pipeline(
  "rsa",
  `
  - kind: Validator
    name: validator
    jwt:
      algorithm: RS256
      publicKey: |
${rsPem
  .trim()
  .split("\n")
  .map((line) => `        ${line}`)
  .join("\n")}`,
  `
  - filter: validator`,
)}
${pipeline(
  "eddsa",
  `
  - kind: Validator
    name: validator
    jwt:
      algorithm: EdDSA
      jwksFile: ${jwksFile}`,
  `
  - filter: validator`,
)}
${pipeline(
  "ratewait",
  `
  - kind: RateLimiter
    name: limiter
    policies:
      - name: slow
        limitForPeriod: 1
        limitRefreshPeriod: 300ms
        timeoutDuration: 2s
    defaultPolicyRef: slow`,
  `
  - filter: limiter`,
)}
${pipeline(
  "ratekey",
  `
  - kind: RateLimiter
    name: limiter
    keyBy: header
    headerName: X-Api-Key
    policies:
      - name: one
        limitForPeriod: 1
        limitRefreshPeriod: 1h
        timeoutDuration: 0s
    urls:
      - url: {exact: /ratekey}
        policyRef: one`,
  `
  - filter: limiter`,
)}
${pipeline(
  "basic",
  `
  - kind: Validator
    name: validator
    basicAuth:
      mode: FILE
      userFile: ${users}
      realm: tests`,
  `
  - filter: validator
    jumpIf: {invalid: END}`,
)}
${pipeline(
  "rate",
  `
  - kind: RateLimiter
    name: limiter
    policies:
      - name: five
        limitForPeriod: 5
        limitRefreshPeriod: 1h
        timeoutDuration: 0s
    defaultPolicyRef: five`,
  `
  - filter: limiter
    jumpIf: {rateLimited: END}`,
)}
---
kind: Pipeline
name: conn
flow:
  - filter: proxy
filters:${proxy()}
    maxConnections: 5
---
kind: Pipeline
name: perip
flow:
  - filter: proxy
filters:${proxy()}
    maxConnectionsPerIP: 2
---
kind: Pipeline
name: msgrate
flow:
  - filter: proxy
filters:${proxy()}
    clientMaxMsgRate: 10
---
kind: Pipeline
name: msgclose
flow:
  - filter: proxy
filters:${proxy()}
    clientMaxMsgRate: 5
    rateLimitAction: close
---
kind: Pipeline
name: origin
flow:
  - filter: proxy
filters:${proxy()}
    originPatterns: ["*.example.com", "example.org:8443"]
---
kind: Pipeline
name: plain
flow:
  - filter: proxy
filters:${proxy()}
`);
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
    await new Promise<void>((resolve) => (jwks ? jwks.close(() => resolve()) : resolve()));
  });

  it("WebSocketUpgradeCheck: 426 with Upgrade for plain HTTP, 400 for a malformed handshake, a valid one passes", async () => {
    const plain = await rawExchange(port, `GET /check HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    assert.equal(statusOf(plain.received), 426);
    assert.match(plain.received.toString("latin1"), /\r\nUpgrade: websocket\r\n/i);
    const badKey = await rawExchange(
      port,
      `GET /check HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: nope\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    assert.equal(statusOf(badKey.received), 400);
    assert.equal(await statusFor(`${base}/check`), 101);
  });

  it("Validator headers: 403 when a rule fails, jumpIf invalid: END keeps the answer; matching values pass", async () => {
    assert.equal(await statusFor(`${base}/headers`), 403);
    assert.equal(await statusFor(`${base}/headers`, { "X-Api-Key": "key-3", "X-Version": "v1" }), 403);
    assert.equal(await statusFor(`${base}/headers`, { "X-Api-Key": "key-2", "X-Version": "beta" }), 403);
    assert.equal(await statusFor(`${base}/headers`, { "X-Api-Key": "key-2", "X-Version": "v12" }), 101);
  });

  it("Validator jwt: a token from the Bearer header, a cookie or the query; the sub claim reaches the backend", async () => {
    const token = await hs256({ sub: "user-7", iss: "wsgate-tests" });
    const before = backend.upgrades.length;
    assert.equal(await statusFor(`${base}/jwt`, { Authorization: `Bearer ${token}`, "X-User": "forged" }), 101);
    assert.equal(await statusFor(`${base}/jwt`, { Cookie: `a=b; session=${token}` }), 101);
    assert.equal(await statusFor(`${base}/jwt?access_token=${token}`), 101);
    const seen = backend.upgrades.slice(before).map((req) => req.headers["x-user"]);
    assert.deepEqual(seen, ["user-7", "user-7", "user-7"], "the claim replaces a client's own X-User");
  });

  it("Validator jwt: missing, expired, wrong-signature and wrong-issuer tokens get 401 with WWW-Authenticate", async () => {
    const missing = await attempt(`${base}/jwt`);
    assert.equal(missing.status, 401);
    assert.match(String(missing.headers["www-authenticate"]), /^Bearer realm=/);
    const expired = await hs256({ sub: "u", iss: "wsgate-tests" }, Math.floor(Date.now() / 1000) - 60);
    const forged = await hs256({ sub: "u", iss: "wsgate-tests" }, "5m", "another-secret-of-enough-length!!");
    const foreign = await hs256({ sub: "u", iss: "someone-else" });
    for (const token of [expired, forged, foreign]) {
      const result = await attempt(`${base}/jwt`, { Authorization: `Bearer ${token}` });
      assert.equal(result.status, 401);
      assert.match(String(result.headers["www-authenticate"]), /error="invalid_token"/);
    }
    const line = await gateway.nextLog((entry) => String(entry.reason).includes("token expired"));
    assert.equal(JSON.stringify(line).includes(expired), false, "the token is never logged");
  });

  it("Validator jwt with a JWKS URL (ES256): a signed token passes, an unsigned claim set does not", async () => {
    const token = await new SignJWT({ sub: "es" })
      .setProtectedHeader({ alg: "ES256", kid: "k1" })
      .setExpirationTime("5m")
      .sign(esKey);
    assert.equal(await statusFor(`${base}/jwks`, { Authorization: `Bearer ${token}` }), 101);
    const hmac = await hs256({ sub: "es" });
    assert.equal(await statusFor(`${base}/jwks`, { Authorization: `Bearer ${hmac}` }), 401);
  });

  it("Validator jwt with an RS256 public key (PEM) and an EdDSA key from a JWKS file", async () => {
    const rs = await new SignJWT({ sub: "rs" })
      .setProtectedHeader({ alg: "RS256" })
      .setExpirationTime("5m")
      .sign(rsKey);
    assert.equal(await statusFor(`${base}/rsa`, { Authorization: `Bearer ${rs}` }), 101);
    const ed = await new SignJWT({ sub: "ed" })
      .setProtectedHeader({ alg: "EdDSA", kid: "ed" })
      .setExpirationTime("5m")
      .sign(edKey);
    assert.equal(await statusFor(`${base}/eddsa`, { Authorization: `Bearer ${ed}` }), 101);
    assert.equal(await statusFor(`${base}/eddsa`, { Authorization: `Bearer ${rs}` }), 401);
    assert.equal(await statusFor(`${base}/rsa`, { Authorization: `Bearer ${ed}` }), 401);
  });

  it("Validator basicAuth: bcrypt ($2y$) and {SHA} users pass, a wrong password gets 401 Basic", async () => {
    const basic = (user: string, password: string): Record<string, string> => ({
      Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
    });
    assert.equal(await statusFor(`${base}/basic`, basic("alice", "alice-pass")), 101);
    assert.equal(await statusFor(`${base}/basic`, basic("bob", "sha-pass")), 101);
    const wrong = await attempt(`${base}/basic`, basic("alice", "nope"));
    assert.equal(wrong.status, 401);
    assert.match(String(wrong.headers["www-authenticate"]), /^Basic realm="tests"/);
    assert.equal((await attempt(`${base}/basic`)).status, 401);
    // The file is read again when it changes (checked at most once a second).
    assert.equal(await statusFor(`${base}/basic`, basic("carol", "carol-pass")), 401);
    appendFileSync(users, `carol:${bcrypt.hashSync("carol-pass", 4)}\n`);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    assert.equal(await statusFor(`${base}/basic`, basic("carol", "carol-pass")), 101);
    const line = await gateway.nextLog((entry) => String(entry.reason).includes("user 'alice' not authenticated"));
    assert.equal(JSON.stringify(line).includes("nope"), false, "the password is never logged");
  });

  it("RateLimiter: 20 concurrent handshakes with a limit of 5 → exactly 5 pass, the rest get 429 with Retry-After", async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => attempt(`${base}/rate`)));
    for (const result of results) result.ws?.terminate();
    assert.equal(results.filter((result) => result.status === 101).length, 5);
    const refused = results.filter((result) => result.status === 429);
    assert.equal(refused.length, 15);
    for (const result of refused) assert.ok(Number(result.headers["retry-after"]) >= 1);
  });

  it("RateLimiter timeoutDuration: 3 concurrent handshakes at 1 per 300 ms all pass, the last after about 600 ms", async () => {
    const started = Date.now();
    const statuses = await Promise.all([1, 2, 3].map(() => statusFor(`${base}/ratewait`)));
    assert.deepEqual(statuses, [101, 101, 101]);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 300 && elapsed < 3000, `waited for tokens: ${elapsed} ms`);
  });

  it("RateLimiter keyBy header: each X-Api-Key value has its own bucket", async () => {
    assert.equal(await statusFor(`${base}/ratekey`, { "X-Api-Key": "a" }), 101);
    assert.equal(await statusFor(`${base}/ratekey`, { "X-Api-Key": "a" }), 429);
    assert.equal(await statusFor(`${base}/ratekey`, { "X-Api-Key": "b" }), 101);
  });

  it("maxConnections: 20 concurrent handshakes with a limit of 5 → exactly 5 sessions; a closed one frees its place", async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => attempt(`${base}/conn`)));
    const open = results.flatMap((result) => (result.ws === undefined ? [] : [result.ws]));
    assert.equal(open.length, 5);
    assert.equal(results.filter((result) => result.status === 429).length, 15);
    const first = open.shift() as WebSocket;
    await new Promise<void>((resolve) => {
      first.once("close", () => resolve());
      first.close();
    });
    // The place is released when the session's log line is written.
    await gateway.nextLog((line) => line.event === "websocket_session" && line.path === "/conn");
    const again = await attempt(`${base}/conn`);
    assert.equal(again.status, 101);
    again.ws?.terminate();
    for (const ws of open) ws.terminate();
  });

  it("maxConnectionsPerIP: 6 concurrent handshakes from each of two addresses with a limit of 2 → 2 sessions each", async () => {
    const from = (ip: string): Promise<Attempt> => attempt(`${base}/perip`, { "X-Forwarded-For": ip });
    const results = await Promise.all([
      ...Array.from({ length: 6 }, () => from("198.51.100.1")),
      ...Array.from({ length: 6 }, () => from("198.51.100.2")),
    ]);
    const statuses = results.map((result) => result.status);
    for (const result of results) result.ws?.terminate();
    assert.deepEqual(
      [statuses.slice(0, 6).filter((s) => s === 101).length, statuses.slice(6).filter((s) => s === 101).length],
      [2, 2],
    );
    assert.equal(statuses.filter((s) => s === 429).length, 8);
  });

  it("clientMaxMsgRate: a client sending 40 messages back to back at 10/s is slowed to about 3 s, never disconnected", async () => {
    const opened = await attempt(`${base}/msgrate`);
    const ws = opened.ws as WebSocket;
    let closed = false;
    ws.on("close", () => (closed = true));
    const started = Date.now();
    // Each message goes as soon as the previous one's echo is back: unlimited, that is hundreds per second.
    const echoed = new Promise<void>((resolve) => {
      let count = 0;
      ws.on("message", () => {
        if (++count === 40) resolve();
        else ws.send(`message ${count}`);
      });
    });
    ws.send("message 0");
    await withTimeout(echoed, 15_000, "40 echoes");
    const elapsed = Date.now() - started;
    // A burst of 10, then 30 at 10/s: about 3 s. Loosely: at least half of that, at most three times.
    assert.ok(elapsed >= 1500, `slowed down: ${elapsed} ms`);
    assert.ok(elapsed <= 9000, `not stalled: ${elapsed} ms`);
    assert.equal(closed, false, "the client is never disconnected");
    ws.close();
  });

  it("rateLimitAction: close: a client over its message rate gets 1008", async () => {
    const opened = await attempt(`${base}/msgclose`);
    const ws = opened.ws as WebSocket;
    const code = new Promise<number>((resolve) => ws.on("close", (closeCode) => resolve(closeCode)));
    for (let i = 0; i < 20; i++) ws.send(`message ${i}`);
    assert.equal(await withTimeout(code, 5000, "the close"), 1008);
  });

  it("originPatterns: matching origins and requests without Origin pass, another origin gets 403", async () => {
    assert.equal(await statusFor(`${base}/origin`, { Origin: "https://app.example.com" }), 101);
    assert.equal(await statusFor(`${base}/origin`, { Origin: "https://example.org:8443" }), 101);
    assert.equal(await statusFor(`${base}/origin`), 101);
    assert.equal(await statusFor(`${base}/origin`, { Origin: "https://evil.com" }), 403);
    assert.equal(await statusFor(`${base}/origin`, { Origin: "https://example.org" }), 403);
    assert.equal(await statusFor(`${base}/origin`, { Origin: "https://app.example.com.evil.com" }), 403);
  });

  it("ipFilter on a path: a blocked range gets 403, an allow list with blockByDefault lets 127.0.0.1 in", async () => {
    assert.equal(await statusFor(`${base}/blocked`), 403);
    const plain = await rawExchange(port, `GET /blocked HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    assert.equal(statusOf(plain.received), 403);
    assert.equal(await statusFor(`${base}/allowed`), 101);
  });

  it("ipFilter with xForwardedFor: true judges the X-Forwarded-For address", async () => {
    assert.equal(await statusFor(`${base}/xff`, { "X-Forwarded-For": "203.0.113.9, 127.0.0.1" }), 403);
    assert.equal(await statusFor(`${base}/xff`, { "X-Forwarded-For": "198.51.100.9" }), 101);
    assert.equal(await statusFor(`${base}/xff`), 101);
  });
});
