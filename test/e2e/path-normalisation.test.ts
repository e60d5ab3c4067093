// End to end, issue 15 item 4: no encoding of a request path reaches a protected route through a public one. Each
// variant is either refused (400) or reaches a backend, which reads it with WHATWG URL, as the normalised path the
// gateway routed on. Backends record what they received (test/helpers/recording-backend.ts).
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, statusOf, withTimeout } from "../helpers/net.js";
import { startRecordingBackend, type RecordedRequest, type RecordingBackend } from "../helpers/recording-backend.js";

const PROTECTED = ["/admin/", "/ipadmin/", "/wsadmin/"];
const API_KEY = "paths-test-key";

/** What a backend that normalises with WHATWG URL takes the path to be. */
function whatwgPath(url: string): string {
  return new URL(url, "http://x").pathname;
}

function isProtected(path: string): boolean {
  return PROTECTED.some((prefix) => path.startsWith(prefix));
}

/** Sends one request as raw bytes (the target byte for byte) and resolves with the status once the head is in. */
function send(port: number, target: string, variant: string, options: { upgrade?: boolean; apiKey?: boolean } = {}) {
  const lines = [`GET ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, `X-Variant: ${variant}`];
  if (options.apiKey === true) lines.push(`X-Api-Key: ${API_KEY}`);
  if (options.upgrade === true) {
    lines.push("Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13");
    lines.push("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
  } else {
    lines.push("Connection: close");
  }
  return withTimeout(
    new Promise<number>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      let head = Buffer.alloc(0);
      const finish = (): void => {
        socket.destroy();
        resolve(statusOf(head));
      };
      socket.on("data", (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        if (head.includes("\r\n\r\n")) finish();
      });
      socket.on("close", finish);
      socket.on("error", finish);
      socket.write(Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"));
    }),
    3000,
    `an answer to ${target}`,
  );
}

/** A variant and what must become of it: refused with 400, or routed on this normalised path (+ query). */
type Row = [target: string, expected: 400 | string];

// Plain HTTP through Proxy; "{A}" is replaced by the gateway's own authority.
const HTTP_ROWS: Row[] = [
  ["/public/../admin/x", "/admin/x"],
  ["/public/%2e%2e/admin/x", "/admin/x"],
  ["/public/%2E%2e/admin/x", "/admin/x"],
  ["/public/.%2e/admin/x", "/admin/x"],
  ["/public/%2e./admin/x", "/admin/x"],
  ["/public/./../admin/x", "/admin/x"],
  ["/./admin/x", "/admin/x"],
  ["/%2e/admin/x", "/admin/x"],
  ["//admin/x", "/admin/x"],
  ["///admin/x", "/admin/x"],
  ["/public//../admin/x", "/admin/x"],
  ["/public/%2e%2e/%2e%2e/admin/x", "/admin/x"],
  ["/public/../../../../admin/x", "/admin/x"],
  ["/public/y/../../admin/x", "/admin/x"],
  ["/%61dmin/x", "/admin/x"],
  ["/%61%64%6D%69%6e/x", "/admin/x"],
  ["/admin/x/..", "/admin/"],
  ["/admin/x/%2e%2e/", "/admin/"],
  ["/x/../ipadmin/x", "/ipadmin/x"],
  ["/public/%2e%2e/ipadmin/x", "/ipadmin/x"],
  ["/public/../wsadmin/feed", "/wsadmin/feed"],
  ["http://{A}/public/../admin/x", "/admin/x"],
  ["HTTP://{A}/public/%2e%2e/admin/x", "/admin/x"],
  ["http://{A}/x/./../ipadmin/x?q=1", "/ipadmin/x?q=1"],
  ["/public/..", "/"],
  ["/public/%2e%2e", "/"],
  ["/public/.", "/public/"],
  ["/public/%2e", "/public/"],
  ["/public/%252e%252e/admin/x", "/public/%252e%252e/admin/x"],
  ["/public/%25%32%65%25%32%65/admin/x", "/public/%252e%252e/admin/x"],
  ["/public/%c0%ae%c0%ae/admin/x", "/public/%C0%AE%C0%AE/admin/x"],
  ["/public/%C0%AE%C0%AE%2Fadmin", 400],
  ["/public/caf%c3%a9", "/public/caf%C3%A9"],
  ["/public/%e2%80%ae/x", "/public/%E2%80%AE/x"],
  ["/public?/../admin/x", "/public?/../admin/x"],
  ["/public?a=%2e%2e/admin&b=\\;", "/public?a=%2e%2e/admin&b=\\;"],
  ["/ADMIN/x", "/ADMIN/x"],
  ["/admin./x", "/admin./x"],
  ["/public/...", "/public/..."],
  ["/public/x.", "/public/x."],
  ["/public\\..\\admin\\x", 400],
  ["/\\admin\\x", 400],
  ["/public/%5c../admin/x", 400],
  ["/public/..%5C..%5Cadmin/x", 400],
  ["/public/..%2fadmin/x", 400],
  ["/public/%2e%2e%2fadmin/x", 400],
  ["/public/%2F", 400],
  ["/public/;x/../admin/x", 400],
  ["/public/..;/admin/x", 400],
  ["/public;jsessionid=1/../admin/x", 400],
  ["/public/x;jsessionid=1", 400],
  ["/public/%00/../admin/x", 400],
  ["/public/..%00/admin/x", 400],
  ["/public/%0d%0a/../admin/x", 400],
  ["/public/%zz/../admin/x", 400],
  ["/public/%/../admin/x", 400],
  ["/public/%2/../admin/x", 400],
  ["/public#/../admin/x", 400],
  ["/public?#/../admin/x", 400],
  ["http://evil.test/admin/x", 400],
  ["http://evil.test/public/../admin/x", 400],
  ["http://user@{A}/admin/x", 400],
  ["*", 400],
];

// WebSocket upgrades through WebSocketProxy: "/ws/" is public, "/wsadmin/" needs the API key.
const WS_ROWS: Row[] = [
  ["/ws/feed", "/ws/feed"],
  ["/ws/x/%2e%2e/feed", "/ws/feed"],
  ["/ws/../wsadmin/feed", "/wsadmin/feed"],
  ["/ws/%2e%2e/wsadmin/feed", "/wsadmin/feed"],
  ["/ws/.%2E/wsadmin/feed", "/wsadmin/feed"],
  ["//wsadmin/feed", "/wsadmin/feed"],
  ["http://{A}/ws/../wsadmin/feed", "/wsadmin/feed"],
  ["/ws/..\\wsadmin\\feed", 400],
  ["/ws/..%2fwsadmin/feed", 400],
  ["/ws/;x/../../wsadmin/feed", 400],
  ["/ws/..;/wsadmin/feed", 400],
];

// The RateLimiter's `urls` (prefix /rl/login, one request an hour) after one /rl/login: each of these is that URL.
const RATE_LIMITED = [
  "/rl/%6Cogin",
  "/rl/%6cogin",
  "/rl/%6C%6F%67%69%6E",
  "/rl/./login",
  "/rl/x/../login",
  "/rl/%2e/login",
  "/rl//login",
  "/rl/login/",
  "http://{A}/rl/x/%2e%2e/login",
];

describe("path normalisation: encodings against protected routes (wsgate run)", () => {
  let publicBackend: RecordingBackend;
  let protectedBackend: RecordingBackend;
  let gateway: GatewayProcess;
  let port: number;
  /** A second HTTPServer with the same rules and allowBackslash, allowPathParameters, allowEncodedSlash on. */
  let lenientPort: number;

  before(async () => {
    publicBackend = await startRecordingBackend();
    protectedBackend = await startRecordingBackend();
    port = await freePort();
    lenientPort = await freePort();
    const proxy = (url: string): string => `
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${url}`;
    const wsProxy = (url: string): string => `
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ${url}`;
    const validator = `
  - kind: Validator
    name: validator
    headers:
      X-Api-Key:
        values: [${API_KEY}]`;
    const guarded = `
  - filter: validator
    jumpIf: {invalid: END}
  - filter: proxy`;
    const server = (name: string, serverPort: number, extra = ""): string => `
kind: HTTPServer
name: ${name}
port: ${serverPort}
address: 127.0.0.1${extra}
rules:
  - paths:
      - pathPrefix: /admin/
        backend: admin
      - pathPrefix: /ipadmin/
        backend: ipadmin
        ipFilter:
          blockIPs: [127.0.0.0/8]
      - pathPrefix: /wsadmin/
        backend: wsadmin
      - pathPrefix: /ws/
        backend: ws
      - pathPrefix: /rl/
        backend: rl
      - pathPrefix: /
        backend: public`;
    const lenient = `
allowBackslash: true
allowPathParameters: true
allowEncodedSlash: true`;
    gateway = await GatewayProcess.start(
      `${server("paths-server", port)}
---${server("lenient-server", lenientPort, lenient)}
---
kind: Pipeline
name: admin
flow:${guarded}
filters:${validator}${proxy(protectedBackend.url)}
---
kind: Pipeline
name: ipadmin
filters:${proxy(protectedBackend.url)}
---
kind: Pipeline
name: wsadmin
flow:${guarded}
filters:${validator}${wsProxy(protectedBackend.url)}
---
kind: Pipeline
name: ws
filters:${wsProxy(publicBackend.url)}
---
kind: Pipeline
name: rl
flow:
  - filter: limiter
    jumpIf: {rateLimited: END}
  - filter: proxy
filters:
  - kind: RateLimiter
    name: limiter
    policies:
      - name: login
        limitForPeriod: 1
        limitRefreshPeriod: 1h
        timeoutDuration: 0s
    urls:
      - url: {prefix: /rl/login}
        policyRef: login${proxy(publicBackend.url)}
---
kind: Pipeline
name: public
filters:${proxy(publicBackend.url)}
`,
      { servers: 2 },
    );
  });

  after(async () => {
    await gateway?.stop();
    await publicBackend?.close();
    await protectedBackend?.close();
  });

  const withAuthority = (target: string): string => target.replace("{A}", `127.0.0.1:${port}`);

  /** The one request the public backend got for `variant`, if any. */
  const arrived = (backend: RecordingBackend, variant: string): RecordedRequest | undefined =>
    backend.requests.find((request) => request.headers["x-variant"] === variant);

  async function check(variant: string, target: string, expected: 400 | string, upgrade: boolean): Promise<void> {
    const status = await send(port, withAuthority(target), variant, { upgrade });
    if (expected === 400) {
      assert.equal(status, 400, `${target}: must be refused`);
      assert.equal(arrived(publicBackend, variant), undefined, `${target}: refused, yet reached the backend`);
      return;
    }
    const path = expected.split("?")[0] ?? expected;
    if (isProtected(path)) {
      assert.equal(status, 403, `${target}: routes on ${path}, so the protected route's filter must refuse it`);
      assert.equal(arrived(publicBackend, variant), undefined, `${target}: reached ${path} through a public route`);
      return;
    }
    assert.equal(status, upgrade ? 101 : 200, target);
    // The backend records a request before it answers it, so the record is there once the answer is.
    const request = arrived(publicBackend, variant);
    assert.ok(request !== undefined, `${target}: not recorded`);
    assert.equal(request.url, expected, `${target}: the backend must get the target the gateway routed on`);
    assert.equal(whatwgPath(request.url), path, `${target}: the backend's URL parser reads another path`);
  }

  for (const [index, [target, expected]] of HTTP_ROWS.entries()) {
    it(`HTTP ${JSON.stringify(target)} -> ${expected}`, () => check(`h${index}`, target, expected, false));
  }

  for (const [index, [target, expected]] of WS_ROWS.entries()) {
    it(`WebSocket ${JSON.stringify(target)} -> ${expected}`, () => check(`w${index}`, target, expected, true));
  }

  it("a protected route still serves its own clients, on the normalised path", async () => {
    assert.equal(await send(port, "/public/%2e%2e/admin/x?k=%2e", "key1", { apiKey: true }), 200);
    assert.equal(await send(port, "/./wsadmin/feed", "key2", { apiKey: true, upgrade: true }), 101);
    assert.deepEqual(
      [arrived(protectedBackend, "key1")?.url, arrived(protectedBackend, "key2")?.url],
      ["/admin/x?k=%2e", "/wsadmin/feed"],
    );
  });

  it("RateLimiter urls see the normalised path: every spelling of /rl/login shares its policy", async () => {
    assert.equal(await send(port, "/rl/login", "rl-first"), 200);
    for (const [index, target] of RATE_LIMITED.entries()) {
      assert.equal(await send(port, withAuthority(target), `rl${index}`), 429, target);
    }
    assert.equal(await send(port, "/rl/other", "rl-other"), 200);
    assert.equal(arrived(publicBackend, "rl-other")?.url, "/rl/other");
  });

  it("allowBackslash, allowPathParameters, allowEncodedSlash: accepted, yet never a way around a protected route", async () => {
    const rows: Array<[string, number, string | undefined]> = [
      ["/public\\..\\admin\\x", 403, undefined],
      ["/public\\x", 200, "/public/x"],
      ["/public/%5c..%5cadmin", 200, "/public/%5C..%5Cadmin"],
      ["/public/..%2fadmin/x", 200, "/public/..%2Fadmin/x"],
      ["/public/x;jsessionid=1", 200, "/public/x;jsessionid=1"],
      ["/public/a;v=1/../../admin/x", 403, undefined],
      ["/public/..;/admin/x", 400, undefined],
      ["/public/;x/../admin/x", 400, undefined],
      ["/public/.;x/admin/x", 400, undefined],
      ["/public/%00", 400, undefined],
    ];
    for (const [index, [target, status, reached]] of rows.entries()) {
      assert.equal(await send(lenientPort, target, `lenient${index}`), status, target);
      const request = arrived(publicBackend, `lenient${index}`);
      assert.equal(request?.url, reached, target);
      if (request !== undefined) assert.equal(whatwgPath(request.url), request.url, target);
    }
  });

  it("each refusal is logged with its stable WSG_TARGET_* code", () => {
    const codes = new Set(gateway.logs.filter((line) => line.status === 400).map((line) => line.code));
    for (const code of [
      "WSG_TARGET_MALFORMED",
      "WSG_TARGET_CONTROL",
      "WSG_TARGET_ENCODED_SLASH",
      "WSG_TARGET_BACKSLASH",
      "WSG_TARGET_PATH_PARAMETER",
      "WSG_TARGET_AUTHORITY_MISMATCH",
    ]) {
      assert.ok(codes.has(code), `${code} in ${[...codes].join(", ")}`);
    }
  });

  it("nothing reached a backend that its URL parser reads as another path, nor a protected path without the key", () => {
    for (const request of publicBackend.requests) {
      const path = whatwgPath(request.url);
      assert.equal(path, request.url.split("?")[0], `public backend got ${request.url}`);
      assert.ok(!isProtected(path), `public backend got ${request.url}`);
    }
    for (const request of protectedBackend.requests) {
      assert.equal(request.headers["x-api-key"], API_KEY, `protected backend got ${request.url} without the key`);
    }
  });
});
