// End to end: Easegress flow semantics. A filter's failure result with a `jumpIf` continues the flow at the named filter
// (its refusal is dropped); the refusal is sent only when the flow ends on the filter that prepared it (no `jumpIf` for
// the result, or `jumpIf` to END). Flows without a `jumpIf` for a failure answer exactly as before.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { WebSocket } from "ws";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, rawExchange, withTimeout } from "../helpers/net.js";

const SECRET = "wsgate-flow-secret-of-enough-length";
const BASIC_OK = `Basic ${Buffer.from("bob:bob-pass").toString("base64")}`;
const BASIC_WRONG = `Basic ${Buffer.from("bob:wrong").toString("base64")}`;

function token(claims: Record<string, unknown> = { sub: "user-9" }, secret = SECRET): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(secret));
}

/** Resolves with the port of the backend that took the upgrade, or the refusal's status. */
function upgrade(url: string, headers: Record<string, string> = {}): Promise<{ status: number; port?: number }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.on("open", () => {
        ws.once("message", (data) => {
          ws.terminate();
          resolve({ status: 101, port: Number(String(data)) });
        });
      });
      ws.on("unexpected-response", (_req, res) => {
        res.resume();
        ws.terminate();
        resolve({ status: res.statusCode ?? 0 });
      });
      ws.on("error", reject);
    }),
    5000,
    `an upgrade on ${url}`,
  );
}

/** The gateway's whole answer to a raw request, with the Date header (which changes) taken out. */
async function answer(port: number, path: string, headers: Record<string, string> = {}, websocket = true) {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    ...(websocket
      ? [
          "Upgrade: websocket",
          "Connection: Upgrade",
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
          "Sec-WebSocket-Version: 13",
        ]
      : []),
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  const { received } = await rawExchange(port, `${lines.join("\r\n")}\r\n\r\n`, 3000);
  return received.toString("latin1").replace(/^Date: .*\r\n/im, "");
}

