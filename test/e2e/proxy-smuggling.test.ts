// Request smuggling through the Proxy filter, end to end (wsgate run, raw TCP). A differential test: each request of a
// generated corpus (smuggling-corpus.ts) goes through the gateway to a recording backend, and the same bytes go
// straight to a reference backend (Node's parser, as the gateway's own). Every request the backend saw must be
// claimed by exactly one answer the client got, and be what the reference parsed from the client's bytes (method,
// target after rewrite, body); what the gateway refused reaches nothing. Then the regressions by name.
import assert from "node:assert/strict";
import type http from "node:http";
import { after, before, describe, it } from "node:test";
import { inBatches, sleep } from "../fuzz/process-probe.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { exchangePipelined, type PipelinedExchange } from "../helpers/http-answers.js";
import { freePort, rawExchange, withTimeout } from "../helpers/net.js";
import { startRecordingBackend, type RecordedRequest, type RecordingBackend } from "../helpers/recording-backend.js";
import { smugglingCorpus, type SmuggleCase } from "./smuggling-corpus.js";

/** How long a SLOW request of the corpus waits for its answer: longer than an upgrade takes to be answered. */
const SLOW_MS = 80;

/** At most this long per case and side; only cases that leave a parser waiting for more bytes take it. */
const CASE_MS = 2500;

/** Answers with the index of the record (X-Seen), so that the client's answers say which request they are. */
function recordingBackend(): Promise<RecordingBackend> {
  let backend: RecordingBackend | undefined;
  const respond = (request: RecordedRequest, res: http.ServerResponse): void => {
    const answer = (): void => {
      res.writeHead(200, { "X-Seen": String(backend?.requests.indexOf(request) ?? -1) });
      res.end(`${request.method} ${request.url}`);
    };
    if (request.url.endsWith("/slow")) setTimeout(answer, SLOW_MS);
    else answer();
  };
  return startRecordingBackend({ respond }).then((started) => (backend = started));
}

const MARKER = /\/c(\d+)\/(r\d+|bait)(?=$|[/?])/;

function markerOf(url: string): { caseId: number; marker: string } | undefined {
  const match = MARKER.exec(url);
  return match === null ? undefined : { caseId: Number(match[1]), marker: `c${match[1]}/${match[2]}` };
}

/** The target the gateway sends for `url` (the /rw route rewrites its prefix). */
function routed(url: string): string {
  return url.startsWith("/rw/") ? `/rewritten/${url.slice("/rw/".length)}` : url;
}

