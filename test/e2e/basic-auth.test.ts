// End to end through the real CLI: Validator basicAuth as an attacker sees it. A table of Authorization headers
// against a recording backend; an unknown user's cost; a public route's latency while wrong passwords flood another
// route (bcrypt used to run on the event loop: 0.85 ms became 776 ms); the queue's 503; the cache under a flood.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { after, before, describe, it } from "node:test";
import bcrypt from "bcryptjs";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, withTimeout } from "../helpers/net.js";
import { startRecordingBackend, type RecordingBackend } from "../helpers/recording-backend.js";

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
}

function get(port: number, path: string, headers: Record<string, string> = {}, ms = 10_000): Promise<Answer> {
  return withTimeout(
    new Promise<Answer>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      });
      req.on("error", reject);
      req.end();
    }),
    ms,
    `an answer to GET ${path}`,
  );
}

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

const LONG_PASSWORD = "p".repeat(10 * 1024);
const SHA_PASS = createHash("sha1").update("sha-pass").digest("base64");

/** Authorization header → whether it gets in. Users: see `before`. */
const VARIANTS: Array<{ name: string; authorization: string | undefined; passes: boolean }> = [
  { name: "right password", authorization: basic("alice", "alice-pass"), passes: true },
  { name: "{SHA} user", authorization: basic("bob", "sha-pass"), passes: true },
  { name: "empty password, stored empty", authorization: basic("eve", ""), passes: true },
  { name: "colons in the password", authorization: basic("colin", "a:b:c"), passes: true },
  { name: "unicode user and password", authorization: basic("zoë", "пароль🔑"), passes: true },
  { name: "10 KB password, right", authorization: basic("long", LONG_PASSWORD), passes: true },
  { name: "scheme in lower case", authorization: `basic ${basic("alice", "alice-pass").slice(6)}`, passes: true },
  { name: "scheme in upper case", authorization: `BASIC ${basic("alice", "alice-pass").slice(6)}`, passes: true },
  { name: "no header", authorization: undefined, passes: false },
  { name: "wrong password", authorization: basic("alice", "nope"), passes: false },
  { name: "empty password", authorization: basic("alice", ""), passes: false },
  { name: "password with a trailing space", authorization: basic("alice", "alice-pass "), passes: false },
  { name: "password in other case", authorization: basic("alice", "ALICE-PASS"), passes: false },
  { name: "user in other case", authorization: basic("ALICE", "alice-pass"), passes: false },
  { name: "user with a trailing space", authorization: basic("alice ", "alice-pass"), passes: false },
  { name: "empty user", authorization: basic("", "alice-pass"), passes: false },
  { name: "unknown user", authorization: basic("mallory", "alice-pass"), passes: false },
  { name: "unknown user, empty password", authorization: basic("mallory", ""), passes: false },
  { name: "{SHA} user, wrong password", authorization: basic("bob", "sha-pass!"), passes: false },
  { name: "{SHA} user, empty password", authorization: basic("bob", ""), passes: false },
  { name: "stored empty, given one", authorization: basic("eve", "x"), passes: false },
  { name: "stored empty, given NUL", authorization: basic("eve", "\0"), passes: false },
  { name: "password then NUL then password", authorization: basic("alice", "alice-pass\0alice-pass"), passes: false },
  { name: "NUL in the user", authorization: basic("alice\0", "alice-pass"), passes: false },
  { name: "line break in the password", authorization: basic("alice", "alice-pass\n"), passes: false },
  { name: "colons, a prefix", authorization: basic("colin", "a:b"), passes: false },
  { name: "colons, one more in front", authorization: basic("colin", ":a:b:c"), passes: false },
  { name: "unicode, decomposed ë", authorization: basic("zoe\u0308", "пароль🔑"), passes: false },
  { name: "unicode, wrong password", authorization: basic("zoë", "пароль"), passes: false },
  { name: "10 KB password, wrong at the start", authorization: basic("long", `q${LONG_PASSWORD}`), passes: false },
  { name: "10 KB unknown user", authorization: basic("u".repeat(10 * 1024), "x"), passes: false },
  { name: "10 KB password for another user", authorization: basic("alice", LONG_PASSWORD), passes: false },
  { name: "Basic without value", authorization: "Basic", passes: false },
  { name: "Basic and spaces", authorization: "Basic    ", passes: false },
  { name: "malformed base64", authorization: "Basic !!!!", passes: false },
  { name: "base64url alphabet", authorization: "Basic YWxp-2U_", passes: false },
  { name: "no colon", authorization: `Basic ${Buffer.from("alice").toString("base64")}`, passes: false },
  {
    name: "two values",
    authorization: `${basic("alice", "alice-pass")} ${basic("alice", "alice-pass")}`,
    passes: false,
  },
  {
    name: "bytes that are not UTF-8",
    authorization: `Basic ${Buffer.from([0xff, 0x3a, 0xfe]).toString("base64")}`,
    passes: false,
  },
  { name: "Bearer scheme", authorization: `Bearer ${basic("alice", "alice-pass").slice(6)}`, passes: false },
  { name: "no scheme", authorization: basic("alice", "alice-pass").slice(6), passes: false },
  { name: "scheme glued to value", authorization: `Basic${basic("alice", "alice-pass").slice(6)}`, passes: false },
  { name: "10 KB of base64 garbage", authorization: `Basic ${"QUFB".repeat(2560)}`, passes: false },
];

