// End to end: the identity headers the gateway owns (JWT claim headers, X-Forwarded-*), in every spelling a CGI,
// WSGI or PHP backend reads as the same, never reach the backend from the client; token copies and duplicate Host or
// Authorization headers are refused (400); more headers than `clientMaxHeaders` get 431. Checked on plain requests
// (Proxy) and WebSocket upgrades (WebSocketProxy) against a backend that records what reached it.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { startRecordingBackend, type RecordedRequest, type RecordingBackend } from "../helpers/recording-backend.js";
import { headerKey } from "../../src/pipeline/owned-headers.js";

const SECRET = "identity-headers-test-secret";
const MAX_HEADERS = 40;

type Transport = "http" | "ws";
const TRANSPORTS: readonly Transport[] = ["http", "ws"];

function hs256(claims: Record<string, unknown>, expiresIn: string | number = "5m", secret = SECRET): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(new TextEncoder().encode(secret));
}

/** A raw request head: Host, the upgrade headers for `ws`, then `headers` exactly as given. */
function requestHead(transport: Transport, target: string, headers: ReadonlyArray<readonly [string, string]>): string {
  const lines = [`GET ${target} HTTP/1.1`];
  if (!headers.some(([name]) => name.toLowerCase() === "host")) lines.push("Host: gateway.test");
  if (transport === "ws") {
    lines.push("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13");
    lines.push("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
  } else {
    lines.push("Connection: close");
  }
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** Sends a raw request on its own connection; resolves with the answer's status once its head is in (0: none). */
function statusFor(port: number, head: string): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      let text = "";
      const done = (): void => {
        socket.destroy();
        const match = /^HTTP\/1\.1 (\d{3})/.exec(text);
        resolve(match === null ? 0 : Number(match[1]));
      };
      socket.on("data", (chunk: Buffer) => {
        text += chunk.toString("latin1");
        if (text.includes("\r\n\r\n")) done();
      });
      socket.on("close", done);
      socket.on("error", done);
      socket.write(head);
    }),
    4000,
    "the gateway's answer",
  );
}

/** The values the backend got under any spelling of `name` (as a CGI backend would read them). */
function valuesUnder(request: RecordedRequest, name: string): string[] {
  const key = headerKey(name);
  const values: string[] = [];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    if (headerKey(request.rawHeaders[i] as string) === key) values.push(request.rawHeaders[i + 1] as string);
  }
  return values;
}

