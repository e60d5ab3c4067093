// End to end: the admin API of a real `wsgate run`: objects (read, validation answers, conflicts, revisions),
// object kinds, status with pools, live sessions and closing them, metrics, and the error answers.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { admin, echoConfig } from "../helpers/admin.js";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";

interface ConfigErrorBody {
  error: string;
  code: string;
  errors: { file: string; line: number; column: number; object?: string; path: string; message: string }[];
}

const NEW_PIPELINE = (name: string, backendPort: number): string => `kind: Pipeline
name: ${name}
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backendPort}
`;

/** Polls an async check every 20 ms for up to 3 s. */
async function waitUntilAsync<T>(check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out after 3000 ms waiting for one session");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A session through the gateway that has sent `count` messages and got their echoes. */
async function openSession(port: number, count: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  ws.on("error", () => {});
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      let echoed = 0;
      ws.once("error", reject);
      ws.on("open", () => {
        for (let index = 0; index < count; index++) ws.send(`hello ${index}`);
      });
      ws.on("message", () => {
        if (++echoed === count) resolve();
      });
    }),
    5000,
    "the echoes",
  );
  return ws;
}

describe("admin API", () => {
  let backend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let adminPort: number;

  before(async () => {
    backend = await startBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(echoConfig(port, backend.port), { admin: true });
    adminPort = gateway.adminPort;
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  it("logs where it listens, apart from the traffic port", async () => {
    const line = await gateway.nextLog((log) => log.msg === "admin listening");
    assert.equal(line["address"], "127.0.0.1");
    assert.ok(adminPort > 0 && adminPort !== port);
  });

  it("GET /apis/v2/objects lists every object with its kind and revision", async () => {
    const reply = await admin(adminPort, "GET", "/apis/v2/objects");
    assert.equal(reply.status, 200);
    const items = reply.json<{ name: string; kind: string; revision: number; object: { name: string } }[]>();
    assert.deepEqual(
      items.map(({ name, kind }) => [name, kind]),
      [
        ["edge", "HTTPServer"],
        ["echo", "Pipeline"],
      ],
    );
    assert.ok(items.every((item) => item.revision > 0 && item.object.name === item.name));
    const pipelines = await admin(adminPort, "GET", "/apis/v2/objects?kind=Pipeline");
    assert.deepEqual(
      pipelines.json<{ name: string }[]>().map((item) => item.name),
      ["echo"],
    );
    assert.equal((await admin(adminPort, "GET", "/apis/v2/objects?kind=Nope")).status, 400);
  });

  it("GET /apis/v2/objects/{name} answers the object as written, with its revision (JSON or YAML)", async () => {
    const reply = await admin(adminPort, "GET", "/apis/v2/objects/echo");
    assert.equal(reply.status, 200);
    assert.equal(reply.json()["kind"], "Pipeline");
    const revision = reply.headers.get("x-object-revision");
    assert.match(revision ?? "", /^\d+$/);
    assert.equal(reply.headers.get("etag"), `"${revision}"`);
    const yaml = await admin(adminPort, "GET", "/apis/v2/objects/echo", { headers: { Accept: "application/yaml" } });
    assert.match(yaml.headers.get("content-type") ?? "", /yaml/);
    assert.match(yaml.text, /^kind: Pipeline\nname: echo\n/);
  });

  it("GET, PUT and DELETE of a missing object answer 404", async () => {
    for (const method of ["GET", "DELETE"]) {
      const reply = await admin(adminPort, method, "/apis/v2/objects/nothing");
      assert.equal(reply.status, 404, method);
      assert.equal(reply.json()["code"], "WSG_OBJECT_NOT_FOUND");
    }
    const put = await admin(adminPort, "PUT", "/apis/v2/objects/nothing", { body: NEW_PIPELINE("nothing", 1) });
    assert.equal(put.status, 404);
  });

  it("POST of an invalid object answers 400 with each error at its line of the body", async () => {
    const body = NEW_PIPELINE("bad", backend.port).replace(
      "    name: proxy\n",
      "    name: proxy\n    dialTimeout: soon\n",
    );
    const reply = await admin(adminPort, "POST", "/apis/v2/objects", { body });
    assert.equal(reply.status, 400);
    const answer = reply.json<ConfigErrorBody>();
    assert.equal(answer.code, "WSG_INVALID_OBJECT");
    const error = answer.errors[0];
    assert.equal(error?.file, "request");
    assert.equal(error?.line, body.split("\n").indexOf("    dialTimeout: soon") + 1);
    assert.equal(error?.object, "pipeline bad");
    assert.equal((await admin(adminPort, "GET", "/apis/v2/objects/bad")).status, 404, "nothing was written");
  });

  it("POST validates against the stored objects: a server naming a missing pipeline is a 400 at its line", async () => {
    const body = JSON.stringify({
      kind: "HTTPServer",
      name: "other",
      port: await freePort(),
      address: "127.0.0.1",
      rules: [{ paths: [{ path: "/x", backend: "missing" }] }],
    });
    const reply = await admin(adminPort, "POST", "/apis/v2/objects", { body });
    assert.equal(reply.status, 400);
    const answer = reply.json<ConfigErrorBody>();
    assert.match(answer.errors[0]?.message ?? "", /pipeline 'missing' not found/);
    assert.equal(answer.errors[0]?.file, "request");
  });

  it("POST of a body with two objects, or none, answers 400", async () => {
    const two = `${NEW_PIPELINE("a1", 1)}---\n${NEW_PIPELINE("a2", 1)}`;
    assert.equal(
      (await admin(adminPort, "POST", "/apis/v2/objects", { body: two })).json()["code"],
      "WSG_NOT_ONE_OBJECT",
    );
    assert.equal((await admin(adminPort, "POST", "/apis/v2/objects", { body: "" })).status, 400);
    assert.equal((await admin(adminPort, "POST", "/apis/v2/objects", { body: "{not yaml: [" })).status, 400);
  });

  it("POST of a taken name answers 409", async () => {
    const reply = await admin(adminPort, "POST", "/apis/v2/objects", { body: NEW_PIPELINE("echo", backend.port) });
    assert.equal(reply.status, 409);
    assert.equal(reply.json()["code"], "WSG_OBJECT_EXISTS");
  });

  it("PUT with a stale revision (If-Match or ?revision=) answers 409 and changes nothing", async () => {
    const current = await admin(adminPort, "GET", "/apis/v2/objects/echo");
    const revision = Number(current.headers.get("x-object-revision"));
    const body = NEW_PIPELINE("echo", backend.port);
    const stale = await admin(adminPort, "PUT", "/apis/v2/objects/echo", {
      body,
      headers: { "If-Match": `"${revision + 7}"` },
    });
    assert.equal(stale.status, 409);
    assert.equal(stale.json()["code"], "WSG_STALE_REVISION");
    const staleQuery = await admin(adminPort, "PUT", `/apis/v2/objects/echo?revision=${revision - 1}`, { body });
    assert.equal(staleQuery.status, 409);
    const bad = await admin(adminPort, "PUT", "/apis/v2/objects/echo", { body, headers: { "If-Match": "yesterday" } });
    assert.equal(bad.status, 400);
    const after = await admin(adminPort, "GET", "/apis/v2/objects/echo");
    assert.equal(after.headers.get("x-object-revision"), String(revision));
  });

  it("PUT whose body names another object, or changes the kind, answers 400", async () => {
    const other = await admin(adminPort, "PUT", "/apis/v2/objects/echo", { body: NEW_PIPELINE("echo2", 1) });
    assert.equal(other.json()["code"], "WSG_NAME_MISMATCH");
    const server = echoConfig(await freePort(), 1).split("---\n")[0] ?? "";
    const kind = await admin(adminPort, "PUT", "/apis/v2/objects/echo", {
      body: server.replace("name: edge", "name: echo"),
    });
    assert.equal(kind.json()["code"], "WSG_KIND_CHANGE");
  });

  it("DELETE of a pipeline a config file defines answers 409 naming the file and line (admin-sources.test.ts)", async () => {
    const reply = await admin(adminPort, "DELETE", "/apis/v2/objects/echo");
    assert.equal(reply.status, 409, reply.text);
    assert.match(reply.json<{ error: string }>().error, /object echo comes from \S+gateway\.yaml:\d+: change it there/);
    assert.equal((await admin(adminPort, "GET", "/apis/v2/objects/echo")).status, 200);
  });

  it("a valid change the gateway cannot apply answers 500 and is undone", async () => {
    // A port taken by someone else: valid configuration, but no listener can open there.
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const takenPort = (taken.address() as net.AddressInfo).port;
    try {
      const body = echoConfig(takenPort, backend.port).split("---\n")[0]?.replace("name: edge", "name: blocked");
      const reply = await admin(adminPort, "POST", "/apis/v2/objects", { body: body ?? "" });
      assert.equal(reply.status, 500);
      assert.equal(reply.json()["code"], "WSG_APPLY_FAILED");
      assert.equal(
        (await admin(adminPort, "GET", "/apis/v2/objects/blocked")).status,
        404,
        "the store was rolled back",
      );
      const status = await admin(adminPort, "GET", "/apis/v2/status/objects");
      assert.equal(typeof status.json()["lastApplyError"], "string");
    } finally {
      taken.close();
    }
  });

  it("POST, PUT and DELETE of valid objects answer 201, 200 and 200", async () => {
    const created = await admin(adminPort, "POST", "/apis/v2/objects", { body: NEW_PIPELINE("extra", backend.port) });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.headers.get("location"), "/apis/v2/objects/extra");
    const revision = created.json<{ revision: number }>().revision;
    // A changed object: the same one again is "unchanged" and keeps its revision (admin-apply.test.ts).
    const updated = await admin(adminPort, "PUT", "/apis/v2/objects/extra", {
      body: NEW_PIPELINE("extra", backend.port).replace("name: proxy", "name: proxy-2"),
      headers: { "If-Match": `"${revision}"` },
    });
    assert.equal(updated.status, 200, updated.text);
    assert.ok(updated.json<{ revision: number }>().revision > revision);
    const deleted = await admin(adminPort, "DELETE", "/apis/v2/objects/extra");
    assert.equal(deleted.status, 200, deleted.text);
    assert.equal((await admin(adminPort, "GET", "/apis/v2/objects/extra")).status, 404);
  });

  it("GET /apis/v2/object-kinds lists the kinds", async () => {
    const reply = await admin(adminPort, "GET", "/apis/v2/object-kinds");
    assert.deepEqual(reply.json<string[]>().sort(), ["Gateway", "HTTPServer", "Pipeline"]);
  });

  it("status shows listeners and each pool's servers with health, weight and live connections", async () => {
    const reply = await admin(adminPort, "GET", "/apis/v2/status/objects");
    assert.equal(reply.status, 200);
    const status = reply.json<{
      listeners: { server: string; port: number }[];
      pools: {
        pool: string;
        servers: { backend: string; state: string; weight: number; activeConnections: number }[];
      }[];
    }>();
    assert.deepEqual(
      status.listeners.map((listener) => [listener.server, listener.port]),
      [["edge", port]],
    );
    const pool = status.pools.find((entry) => entry.pool === "echo/proxy/pools[0]");
    const server = pool?.servers[0];
    assert.equal(server?.backend, `127.0.0.1:${backend.port}`);
    assert.equal(typeof server?.state, "string");
    assert.equal(typeof server?.weight, "number");
    assert.equal(server?.activeConnections, 0);
    const one = await admin(adminPort, "GET", "/apis/v2/status/objects/echo");
    assert.equal(one.json<{ pools: unknown[] }>().pools.length, 1);
    assert.equal((await admin(adminPort, "GET", "/apis/v2/status/objects/nothing")).status, 404);
  });

  it("lists a live session with messages and bytes each way, and closes it with 1008", async () => {
    const ws = await openSession(port, 3);
    const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
    const sessions = (await admin(adminPort, "GET", "/apis/v2/sessions")).json<
      { id: string; route: string; pipeline: string; backend: string; client: string; ageMs: number }[] &
        { clientMessages: number; clientBytes: number; backendMessages: number; backendBytes: number }[]
    >();
    assert.equal(sessions.length, 1);
    const live = sessions[0];
    assert.equal(live?.pipeline, "echo");
    assert.equal(live?.backend, `127.0.0.1:${backend.port}`);
    assert.match(live?.client ?? "", /127\.0\.0\.1/);
    assert.equal(live?.clientMessages, 3);
    // Bytes as relayed on the wire: the payloads and their frame headers.
    assert.ok((live?.clientBytes ?? 0) >= "hello 0".length * 3, `clientBytes ${live?.clientBytes}`);
    assert.ok((live?.backendBytes ?? 0) >= "hello 0".length * 3, `backendBytes ${live?.backendBytes}`);
    assert.equal(live?.backendMessages, 3);
    const status = await admin(adminPort, "GET", "/apis/v2/status/objects");
    const pool = status.json<{ pools: { servers: { activeConnections: number }[] }[] }>().pools[0];
    assert.equal(pool?.servers[0]?.activeConnections, 1);

    const reply = await admin(adminPort, "DELETE", `/apis/v2/sessions/${live?.id ?? ""}`);
    assert.equal(reply.status, 200);
    assert.equal(await withTimeout(closed, 3000, "the client's close"), 1008);
    assert.equal((await admin(adminPort, "DELETE", "/apis/v2/sessions/999999")).status, 404);
  });

  it("closes a session with ?code=, and refuses a code an operator may not send", async () => {
    const ws = await openSession(port, 1);
    const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
    // The session closed by the test before may still be finishing its close handshake with the backend.
    const id = await waitUntilAsync(async () => {
      const list = (await admin(adminPort, "GET", "/apis/v2/sessions")).json<{ id: string }[]>();
      return list.length === 1 ? list[0]?.id : undefined;
    });
    assert.equal((await admin(adminPort, "DELETE", `/apis/v2/sessions/${id}?code=1005`)).status, 400);
    assert.equal((await admin(adminPort, "DELETE", `/apis/v2/sessions/${id}?code=abc`)).status, 400);
    assert.equal((await admin(adminPort, "DELETE", `/apis/v2/sessions/${id}?code=4001`)).status, 200);
    assert.equal(await withTimeout(closed, 3000, "the client's close"), 4001);
  });

  it("serves Prometheus metrics on /metrics", async () => {
    const reply = await admin(adminPort, "GET", "/metrics");
    assert.equal(reply.status, 200);
    assert.match(reply.headers.get("content-type") ?? "", /^text\/plain/);
  });

  it("answers 404 for an unknown path, 405 for a wrong method, 413 for a huge body, and keeps serving", async () => {
    assert.equal((await admin(adminPort, "GET", "/apis/v2/nothing")).status, 404);
    const wrong = await admin(adminPort, "PATCH", "/apis/v2/objects/echo");
    assert.equal(wrong.status, 405);
    assert.match(wrong.headers.get("allow") ?? "", /GET/);
    const huge = await admin(adminPort, "POST", "/apis/v2/objects", { body: "x".repeat(2 * 1024 * 1024) });
    assert.equal(huge.status, 413);
    assert.equal((await admin(adminPort, "GET", "/apis/v2/objects")).status, 200);
    assert.equal(gateway.child.exitCode, null);
  });
});
