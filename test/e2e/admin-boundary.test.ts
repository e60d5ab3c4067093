// End to end: the admin API's own boundary, as a hostile web page or a DNS-rebinding attacker meets it. Raw HTTP to
// a real `wsgate run`: Host must name the admin listener (421), Origin must be absent or its own (403), a write must
// declare JSON or YAML (415), no CORS header is ever sent; for every method on every route.
import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { hostname, networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { admin, echoConfig, runCli } from "../helpers/admin.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, rawExchange } from "../helpers/net.js";

const TOKEN = "admin-token-for-boundary-tests-0123";

interface RawReply {
  status: number;
  /** Header lines, lower-cased names. */
  headers: string[];
  body: string;
}

/** One raw request (the connection closes after it) and the parsed answer; status 0 when none came. */
async function raw(port: number, head: string, body = ""): Promise<RawReply> {
  const { received } = await rawExchange(port, `${head}\r\n${body}`, 3000);
  const text = received.toString("latin1");
  const [top = "", rest = ""] = text.split(/\r\n\r\n/, 2);
  const [statusLine = "", ...headers] = top.split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  return { status, headers: headers.map((line) => line.toLowerCase()), body: rest };
}

/** A request head with `Connection: close` and the given header lines (each "Name: value"). */
function head(method: string, target: string, lines: readonly string[], version = "HTTP/1.1"): string {
  return `${method} ${target} ${version}\r\n${[...lines, "Connection: close"].map((line) => `${line}\r\n`).join("")}`;
}

/** At most `width` at a time, in order. */
async function inBatches<T, R>(items: readonly T[], width: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < items.length; start += width) {
    results.push(...(await Promise.all(items.slice(start, start + width).map(run))));
  }
  return results;
}

function noCors(reply: RawReply, what: string): void {
  assert.ok(!reply.headers.some((line) => line.startsWith("access-control-")), `${what}: a CORS header was sent`);
}

/** A pipeline whose one pool server is `url`, with `extra` pool lines (a health check). */
const pipelineTo = (url: string, extra = "", name = "to-admin"): string => `kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ${url}${extra}
`;

const pipeline = (name: string): string => `kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:1
`;