describe("identity headers at the boundary (wsgate run)", () => {
  let backend: RecordingBackend;
  let gateway: GatewayProcess;
  let port: number;
  let caseNumber = 0;

  /** Sends one case; resolves with the status and what the backend recorded for it (undefined: nothing reached it). */
  async function send(
    transport: Transport,
    path: string,
    headers: ReadonlyArray<readonly [string, string]>,
  ): Promise<{ status: number; recorded: RecordedRequest | undefined }> {
    const id = String(++caseNumber);
    const separator = path.includes("?") ? "&" : "?";
    const status = await statusFor(port, requestHead(transport, `${path}${separator}case=${id}`, headers));
    const find = (): RecordedRequest | undefined => backend.requests.find((r) => r.url.endsWith(`case=${id}`));
    if (status === 101 || status === 200) {
      for (let waited = 0; find() === undefined && waited < 2000; waited += 20) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    return { status, recorded: find() };
  }

  before(async () => {
    backend = await startRecordingBackend();
    port = await freePort();
    const secretHex = Buffer.from(SECRET).toString("hex");
    gateway = await GatewayProcess.start(`
kind: HTTPServer
name: identity-server
port: ${port}
address: 127.0.0.1
clientMaxHeaders: ${MAX_HEADERS}
rules:
  - paths:
      - pathPrefix: /claims
        backend: claims
      - pathPrefix: /open
        backend: open
---
kind: Pipeline
name: claims
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
      secret: ${secretHex}
      cookieName: session
      queryParam: access_token
      forwardClaims:
        role: X-Role
        tenant: X-Tenant
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}
  - kind: WebSocketProxy
    name: wsproxy
    pools:
      - servers:
          - url: ${backend.url.replace("http:", "ws:")}
---
kind: Pipeline
name: open
flow:
  - filter: proxy
  - filter: wsproxy
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}
  - kind: WebSocketProxy
    name: wsproxy
    pools:
      - servers:
          - url: ${backend.url.replace("http:", "ws:")}
`);
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  /** How a client spells the claim headers it forges: each is HTTP_X_ROLE / HTTP_X_TENANT to a CGI backend. */
  const SPELLINGS: ReadonlyArray<readonly [string, string]> = [
    ["X-Role", "X-Tenant"],
    ["x-role", "x-tenant"],
    ["X_Role", "X_Tenant"],
    ["x_ROLE", "x_TENANT"],
    ["X-ROLE", "X-TENANT"],
    ["x_role", "x-Tenant"],
  ];

  /** Claim sets a valid token may carry, and the X-Role value the backend must see for each (none: no header). */
  const CLAIMS: ReadonlyArray<{ what: string; claims: Record<string, unknown>; role: string | undefined }> = [
    { what: "claim missing", claims: { sub: "u" }, role: undefined },
    { what: "claim null", claims: { sub: "u", role: null }, role: undefined },
    { what: "claim a number", claims: { sub: "u", role: 7 }, role: "7" },
    { what: "claim an object", claims: { sub: "u", role: { admin: false } }, role: '{"admin":false}' },
    { what: "claim an array", claims: { sub: "u", role: ["user"] }, role: '["user"]' },
    { what: "claim with a line break", claims: { sub: "u", role: "user\r\nX-Admin: 1" }, role: undefined },
    { what: "claim a string", claims: { sub: "u", role: "user" }, role: "user" },
  ];

  it("regression: a client's X-Role / X-Tenant never reach the backend, whatever the claim and the spelling (84 cases)", async () => {
    const failures: string[] = [];
    for (const transport of TRANSPORTS) {
      for (const { what, claims, role } of CLAIMS) {
        const token = await hs256(claims);
        for (const [roleName, tenantName] of SPELLINGS) {
          const label = `${transport}, ${what}, forged as ${roleName}/${tenantName}`;
          const { status, recorded } = await send(transport, "/claims", [
            ["Authorization", `Bearer ${token}`],
            [roleName, "admin"],
            [tenantName, "other-tenant"],
          ]);
          const expected = transport === "ws" ? 101 : 200;
          if (status !== expected || recorded === undefined) {
            failures.push(`${label}: status ${status}, recorded ${recorded !== undefined}`);
            continue;
          }
          const roles = valuesUnder(recorded, "X-Role");
          const tenants = valuesUnder(recorded, "X-Tenant");
          const wanted = role === undefined ? [] : [role];
          if (JSON.stringify(roles) !== JSON.stringify(wanted) || tenants.length !== 0) {
            failures.push(`${label}: backend saw X-Role ${JSON.stringify(roles)}, X-Tenant ${JSON.stringify(tenants)}`);
          }
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  it("a refused token (none, bad signature, expired, malformed) sends nothing to the backend (24 cases)", async () => {
    const tokens: ReadonlyArray<readonly [string, string | undefined]> = [
      ["no token", undefined],
      ["bad signature", await hs256({ role: "user" }, "5m", "another-secret")],
      ["expired", await hs256({ role: "user" }, Math.floor(Date.now() / 1000) - 3600)],
      ["malformed", "not.a.token"],
    ];
    const failures: string[] = [];
    for (const transport of TRANSPORTS) {
      for (const [what, token] of tokens) {
        for (const [roleName] of SPELLINGS.slice(0, 3)) {
          const headers: Array<[string, string]> = [[roleName, "admin"]];
          if (token !== undefined) headers.push(["Authorization", `Bearer ${token}`]);
          const { status, recorded } = await send(transport, "/claims", headers);
          if (status !== 401 || recorded !== undefined) failures.push(`${transport} ${what} ${roleName}: ${status}`);
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  it("a client's X-Forwarded-* in any _ spelling never reach the backend; the gateway's own do (30 cases)", async () => {
    const forged = ["X_Forwarded_For", "x_forwarded_for", "X_Forwarded_Host", "X_FORWARDED_PROTO", "x-forwarded_proto"];
    const failures: string[] = [];
    for (const transport of TRANSPORTS) {
      for (const path of ["/open", "/claims"]) {
        const token = await hs256({ role: "user" });
        for (const name of forged.concat(["X_Role", "x_tenant"]).slice(0, path === "/open" ? 5 : 7)) {
          const headers: Array<[string, string]> = [[name, "forged"]];
          if (path === "/claims") headers.push(["Authorization", `Bearer ${token}`]);
          const { recorded } = await send(transport, path, headers);
          if (recorded === undefined) {
            failures.push(`${transport} ${path} ${name}: nothing reached the backend`);
            continue;
          }
          const seen = valuesUnder(recorded, name);
          if (seen.some((value) => value.includes("forged"))) failures.push(`${transport} ${path} ${name}: ${seen}`);
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  it("regression: two Host or two Authorization headers get 400 and reach no backend (20 cases)", async () => {
    const token = await hs256({ role: "user" });
    const cases: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, string]>]> = [
      [
        "two Host",
        [
          ["Host", "a.test"],
          ["Host", "b.test"],
        ],
      ],
      [
        "Host and host",
        [
          ["Host", "a.test"],
          ["host", "a.test"],
        ],
      ],
      [
        "HOST twice, same value",
        [
          ["HOST", "a.test"],
          ["HOST", "a.test"],
        ],
      ],
      [
        "two Authorization",
        [
          ["Authorization", `Bearer ${token}`],
          ["Authorization", "Bearer other"],
        ],
      ],
      [
        "Authorization and authorization, same",
        [
          ["Authorization", `Bearer ${token}`],
          ["authorization", `Bearer ${token}`],
        ],
      ],
    ];
    const failures: string[] = [];
    for (const transport of TRANSPORTS) {
      for (const path of ["/open", "/claims"]) {
        for (const [what, headers] of cases) {
          const { status, recorded } = await send(transport, path, headers);
          if (status !== 400 || recorded !== undefined) failures.push(`${transport} ${path} ${what}: ${status}`);
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  it("regression: two copies of the token in the cookie or the query, or differing copies, get 400 (34 cases)", async () => {
    const good = await hs256({ role: "user" });
    const evil = await hs256({ role: "admin" });
    const cases: ReadonlyArray<readonly [string, string, ReadonlyArray<readonly [string, string]>]> = [
      ["query twice", `/claims?access_token=${good}&access_token=${evil}`, []],
      ["query twice, same value", `/claims?access_token=${good}&access_token=${good}`, []],
      ["query with ; separator", `/claims?access_token=${good};access_token=${evil}`, []],
      ["query, PHP dot spelling", `/claims?access_token=${good}&access.token=${evil}`, []],
      ["query, PHP space spelling", `/claims?access_token=${good}&access+token=${evil}`, []],
      ["query, PHP bracket spelling", `/claims?access_token=${good}&access[token=${evil}`, []],
      ["query, percent-encoded name", `/claims?access_token=${good}&access%5Ftoken=${evil}`, []],
      ["cookie twice in one header", "/claims", [["Cookie", `session=${good}; session=${evil}`]]],
      [
        "cookie in two headers",
        "/claims",
        [
          ["Cookie", `session=${good}`],
          ["Cookie", `a=b; session=${evil}`],
        ],
      ],
      ["cookie twice, same value", "/claims", [["Cookie", `session=${good}; session=${good}`]]],
      ["bearer and a differing query token", `/claims?access_token=${evil}`, [["Authorization", `Bearer ${good}`]]],
      [
        "bearer and a differing cookie",
        "/claims",
        [
          ["Authorization", `Bearer ${good}`],
          ["Cookie", `session=${evil}`],
        ],
      ],
      ["cookie and a differing query token", `/claims?access_token=${evil}`, [["Cookie", `session=${good}`]]],
      ["bearer, then an empty query token", "/claims?access_token=", [["Authorization", `Bearer ${good}`]]],
      ["query, leading space", `/claims?access_token=${good}&%20access_token=${evil}`, []],
      [
        "query once, then cookie twice",
        `/claims?access_token=${good}`,
        [["Cookie", `session=${good};session=${good}`]],
      ],
      ["bearer and an unsigned query token", `/claims?access_token=x.y.z`, [["Authorization", `Bearer ${good}`]]],
    ];
    const failures: string[] = [];
    for (const transport of TRANSPORTS) {
      for (const [what, path, headers] of cases) {
        const { status, recorded } = await send(transport, path, headers);
        if (status !== 400 || recorded !== undefined) failures.push(`${transport} ${what}: ${status}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it("one token, or the same token in several sources, passes and its claims are what the backend gets (10 cases)", async () => {
    const good = await hs256({ role: "user" });
    const cases: ReadonlyArray<readonly [string, string, ReadonlyArray<readonly [string, string]>]> = [
      ["bearer", "/claims", [["Authorization", `Bearer ${good}`]]],
      ["cookie", "/claims", [["Cookie", `a=1; session=${good}`]]],
      ["query", `/claims?access_token=${good}`, []],
      ["bearer and the same query token", `/claims?access_token=${good}`, [["Authorization", `Bearer ${good}`]]],
      ["cookie and the same query token", `/claims?access_token=${good}`, [["Cookie", `session=${good}`]]],
    ];
    const failures: string[] = [];
    for (const transport of TRANSPORTS) {
      for (const [what, path, headers] of cases) {
        const { status, recorded } = await send(transport, path, [...headers, ["X_Role", "admin"]]);
        const roles = recorded === undefined ? [] : valuesUnder(recorded, "X-Role");
        if (status !== (transport === "ws" ? 101 : 200) || JSON.stringify(roles) !== '["user"]') {
          failures.push(`${transport} ${what}: ${status} ${JSON.stringify(roles)}`);
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  it("regression: more request headers than clientMaxHeaders get 431, never a silent cut (16 cases)", async () => {
    const token = await hs256({ role: "user" });
    // Counted with Host and, for upgrades, the four WebSocket headers (Connection: close for plain requests).
    const fixed = (transport: Transport): number => (transport === "ws" ? 5 : 2);
    const failures: string[] = [];
    for (const transport of TRANSPORTS) {
      for (const path of ["/open", "/claims"]) {
        for (const total of [MAX_HEADERS, MAX_HEADERS + 1, 2001, 2600]) {
          const auth: Array<[string, string]> = path === "/claims" ? [["Authorization", `Bearer ${token}`]] : [];
          const filler = total - fixed(transport) - auth.length - 1;
          const headers: Array<[string, string]> = [...auth];
          for (let i = 0; i < filler; i++) headers.push(["X", String(i % 10)]);
          // A forged header after the filler: a parser that stops counting early would let it through unseen.
          headers.push(["X-Role", "admin"]);
          const { status, recorded } = await send(transport, path, headers);
          const passes = total <= MAX_HEADERS;
          const ok = passes
            ? status === (transport === "ws" ? 101 : 200) && recorded !== undefined
            : status === 431 && recorded === undefined;
          if (!ok)
            failures.push(`${transport} ${path} ${total} headers: ${status}, recorded ${recorded !== undefined}`);
          if (
            passes &&
            path === "/claims" &&
            recorded !== undefined &&
            valuesUnder(recorded, "X-Role").includes("admin")
          ) {
            failures.push(`${transport} ${path} ${total} headers: the forged X-Role passed`);
          }
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  it("a header name with a space before the colon is refused by the parser (400), on both transports", async () => {
    for (const transport of TRANSPORTS) {
      const token = await hs256({ role: "user" });
      const { status, recorded } = await send(transport, "/claims", [
        ["Authorization", `Bearer ${token}`],
        ["X-Role ", "admin"],
      ]);
      assert.equal(status, 400, transport);
      assert.equal(recorded, undefined, transport);
    }
  });
});