describe("flow semantics: jumpIf on failure results (wsgate run)", () => {
  let main: TestBackend;
  let overflow: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let base: string;

  before(async () => {
    // Each backend says its port on connect, so that a test can tell which pool took the session.
    const sayPort = (backend: () => TestBackend) => (socket: WebSocket) => socket.send(String(backend().port));
    main = await startBackend({ onConnection: sayPort(() => main) });
    overflow = await startBackend({ onConnection: sayPort(() => overflow) });
    port = await freePort();
    base = `ws://127.0.0.1:${port}`;
    // Nothing listens there: every attempt on it fails with a connect error.
    const deadUrl = `ws://127.0.0.1:${await freePort()}`;
    const dir = mkdtempSync(join(tmpdir(), "wsgate-flow-"));
    const users = join(dir, "users.htpasswd");
    writeFileSync(users, `bob:{SHA}${createHash("sha1").update("bob-pass").digest("base64")}\n`);

    const proxyTo = (name: string, url: string): string => `
  - kind: WebSocketProxy
    name: ${name}
    pools:
      - servers:
          - url: ${url}`;
    const proxy = (name: string, backend: TestBackend): string => proxyTo(name, backend.url);
    const basic = `
  - kind: Validator
    name: basic
    basicAuth:
      mode: FILE
      userFile: ${users}
      realm: tests`;
    const jwt = `
  - kind: Validator
    name: jwt
    jwt:
      algorithm: HS256
      secret: ${Buffer.from(SECRET).toString("hex")}`;
    const limiter = `
  - kind: RateLimiter
    name: limiter
    policies:
      - name: one
        limitForPeriod: 1
        limitRefreshPeriod: 1h
        timeoutDuration: 0s
    defaultPolicyRef: one`;
    const keys = `
  - kind: Validator
    name: keys
    headers:
      X-Api-Key:
        values: [key-1]`;
    const pipeline = (name: string, flow: string, filters: string): string => `
---
kind: Pipeline
name: ${name}
flow:${flow}
filters:${filters}`;
    const pipelines = [
      // Basic auth OR a JWT: a failed basic check goes on to the JWT check; the proxy appears twice in the flow.
      pipeline(
        "either",
        `
  - filter: basic
    jumpIf: {invalid: jwt}
  - filter: proxy
  - filter: jwt
    jumpIf: {invalid: END}
  - filter: proxy`,
        basic + jwt + proxy("proxy", main),
      ),
      // The same without the proxy twice, and no jumpIf on the JWT check: its refusal is sent as the flow ends on it.
      pipeline(
        "either2",
        `
  - filter: basic
    jumpIf: {invalid: jwt}
  - filter: first
  - filter: jwt
  - filter: second`,
        basic + jwt + proxy("first", main) + proxy("second", main),
      ),
      // Over the limit: the overflow pool takes the session instead of a 429.
      pipeline(
        "overflow",
        `
  - filter: limiter
    jumpIf: {rateLimited: spill}
  - filter: proxy
  - filter: END
  - filter: spill`,
        limiter + proxy("proxy", main) + proxy("spill", overflow),
      ),
      // A jump goes to the first step of that name after the jumping one (Easegress scans on from there).
      pipeline(
        "twice",
        `
  - filter: limiter
    jumpIf: {rateLimited: keys}
  - filter: spill
  - filter: keys
  - filter: proxy
  - filter: keys
  - filter: spill`,
        limiter + keys + proxy("proxy", main) + proxy("spill", overflow),
      ),
      // A failure result jumping to END: the refusal it prepared is the answer; later filters never run.
      pipeline(
        "toend",
        `
  - filter: limiter
    jumpIf: {rateLimited: END}
  - filter: proxy`,
        limiter + proxy("proxy", main),
      ),
      // Flows as they were written before: no jumpIf on a failure, or one to END.
      pipeline("basic", `\n  - filter: basic\n  - filter: proxy`, basic + proxy("proxy", main)),
      pipeline(
        "basicend",
        `\n  - filter: basic\n    jumpIf: {invalid: END}\n  - filter: proxy`,
        basic + proxy("proxy", main),
      ),
      pipeline("jwtonly", `\n  - filter: jwt\n  - filter: proxy`, jwt + proxy("proxy", main)),
      pipeline("headers", `\n  - filter: keys\n  - filter: proxy`, keys + proxy("proxy", main)),
      pipeline("limited", `\n  - filter: limiter\n  - filter: proxy`, limiter + proxy("proxy", main)),
      pipeline(
        "check",
        `\n  - filter: check\n  - filter: proxy`,
        `\n  - kind: WebSocketUpgradeCheck\n    name: check${proxy("proxy", main)}`,
      ),
      // A proxy whose backends all fail returns serverError: with a jumpIf the fallback proxy takes the session.
      pipeline(
        "failover",
        `\n  - filter: dead\n    jumpIf: {serverError: spill}\n  - filter: END\n  - filter: spill`,
        proxyTo("dead", deadUrl) + proxy("spill", overflow),
      ),
      // Without one, the flow ends on it and the client gets its refusal, as before.
      pipeline("deadend", `\n  - filter: dead\n  - filter: spill`, proxyTo("dead", deadUrl) + proxy("spill", overflow)),
      // The upgrade check's invalid result jumping on: plain HTTP reaches a later filter instead of a 426.
      pipeline(
        "checkjump",
        `\n  - filter: check\n    jumpIf: {invalid: keys}\n  - filter: proxy\n  - filter: keys`,
        `\n  - kind: WebSocketUpgradeCheck\n    name: check${keys}${proxy("proxy", main)}`,
      ),
      // No filter answers when the validator passes: the pipeline ends without an answer (500), as before.
      pipeline("noanswer", `\n  - filter: basic`, basic),
    ];
    const paths = ["either", "either2", "overflow", "toend", "basic", "basicend", "jwtonly", "headers", "limited"]
      .concat(["check", "noanswer", "twice", "failover", "deadend", "checkjump"])
      .map((name) => `\n      - path: /${name}\n        backend: ${name}`)
      .join("");
    gateway = await GatewayProcess.start(`
kind: HTTPServer
name: flow-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:${paths}
${pipelines.join("")}`);
  });

  after(async () => {
    await gateway?.stop();
    await main?.close();
    await overflow?.close();
  });

  it("basic auth OR jwt: either credential passes, and neither gets the other check's 401", async () => {
    for (const path of ["/either", "/either2"]) {
      assert.deepEqual(await upgrade(`${base}${path}`, { Authorization: BASIC_OK }), { status: 101, port: main.port });
      const bearer = `Bearer ${await token()}`;
      assert.deepEqual(await upgrade(`${base}${path}`, { Authorization: bearer }), { status: 101, port: main.port });
      assert.deepEqual(await upgrade(`${base}${path}?x=1`, { Authorization: BASIC_WRONG }), { status: 401 });
    }
    // The dropped refusal is told at debug level, since no request_rejected line tells it.
    const [jump] = await gateway.logsMatching((line) => line["event"] === "flow_jump" && line["filter"] === "basic");
    assert.equal(jump?.["result"], "invalid");
    assert.equal(jump?.["to"], "jwt");
    assert.match(String(jump?.["reason"]), /basic auth: /);
  });

  it("basic auth OR jwt: when both fail, the answer is the refusal of the filter the flow ended on (the JWT's)", async () => {
    for (const path of ["/either", "/either2"]) {
      const none = await answer(port, path);
      assert.match(none, /^HTTP\/1\.1 401 /);
      assert.match(none, /^WWW-Authenticate: Bearer realm="wsgate"\r$/m);
      assert.doesNotMatch(none, /Basic realm/);
      const forged = await answer(port, path, {
        Authorization: `Bearer ${await token({}, "another-secret-of-enough-len")}`,
      });
      assert.match(forged, /^WWW-Authenticate: Bearer realm="wsgate", error="invalid_token"/m);
    }
  });

  it("a RateLimiter's rateLimited result jumping to a fallback proxy: the overflow pool takes the session, not a 429", async () => {
    assert.deepEqual(await upgrade(`${base}/overflow`), { status: 101, port: main.port });
    assert.deepEqual(await upgrade(`${base}/overflow`), { status: 101, port: overflow.port });
    assert.deepEqual(await upgrade(`${base}/overflow`), { status: 101, port: overflow.port });
  });

  it("a jump lands on the first step of the target's name after the jumping step, not on a later one", async () => {
    const key = { "X-Api-Key": "key-1" };
    assert.deepEqual(await upgrade(`${base}/twice`, key), { status: 101, port: overflow.port });
    // Limited: on to the first `keys` (index 2), then the main proxy; a jump to the last `keys` would reach the spill.
    assert.deepEqual(await upgrade(`${base}/twice`, key), { status: 101, port: main.port });
    assert.deepEqual(await upgrade(`${base}/twice`), { status: 403 });
  });

  it("jumpIf to END: the refusal the filter prepared is sent and no later filter runs (also after a jump)", async () => {
    const before = main.upgrades.length;
    assert.deepEqual(await upgrade(`${base}/toend`), { status: 101, port: main.port });
    const refused = await answer(port, "/toend");
    assert.match(refused, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
    assert.match(refused, /^Retry-After: \d+\r$/m);
    assert.equal(main.upgrades.length, before + 1, "the proxy after the limiter did not run");
    // /either: basic fails and jumps to jwt, whose invalid result jumps to END: the JWT's refusal, not basic's.
    const ended = await answer(port, "/either", { Authorization: BASIC_WRONG });
    assert.match(ended, /^HTTP\/1\.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="wsgate"\r\n/);
    assert.equal(main.upgrades.length, before + 1, "no proxy ran after END");
  });

  it("a proxy's serverError (every backend failed) jumping to a fallback proxy: the fallback takes the session", async () => {
    assert.deepEqual(await upgrade(`${base}/failover`), { status: 101, port: overflow.port });
    const refused = await upgrade(`${base}/deadend`);
    assert.equal(refused.status, 502, "without a jumpIf the flow ends on the proxy and its refusal is sent");
  });

  it("the upgrade check's invalid result jumping on: the next filter decides, not the check's 426", async () => {
    const plain = await answer(port, "/checkjump", {}, false);
    assert.match(plain, /^HTTP\/1\.1 403 /, "the header Validator's refusal (the filter the flow ended on), not a 426");
    assert.deepEqual(
      await upgrade(`${base}/checkjump`),
      { status: 101, port: main.port },
      "an upgrade passes the check",
    );
  });

  it("flows without a jumpIf for a failure answer exactly as before (whole answers, byte for byte)", async () => {
    const refusal = (status: string, headers: string, body: string): string =>
      `HTTP/1.1 ${status}\r\n${headers}Content-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
    // The limiter of /limited lets its first request through.
    assert.deepEqual(await upgrade(`${base}/limited`), { status: 101, port: main.port });
    const table: Array<[string, Record<string, string>, boolean, string]> = [
      [
        "/basic",
        {},
        true,
        refusal(
          "401 Unauthorized",
          `WWW-Authenticate: Basic realm="tests", charset="UTF-8"\r\n`,
          "basic auth: no credentials\n",
        ),
      ],
      [
        "/basic",
        { Authorization: BASIC_WRONG },
        true,
        refusal(
          "401 Unauthorized",
          `WWW-Authenticate: Basic realm="tests", charset="UTF-8"\r\n`,
          "basic auth: user 'bob' not authenticated\n",
        ),
      ],
      [
        "/basicend",
        {},
        true,
        refusal(
          "401 Unauthorized",
          `WWW-Authenticate: Basic realm="tests", charset="UTF-8"\r\n`,
          "basic auth: no credentials\n",
        ),
      ],
      [
        "/jwtonly",
        {},
        true,
        refusal("401 Unauthorized", `WWW-Authenticate: Bearer realm="wsgate"\r\n`, "jwt: no token\n"),
      ],
      ["/headers", {}, true, refusal("403 Forbidden", "", "header x-api-key missing\n")],
      ["/limited", {}, true, refusal("429 Too Many Requests", "Retry-After: 3600\r\n", "rate limit exceeded\n")],
      [
        "/check",
        {},
        false,
        "HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nConnection: close\r\n" +
          "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 69\r\n\r\n" +
          "this route serves WebSocket only: send an Upgrade: websocket request\n",
      ],
      ["/noanswer", { Authorization: BASIC_OK }, true, refusal("500 Internal Server Error", "", "gateway error\n")],
    ];
    const seen = [];
    for (const [path, headers, websocket] of table) seen.push(await answer(port, path, headers, websocket));
    const expected = table.map(([, , , text]) => text);
    assert.deepEqual(seen, expected);
  });
});