/** How many times each name (any case) occurs in a record's raw headers. */
function headerCounts(record: RecordedRequest): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < record.rawHeaders.length; i += 2) {
    const name = (record.rawHeaders[i] ?? "").toLowerCase();
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

interface CaseRun {
  testCase: SmuggleCase;
  gateway: PipelinedExchange;
  reference: PipelinedExchange;
}

function exchange(port: number, testCase: SmuggleCase, records: RecordedRequest[]): Promise<PipelinedExchange> {
  const bodyless = (index: number, headers: Map<string, string>): boolean => {
    const seen = headers.get("x-seen");
    if (seen !== undefined) return records[Number(seen)]?.method === "HEAD";
    return testCase.methods[index] === "HEAD";
  };
  return exchangePipelined(port, testCase.bytes, testCase.expectedAnswers, bodyless, CASE_MS);
}

/** Every way the backend's records and the client's answers disagree, one line each. */
function disagreements(runs: CaseRun[], seen: RecordedRequest[], reference: RecordedRequest[]): string[] {
  const problems: string[] = [];
  const referenceByMarker = new Map<string, RecordedRequest>();
  for (const record of reference) {
    const marker = markerOf(record.url)?.marker;
    if (marker !== undefined) referenceByMarker.set(marker, record);
  }
  const claims = new Map<number, number>();
  for (const run of runs) {
    for (const answer of run.gateway.answers) {
      const seenIndex = answer.headers.get("x-seen");
      if (seenIndex === undefined) continue;
      const index = Number(seenIndex);
      claims.set(index, (claims.get(index) ?? 0) + 1);
      const owner = markerOf(seen[index]?.url ?? "")?.caseId;
      if (owner !== run.testCase.id) problems.push(`${run.testCase.name}: got the answer to ${seen[index]?.url}`);
    }
  }
  const byMarker = new Map<string, number>();
  seen.forEach((record, index) => {
    const where = markerOf(record.url);
    if (where === undefined) {
      problems.push(`backend saw ${record.method} ${record.url}, which no client sent`);
      return;
    }
    const run = runs[where.caseId];
    const name = run?.testCase.name ?? `#${where.caseId}`;
    byMarker.set(where.marker, (byMarker.get(where.marker) ?? 0) + 1);
    const claimed = record.upgrade
      ? run?.gateway.answers.some((answer) => answer.status === 101) === true
      : claims.get(index) === 1;
    if (!claimed) problems.push(`${name}: backend saw ${record.method} ${record.url}, no answer of the client is it`);
    const expected = referenceByMarker.get(where.marker);
    if (expected === undefined) {
      problems.push(`${name}: backend saw ${record.method} ${record.url}; the client's bytes hold no such request`);
      return;
    }
    if (record.method !== expected.method) problems.push(`${name}: method ${record.method}, sent ${expected.method}`);
    if (record.url !== routed(expected.url)) problems.push(`${name}: target ${record.url}, sent ${expected.url}`);
    if (!record.body.equals(expected.body)) {
      problems.push(
        `${name}: body ${JSON.stringify(record.body.toString())}, sent ${JSON.stringify(expected.body.toString())}`,
      );
    }
    if (record.upgrade !== expected.upgrade) problems.push(`${name}: upgrade ${record.upgrade}`);
    const counts = headerCounts(record);
    for (const name_ of ["host", "x-forwarded-for", "x-forwarded-proto"]) {
      if (counts.get(name_) !== 1) problems.push(`${name}: ${counts.get(name_) ?? 0} ${name_} headers`);
    }
    for (const name_ of ["x-forwarded-host", "content-length", "transfer-encoding"]) {
      if ((counts.get(name_) ?? 0) > 1) problems.push(`${name}: ${counts.get(name_)} ${name_} headers`);
    }
    if (counts.has("content-length") && counts.has("transfer-encoding")) problems.push(`${name}: two framings`);
  });
  for (const [marker, count] of byMarker) if (count > 1) problems.push(`${marker} reached the backend ${count} times`);
  for (const run of runs) {
    const { marker, outcome } = run.testCase.variant;
    const forwarded = byMarker.has(marker);
    if (outcome === "forwarded" && !forwarded) problems.push(`${run.testCase.name}: should have been forwarded`);
    if (outcome === "refused" && forwarded) problems.push(`${run.testCase.name}: should have been refused`);
  }
  return problems;
}

describe("Proxy: no request smuggling (differential, wsgate run)", () => {
  let backend: RecordingBackend;
  let reference: RecordingBackend;
  let gateway: GatewayProcess;
  let port: number;

  before(async () => {
    backend = await recordingBackend();
    reference = await recordingBackend();
    port = await freePort();
    gateway = await GatewayProcess.start(`
kind: HTTPServer
name: smuggle-server
port: ${port}
address: 127.0.0.1
rules:
  - paths:
      - pathPrefix: /p/
        backend: proxy-only
      - pathPrefix: /rw/
        rewriteTarget: /rewritten/
        backend: proxy-only
      - pathPrefix: /both/
        backend: both
---
kind: Pipeline
name: proxy-only
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}
---
kind: Pipeline
name: both
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
          - url: ${backend.url}
`);
  });

  after(async () => {
    await gateway?.stop();
    await backend?.close();
    await reference?.close();
  });

  it("forwards each accepted request of a generated corpus exactly once, as the client framed it, and refused ones never", async () => {
    const corpus = smugglingCorpus();
    assert.ok(corpus.length >= 500, `corpus of ${corpus.length}`);
    const runs: CaseRun[] = [];
    await withTimeout(
      inBatches(corpus.length, 24, async (index) => {
        const testCase = corpus[index] as SmuggleCase;
        const [viaGateway, direct] = await Promise.all([
          exchange(port, testCase, backend.requests),
          exchange(reference.port, testCase, reference.requests),
        ]);
        runs[index] = { testCase, gateway: viaGateway, reference: direct };
      }),
      60_000,
      "the corpus",
    );
    // A request smuggled in a body reaches the backend after the answer that carried it.
    await sleep(300);
    const problems = disagreements(runs, backend.requests, reference.requests);
    assert.deepEqual(problems.slice(0, 25), [], `${problems.length} disagreements`);
    const forwarded = runs.filter((run) => run.gateway.answers.some((answer) => answer.headers.has("x-seen")));
    assert.ok(forwarded.length > corpus.length / 3, `only ${forwarded.length} cases reached the backend`);
    // The ordering of upgrades is exercised: some 101s came after a proxied answer on the same connection.
    const upgradedAfter = runs.filter(
      (run) => run.gateway.answers.length >= 2 && run.gateway.answers.at(-1)?.status === 101,
    );
    assert.ok(upgradedAfter.length >= 10, `only ${upgradedAfter.length} upgrades behind proxied requests`);
  });

  /** The records added while `work` runs, once late ones had time to arrive. */
  async function recordsDuring(work: () => Promise<void>): Promise<RecordedRequest[]> {
    const before = backend.requests.length;
    await work();
    await sleep(200);
    return backend.requests.slice(before);
  }

  it("issue 15: a GET whose Connection lists Content-Length reaches the backend once, its body framed, not as a second request", async () => {
    const smuggled = "GET /p/admin-only HTTP/1.1\r\nHost: internal\r\n\r\n";
    let answer = "";
    const records = await recordsDuring(async () => {
      const exchange = await rawExchange(
        port,
        "GET /p/page HTTP/1.1\r\nHost: gw.test\r\nConnection: content-length\r\n" +
          `Content-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
        1000,
      );
      answer = exchange.received.toString("latin1");
    });
    assert.match(answer, /^HTTP\/1\.1 200 /);
    assert.deepEqual(
      records.map((record) => [record.method, record.url, record.body.toString(), record.headers["content-length"]]),
      [["GET", "/p/page", smuggled, String(smuggled.length)]],
    );
  });

  it("issue 15: an upgrade pipelined behind a slow proxied request is answered after that request's answer", async () => {
    const upgrade = (path: string): string =>
      `GET ${path} HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    for (const [route, status] of [
      ["/p", "400"],
      ["/both", "101"],
    ] as const) {
      const slow = `GET ${route}/first/slow HTTP/1.1\r\nHost: gw.test\r\n\r\n`;
      const exchange = await rawExchange(port, slow + upgrade(`${route}/then-upgrade`), 1000);
      const statuses = [...exchange.received.toString("latin1").matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
      assert.deepEqual(statuses, ["200", status], route);
    }
  });

  it("answers a malformed request pipelined behind a slow proxied one after the earlier answer, not before", async () => {
    const slow = "GET /p/before-garbage/slow HTTP/1.1\r\nHost: gw.test\r\n\r\n";
    const exchange = await rawExchange(port, `${slow}GET /p/x HTTP/1.1\r\nHost : gw.test\r\n\r\n`, 1000);
    const statuses = [...exchange.received.toString("latin1").matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
    assert.deepEqual(statuses, ["200", "400"]);
  });

  it("never lets a request pipelined behind a refused one, or one saying Connection: close, reach the backend", async () => {
    const last = [
      [
        "refused",
        "POST /p/refused HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "400",
      ],
      ["closing", "GET /p/closing/slow HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n", "200"],
    ] as const;
    for (const [name, first, status] of last) {
      let answer = "";
      const records = await recordsDuring(async () => {
        const behind = `GET /p/behind-${name} HTTP/1.1\r\nHost: gw.test\r\n\r\n`;
        answer = (await rawExchange(port, first + behind)).received.toString("latin1");
      });
      assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} [^]*Connection: close`), name);
      assert.deepEqual(
        records.map((record) => record.url).filter((url) => url.includes("behind")),
        [],
        name,
      );
    }
  });
});