describe("admin API boundary: Host, Origin, Content-Type, CORS", () => {
  let gateway: GatewayProcess;
  let port: number;

  before(async () => {
    gateway = await GatewayProcess.start(echoConfig(await freePort(), 1), { admin: true });
    port = gateway.adminPort;
  });

  after(async () => {
    await gateway?.stop();
  });

  it("Host: only names of this listener are answered; DNS-rebinding names get 421 and no objects", async () => {
    const table: [string, readonly string[], number, string?][] = [
      ["evil.example", ["Host: evil.example"], 421],
      ["evil.example:PORT", [`Host: evil.example:${port}`], 421],
      ["EVIL.EXAMPLE:PORT", [`Host: EVIL.EXAMPLE:${port}`], 421],
      ["rebinding name with a loopback-looking prefix", [`Host: 127.0.0.1.evil.example:${port}`], 421],
      ["localhost.evil.example", [`Host: localhost.evil.example:${port}`], 421],
      ["trailing dot", [`Host: localhost.:${port}`], 421],
      ["userinfo", [`Host: evil.example@127.0.0.1:${port}`], 421],
      ["path in Host", [`Host: 127.0.0.1:${port}/x`], 421],
      ["other port", [`Host: 127.0.0.1:${port + 1}`], 421],
      ["no port (80)", ["Host: 127.0.0.1"], 421],
      ["empty Host", ["Host: "], 421],
      ["IPv6 zone", [`Host: [fe80::1%25lo]:${port}`], 421],
      ["127.0.0.1:PORT", [`Host: 127.0.0.1:${port}`], 200],
      ["localhost:PORT", [`Host: localhost:${port}`], 200],
      ["LocalHost:PORT", [`Host: LocalHost:${port}`], 200],
      ["[::1]:PORT", [`Host: [::1]:${port}`], 200],
      ["[0:0:0:0:0:0:0:1]:PORT", [`Host: [0:0:0:0:0:0:0:1]:${port}`], 200],
      ["127.1:PORT", [`Host: 127.1:${port}`], 200],
      ["decimal 2130706433:PORT", [`Host: 2130706433:${port}`], 200],
      ["hex 0x7f000001:PORT", [`Host: 0x7f000001:${port}`], 200],
      ["127.000.000.001:PORT", [`Host: 127.000.000.001:${port}`], 200],
      ["127.0.0.2:PORT (loopback)", [`Host: 127.0.0.2:${port}`], 200],
      ["two good Host headers", [`Host: 127.0.0.1:${port}`, `Host: 127.0.0.1:${port}`], 400],
      ["good then evil Host", [`Host: 127.0.0.1:${port}`, "Host: evil.example"], 400],
      ["evil then good Host", ["Host: evil.example", `Host: 127.0.0.1:${port}`], 400],
    ];
    const replies = await inBatches(table, 8, ([, lines]) => raw(port, head("GET", "/apis/v2/objects", lines)));
    for (const [index, [what, , status]] of table.entries()) {
      const reply = replies[index];
      assert.equal(reply?.status, status, what);
      if (status !== 200) assert.doesNotMatch(reply?.body ?? "", /"kind"|WebSocketProxy/, what);
      if (status === 421) assert.match(reply?.body ?? "", /WSG_ADMIN_HOST/, what);
      noCors(reply ?? { status: 0, headers: [], body: "" }, what);
    }
  });

  it("Host: HTTP/1.0 without Host, HTTP/1.1 without Host, and absolute-form targets naming another authority", async () => {
    const good = `Host: 127.0.0.1:${port}`;
    const table: [string, string, number][] = [
      ["HTTP/1.0 without Host", head("GET", "/apis/v2/objects", [], "HTTP/1.0"), 421],
      ["HTTP/1.0 with Host", head("GET", "/apis/v2/objects", [good], "HTTP/1.0"), 200],
      ["HTTP/1.1 without Host", head("GET", "/apis/v2/objects", []), 400],
      ["absolute-form, evil authority", head("GET", "http://evil.example/apis/v2/objects", [good]), 421],
      ["absolute-form, evil authority:PORT", head("GET", `http://evil.example:${port}/apis/v2/objects`, [good]), 421],
      ["absolute-form, own authority", head("GET", `http://127.0.0.1:${port}/apis/v2/objects`, [good]), 200],
      [
        "absolute-form, own authority, evil Host",
        head("GET", `http://127.0.0.1:${port}/x`, ["Host: evil.example"]),
        421,
      ],
      ["absolute-form, other scheme", head("GET", `ftp://evil.example/apis/v2/objects`, [good]), 421],
    ];
    for (const [what, request, status] of table) {
      const reply = await raw(port, request);
      assert.equal(reply.status, status, what);
      if (status !== 200) assert.doesNotMatch(reply.body, /WebSocketProxy/, what);
    }
  });

  it("Origin: absent or this listener's own origin only; everything else 403, on reads and writes", async () => {
    const host = `127.0.0.1:${port}`;
    const table: [string, readonly string[], number][] = [
      ["no Origin", [], 200],
      ["own origin", [`Origin: http://${host}`], 200],
      ["own origin, other spelling of the host", [`Origin: http://127.1:${port}`], 200],
      ["evil", ["Origin: http://evil.example"], 403],
      ["evil with the port", [`Origin: http://evil.example:${port}`], 403],
      ["null (sandboxed page, file:)", ["Origin: null"], 403],
      ["same host, other port", [`Origin: http://127.0.0.1:${port + 1}`], 403],
      ["same host, no port", ["Origin: http://127.0.0.1"], 403],
      ["https instead of http", [`Origin: https://${host}`], 403],
      ["ws scheme", [`Origin: ws://${host}`], 403],
      ["file scheme", ["Origin: file://"], 403],
      ["localhost while Host says 127.0.0.1", [`Origin: http://localhost:${port}`], 403],
      ["with a path", [`Origin: http://${host}/admin`], 403],
      ["with userinfo", [`Origin: http://user@${host}`], 403],
      ["empty", ["Origin: "], 403],
      ["not a URL", ["Origin: evil"], 403],
      ["a list", [`Origin: http://${host} http://evil.example`], 403],
      ["two Origin headers", [`Origin: http://${host}`, "Origin: http://evil.example"], 403],
    ];
    const requests = table.flatMap(([what, lines, status]) => [
      { what: `GET ${what}`, request: head("GET", "/apis/v2/objects", [`Host: ${host}`, ...lines]), status },
      {
        what: `DELETE ${what}`,
        request: head("DELETE", "/apis/v2/objects/nothing-here", [`Host: ${host}`, ...lines]),
        status: status === 200 ? 404 : status,
      },
    ]);
    const replies = await inBatches(requests, 8, ({ request }) => raw(port, request));
    for (const [index, { what, status }] of requests.entries()) {
      const reply = replies[index] ?? { status: 0, headers: [], body: "" };
      assert.equal(reply.status, status, what);
      if (status === 403) assert.match(reply.body, /WSG_ADMIN_ORIGIN/, what);
      noCors(reply, what);
    }
  });

  it("a web page cannot drive an upgrade: cross-site and rebinding POSTs to /apis/v2/upgrade start no process", async () => {
    const pidNow = async (): Promise<number> =>
      (await admin(port, "GET", "/apis/v2/status/objects")).json<{ pid: number }>().pid;
    const before = await pidNow();
    const own = `Host: 127.0.0.1:${port}`;
    const table: Array<[string, string[], number]> = [
      ["cross-site form (text/plain)", [own, "Origin: http://evil.example", "Content-Type: text/plain"], 403],
      ["cross-site JSON", [own, "Origin: http://evil.example", "Content-Type: application/json"], 403],
      ["sandboxed page (Origin: null)", [own, "Origin: null", "Content-Type: application/json"], 403],
      ["same host, other port", [own, `Origin: http://127.0.0.1:${port + 1}`, "Content-Type: application/json"], 403],
      ["DNS rebinding (Host evil)", [`Host: evil.example:${port}`, "Content-Type: application/json"], 421],
      ["absolute-form, evil authority", [own, "Content-Type: application/json"], 421],
    ];
    for (const [what, lines, status] of table) {
      const target = what.startsWith("absolute-form") ? "http://evil.example/apis/v2/upgrade" : "/apis/v2/upgrade";
      const reply = await raw(port, head("POST", target, [...lines, "Content-Length: 2"]), "{}");
      assert.equal(reply.status, status, what);
    }
    assert.equal(await pidNow(), before, "the same process serves: no upgrade ran");
  });

  it("the reported attack: a cross-site text/plain POST with Origin evil creates nothing", async () => {
    const body = pipeline("from-evil");
    const request = head("POST", "/apis/v2/objects", [
      `Host: 127.0.0.1:${port}`,
      "Origin: http://evil.example",
      "Content-Type: text/plain",
      `Content-Length: ${Buffer.byteLength(body)}`,
    ]);
    assert.equal((await raw(port, request, body)).status, 403);
    const rebinding = head("POST", "/apis/v2/objects", [
      `Host: evil.example:${port}`,
      "Content-Type: application/yaml",
      `Content-Length: ${Buffer.byteLength(body)}`,
    ]);
    assert.equal((await raw(port, rebinding, body)).status, 421);
    assert.equal((await admin(port, "GET", "/apis/v2/objects/from-evil")).status, 404);
  });

  it("Content-Type: a write needs JSON or YAML (any case, charset utf-8); forms, text and the rest get 415", async () => {
    const table: [string | undefined, number][] = [
      [undefined, 415],
      ["text/plain", 415],
      ["text/plain; charset=utf-8", 415],
      ["application/x-www-form-urlencoded", 415],
      ["multipart/form-data; boundary=xyz", 415],
      ["application/octet-stream", 415],
      ["application/jsonx", 415],
      ["application/json-seq", 415],
      ["application/json, text/plain", 415],
      ["application/json; charset=iso-8859-1", 415],
      ["application/json; charset=utf-16", 415],
      ["application/json;", 415],
      ["application/json; garbage", 415],
      ["text/html", 415],
      ["", 415],
      ["application/json", 201],
      ["application/json; charset=utf-8", 201],
      ["application/json;charset=UTF-8", 201],
      ['application/json; charset="utf-8"', 201],
      ["APPLICATION/JSON", 201],
      ["application/yaml", 201],
      ["application/yaml; charset=utf-8", 201],
      ["application/x-yaml", 201],
      ["text/yaml", 201],
      ["Text/YAML; Charset=UTF-8", 201],
      ["text/x-yaml", 201],
    ];
    for (const [index, [type, status]] of table.entries()) {
      const name = `typed-${index}`;
      const body = type?.toLowerCase().includes("json")
        ? JSON.stringify({
            kind: "Pipeline",
            name,
            filters: [{ kind: "WebSocketProxy", name: "proxy", pools: [{ servers: [{ url: "ws://127.0.0.1:1" }] }] }],
          })
        : pipeline(name);
      const lines = [`Host: 127.0.0.1:${port}`, `Content-Length: ${Buffer.byteLength(body)}`];
      if (type !== undefined) lines.push(`Content-Type: ${type}`);
      const reply = await raw(port, head("POST", "/apis/v2/objects", lines), body);
      assert.equal(reply.status, status, String(type));
      if (status === 415) assert.match(reply.body, /WSG_UNSUPPORTED_MEDIA_TYPE/, String(type));
      const stored = await admin(port, "GET", `/apis/v2/objects/${name}`);
      assert.equal(stored.status, status === 201 ? 200 : 404, `${String(type)}: stored?`);
    }
    // A PUT and a DELETE that carry a form body are refused too, and change nothing.
    const form = "kind=Pipeline&name=typed-15";
    for (const method of ["PUT", "DELETE"]) {
      const reply = await raw(
        port,
        head(method, "/apis/v2/objects/typed-15", [
          `Host: 127.0.0.1:${port}`,
          "Content-Type: application/x-www-form-urlencoded",
          `Content-Length: ${form.length}`,
        ]),
        form,
      );
      assert.equal(reply.status, 415, method);
    }
    assert.equal((await admin(port, "GET", "/apis/v2/objects/typed-15")).status, 200);
  });

  it("every method on every route: evil Origin 403, evil Host 421, never a CORS header; preflight is refused", async () => {
    const paths = [
      "/apis/v2/objects",
      "/apis/v2/objects/edge",
      "/apis/v2/status/objects",
      "/apis/v2/status/objects/edge",
      "/apis/v2/object-kinds",
      "/apis/v2/sessions",
      "/apis/v2/sessions/some-id",
      "/apis/v2/members",
      "/apis/v2/cluster/sessions",
      "/metrics",
      "/nowhere",
    ];
    const methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];
    const cases = paths.flatMap((path) =>
      methods.flatMap((method) => [
        {
          what: `${method} ${path} evil Origin`,
          status: 403,
          lines: [`Host: 127.0.0.1:${port}`, "Origin: http://evil.example"],
        },
        { what: `${method} ${path} evil Host`, status: 421, lines: [`Host: evil.example:${port}`] },
        {
          what: `${method} ${path} preflight`,
          status: 0,
          lines: [
            `Host: 127.0.0.1:${port}`,
            `Origin: http://127.0.0.1:${port}`,
            "Access-Control-Request-Method: PUT",
            "Access-Control-Request-Headers: content-type",
          ],
        },
      ]),
    );
    const replies = await inBatches(cases, 16, ({ what, lines }) =>
      raw(port, head(what.split(" ")[0] ?? "GET", what.split(" ")[1] ?? "/", lines)),
    );
    for (const [index, { what, status }] of cases.entries()) {
      const reply = replies[index] ?? { status: 0, headers: [], body: "" };
      noCors(reply, what);
      if (status !== 0) assert.equal(reply.status, status, what);
      else if (what.startsWith("OPTIONS")) assert.ok(reply.status === 404 || reply.status === 405, what);
      else assert.notEqual(reply.status, 0, what);
    }
  });

  it("the reported pipeline: a pool server, a DELETE health check or a JWKS URL at the admin listener is a 400", async () => {
    const spellings = ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "127.000.000.001", "2130706433", "0x7f.1"];
    const bodies = spellings.flatMap((host) => [
      { what: `server ${host}`, line: 8, path: "pools[0].servers[0].url", body: pipelineTo(`ws://${host}:${port}`) },
      {
        what: `health check ${host}`,
        line: 12,
        path: "pools[0].healthCheck.http.port",
        body: pipelineTo(
          `ws://${host}:9`,
          `
        healthCheck:
          http:
            method: DELETE
            port: ${port}
            uri: /apis/v2/objects/edge`,
        ),
      },
    ]);
    for (const { what, line, path, body } of bodies) {
      const reply = await admin(port, "POST", "/apis/v2/objects", { body });
      assert.equal(reply.status, 400, what);
      const errors = reply.json<{
        errors: { file: string; line: number; filter?: string; path: string; message: string }[];
      }>().errors;
      assert.deepEqual(
        errors.map((error) => [error.file, error.line, error.filter, error.path]),
        [["request", line, "proxy", path]],
        what,
      );
      assert.match(errors[0]?.message ?? "", /points at this gateway's admin API/, what);
    }
    const jwks = `kind: Pipeline
name: to-admin
filters:
  - kind: Validator
    name: auth
    jwt:
      algorithm: RS256
      jwksUrl: http://localhost:${port}/apis/v2/objects
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:9
`;
    const reply = await admin(port, "POST", "/apis/v2/objects", { body: jwks });
    assert.equal(reply.status, 400);
    assert.deepEqual(
      reply.json<{ errors: { line: number; path: string }[] }>().errors.map((error) => [error.line, error.path]),
      [[8, "jwt.jwksUrl"]],
    );
    // PUT of a stored object (one created through the API: a config file's is not written here) the same way.
    const created = await admin(port, "POST", "/apis/v2/objects", {
      body: pipelineTo("ws://127.0.0.1:9", "", "api-echo"),
    });
    assert.equal(created.status, 201, created.text);
    const put = await admin(port, "PUT", "/apis/v2/objects/api-echo", {
      body: pipelineTo(`ws://localhost:${port}`, "", "api-echo"),
    });
    assert.equal(put.status, 400);
    assert.doesNotMatch((await admin(port, "GET", "/apis/v2/objects/api-echo")).text, new RegExp(`localhost:${port}`));
    // The default admin address is not this listener's (--admin-address 127.0.0.1:0): a backend may live there.
    if (port !== 2381) {
      const elsewhere = await admin(port, "POST", "/apis/v2/objects", {
        body: pipelineTo("ws://127.0.0.1:2381", "", "not-admin"),
      });
      assert.equal(elsewhere.status, 201, elsewhere.text);
    }
    // wsgate validate with the admin address as the flag gives it, at file and line.
    const dir = await mkdtemp(join(tmpdir(), "wsgate-admin-target-"));
    const file = join(dir, "to-admin.yaml");
    await writeFile(file, pipelineTo("ws://127.1:7777"));
    const validate = await runCli(["validate", "--config", file, "--admin-address", "127.0.0.1:7777"]);
    assert.equal(validate.code, 1);
    assert.match(
      validate.stderr,
      new RegExp(
        `${file}:8 pipeline to-admin filter proxy pools\\[0\\]\\.servers\\[0\\]\\.url: 'ws://127\\.1:7777' points at this gateway's admin API`,
      ),
    );
    assert.equal((await runCli(["validate", "--config", file, "--admin-address", "127.0.0.1:7778"])).code, 0);
  });

  it("the CLI still works: it sends a proper Host and content type (get, apply, delete, sessions)", async () => {
    const server = `http://127.0.0.1:${port}`;
    const get = await runCli(["get", "--server", server]);
    assert.equal(get.code, 0, get.stderr);
    const viaName = await runCli(["get", "--server", `http://localhost:${port}`]);
    assert.equal(viaName.code, 0, viaName.stderr);
    const sessions = await runCli(["sessions", "--server", server]);
    assert.equal(sessions.code, 0, sessions.stderr);
  });
});