describe("Validator basicAuth (wsgate run)", () => {
  let backend: RecordingBackend;
  let gateway: GatewayProcess;
  let port: number;

  before(async () => {
    backend = await startRecordingBackend();
    port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "wsgate-basic-"));
    const cheap = (password: string): string => bcrypt.hashSync(password, 4);
    const table = join(dir, "table.htpasswd");
    writeFileSync(
      table,
      [
        `alice:${cheap("alice-pass").replace("$2b$", "$2y$")}`,
        `bob:{SHA}${SHA_PASS}`,
        `eve:${cheap("")}`,
        `colin:${cheap("a:b:c")}`,
        `zoë:${cheap("пароль🔑")}`,
        `long:${cheap(LONG_PASSWORD)}`,
        "",
      ].join("\n"),
    );
    // Cost 10, as htpasswd -B writes by default: about 80 ms a comparison.
    const costly = join(dir, "costly.htpasswd");
    writeFileSync(costly, `alice:${bcrypt.hashSync("alice-pass", 10)}\nbob:${bcrypt.hashSync("bob-pass", 10)}\n`);
    const pipeline = (name: string, users: string | undefined): string => `
---
kind: Pipeline
name: ${name}
flow:${users === undefined ? "" : "\n  - filter: auth"}
  - filter: proxy
filters:${
      users === undefined
        ? ""
        : `
  - kind: Validator
    name: auth
    basicAuth:
      mode: FILE
      userFile: ${users}
      realm: tests`
    }
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}`;
    gateway = await GatewayProcess.start(`
kind: HTTPServer
name: basic-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /table
        backend: table
      - pathPrefix: /costly
        backend: costly
      - pathPrefix: /public
        backend: public
${pipeline("table", table)}${pipeline("costly", costly)}${pipeline("public", undefined)}
`);
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
  });

  it(`${VARIANTS.length} Authorization headers: only the right credentials reach the backend`, async () => {
    for (const [index, variant] of VARIANTS.entries()) {
      const path = `/table/${index}`;
      const headers: Record<string, string> =
        variant.authorization === undefined ? {} : { Authorization: variant.authorization };
      const answer = await get(port, path, headers);
      const reached = backend.requests.some((request) => request.url === path);
      assert.equal(answer.status, variant.passes ? 200 : 401, `${variant.name}: status`);
      assert.equal(reached, variant.passes, `${variant.name}: reached the backend`);
      if (!variant.passes) assert.match(String(answer.headers["www-authenticate"]), /^Basic realm="tests"/);
    }
    const logs = JSON.stringify(gateway.logs);
    assert.equal(logs.includes("alice-pass"), false, "no password is logged");
  });

  it("an unknown user costs what a known user's wrong password costs (not 100x less)", async (t) => {
    const known: number[] = [];
    const unknown: number[] = [];
    await get(port, "/costly/warm", { Authorization: basic("nobody", "warm-up") });
    for (let i = 0; i < 5; i++) {
      let started = performance.now();
      assert.equal((await get(port, "/costly/t", { Authorization: basic("alice", `wrong-${i}`) })).status, 401);
      known.push(performance.now() - started);
      started = performance.now();
      assert.equal((await get(port, "/costly/t", { Authorization: basic(`nobody-${i}`, `wrong-${i}`) })).status, 401);
      unknown.push(performance.now() - started);
    }
    const [k, u] = [percentile(known, 50), percentile(unknown, 50)];
    t.diagnostic(`median: known user ${k.toFixed(1)} ms, unknown user ${u.toFixed(1)} ms`);
    assert.ok(u > k / 3, `unknown user: median ${u.toFixed(1)} ms, known user: median ${k.toFixed(1)} ms`);
  });

  it("8 clients flooding wrong passwords leave a public route responsive (bcrypt is off the event loop)", async (t) => {
    let flooding = true;
    let floodAnswers = 0;
    const flooder = async (client: number): Promise<void> => {
      for (let i = 0; flooding && i < 1000; i++) {
        await get(port, "/costly/flood", {
          Authorization: basic(client % 2 === 0 ? "alice" : `nobody-${client}`, `guess-${client}-${i}`),
        });
        floodAnswers++;
      }
    };
    const flood = Promise.all(Array.from({ length: 8 }, (_, client) => flooder(client)));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const latencies: number[] = [];
    const until = performance.now() + 2000;
    while (performance.now() < until && latencies.length < 400) {
      const started = performance.now();
      assert.equal((await get(port, "/public/ping")).status, 200);
      latencies.push(performance.now() - started);
    }
    flooding = false;
    await flood;
    const [p50, p99] = [percentile(latencies, 50), percentile(latencies, 99)];
    t.diagnostic(
      `public route under the flood: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, ${latencies.length} requests`,
    );
    assert.ok(floodAnswers > 8, "the flood was answered");
    // Before the fix a public request waited behind every queued bcrypt: hundreds of ms. The bounds are generous.
    assert.ok(p50 < 50, `public route p50 ${p50.toFixed(1)} ms under the flood (${latencies.length} requests)`);
    assert.ok(p99 < 250, `public route p99 ${p99.toFixed(1)} ms under the flood (${latencies.length} requests)`);
  });

  it("more guesses at once than the queue holds: 503 with Retry-After at once, none reaches the backend; a cached user still gets in", async () => {
    assert.equal((await get(port, "/costly/cached", { Authorization: basic("bob", "bob-pass") })).status, 200);
    const before = backend.requests.length;
    const capacity = Math.max(1, availableParallelism() - 1) * 17;
    const guesses = Array.from({ length: capacity + 30 }, (_, i) =>
      get(port, "/costly/guess", { Authorization: basic("alice", `guess-${i}`) }, 30_000),
    );
    // While the queue is full, bob's success is remembered: no comparison, no wait.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const cached = await get(port, "/costly/cached", { Authorization: basic("bob", "bob-pass") });
    const answers = await Promise.all(guesses);
    assert.equal(cached.status, 200);
    const busy = answers.filter((answer) => answer.status === 503);
    assert.ok(busy.length > 0, "some guesses were refused at once");
    for (const answer of busy) assert.equal(answer.headers["retry-after"], "1");
    assert.equal(answers.filter((answer) => answer.status === 401).length + busy.length, answers.length);
    assert.equal(backend.requests.slice(before).filter((request) => request.url === "/costly/guess").length, 0);
    const line = await gateway.nextLog((entry) => JSON.stringify(entry).includes("WSG_AUTH_BUSY"));
    assert.ok(line !== undefined);
  });
});