describe("admin API boundary on a wildcard bind, with --admin-host names", () => {
  let gateway: GatewayProcess;
  let port: number;

  before(async () => {
    gateway = await GatewayProcess.start(echoConfig(await freePort(), 1), {
      admin: true,
      args: [
        "--admin-address",
        "0.0.0.0:0",
        "--admin-token",
        TOKEN,
        "--admin-host",
        "admin.internal",
        "--admin-host",
        "forward.internal:8443",
      ],
    });
    const line = await gateway.nextLog((log) => log.msg === "admin listening");
    port = Number(line["port"]);
  });

  after(async () => {
    await gateway?.stop();
  });

  it("answers its host name, interface addresses, loopback and the configured names; 421 to others", async () => {
    const interfaces = Object.values(networkInterfaces())
      .flatMap((list) => list ?? [])
      .map((info) => (info.family === "IPv6" ? `[${info.address}]` : info.address))
      .filter((address) => !address.includes("%"));
    const table: [string, number][] = [
      [`${hostname()}:${port}`, 200],
      [`0.0.0.0:${port}`, 200],
      [`127.0.0.1:${port}`, 200],
      [`localhost:${port}`, 200],
      [`admin.internal:${port}`, 200],
      [`ADMIN.internal:${port}`, 200],
      ["forward.internal:8443", 200],
      [`admin.internal:${port + 1}`, 421],
      [`forward.internal:${port}`, 421],
      [`evil.example:${port}`, 421],
      ["evil.example", 421],
      ...interfaces.map((address): [string, number] => [`${address}:${port}`, 200]),
    ];
    for (const [host, status] of table) {
      const reply = await raw(
        port,
        head("GET", "/apis/v2/object-kinds", [`Host: ${host}`, `Authorization: Bearer ${TOKEN}`]),
      );
      assert.equal(reply.status, status, host);
    }
    // Host and Origin are checked before the token: a rebinding page learns nothing, not even 401.
    const anonymous = await raw(port, head("GET", "/apis/v2/objects", [`Host: evil.example:${port}`]));
    assert.equal(anonymous.status, 421);
    const origin = await raw(
      port,
      head("GET", "/apis/v2/objects", [`Host: admin.internal:${port}`, `Origin: http://admin.internal:${port}`]),
    );
    assert.equal(origin.status, 401, "own origin of a configured name passes to the token check");
  });
});
