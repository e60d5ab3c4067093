// End to end: the Proxy filter (plain HTTP) next to the WebSocketProxy, through the real CLI, with real backends on
// 127.0.0.1: one path for pages and WebSockets (by header routing and by one pipeline holding both filters), bodies
// streamed both ways within bounded memory, 413, 502/504, retry on a dead server, kept-alive upstream connections,
// hop-by-hop headers and X-Forwarded-*.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http, { type IncomingHttpHeaders } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { Readable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { WebSocket } from "ws";
import { startBackend, type TestBackend } from "../helpers/backends.js";
import { TestPki } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { freePort, rawExchange, statusOf, withTimeout } from "../helpers/net.js";

const MiB = 1024 * 1024;

interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

interface WebBackend {
  port: number;
  requests: SeenRequest[];
  /** TCP connections accepted so far. */
  connections(): number;
  /** Body bytes received by requests whose body did not complete (the gateway cut them off). */
  cutBodies: number[];
  close(): Promise<void>;
}

/**
 * A plain HTTP backend (HTTPS with `tls`): pages, uploads counted as they stream, large downloads, a slow path that
 * never answers.
 */
function startWeb(tls?: { cert: string; key: string }): Promise<WebBackend> {
  const requests: SeenRequest[] = [];
  const cutBodies: number[] = [];
  let connections = 0;
  const handler: http.RequestListener = (req, res) => {
    const url = req.url ?? "";
    requests.push({ method: req.method ?? "", url, headers: req.headers });
    if (url.includes("slow")) {
      req.resume();
      return;
    }
    if (url.includes("upload")) {
      let bytes = 0;
      req.on("data", (chunk: Buffer) => (bytes += chunk.length));
      req.on("end", () => res.end(JSON.stringify({ bytes })));
      req.on("close", () => {
        if (!req.complete) cutBodies.push(bytes);
      });
      return;
    }
    const download = /download\/(\d+)/.exec(url);
    if (download !== null) {
      const total = Number(download[1]) * MiB;
      res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": total });
      Readable.from(chunks(total)).pipe(res);
      return;
    }
    req.resume();
    res.writeHead(200, {
      "Content-Type": "text/plain",
      Connection: "X-Backend-Hop",
      "X-Backend-Hop": "secret",
      "Keep-Alive": "timeout=30",
      "X-Kept": "yes",
    });
    res.end(`page ${url}`);
  };
  const server = tls === undefined ? http.createServer(handler) : https.createServer(tls, handler);
  server.keepAliveTimeout = 30_000;
  server.on("connection", () => connections++);
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({
        port: (server.address() as AddressInfo).port,
        requests,
        connections: () => connections,
        cutBodies,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

/** `total` bytes in 64 KiB chunks, generated as they are read. */
function* chunks(total: number): Generator<Buffer> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  for (let sent = 0; sent < total; sent += chunk.length) {
    yield total - sent >= chunk.length ? chunk : chunk.subarray(0, total - sent);
  }
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function request(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: Readable | string; agent?: http.Agent } = {},
  ms = 5000,
): Promise<Answer> {
  return withTimeout(
    new Promise<Answer>((resolve, reject) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port,
          path,
          method: options.method ?? "GET",
          headers: options.headers,
          agent: options.agent ?? false,
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on("data", (chunk: Buffer) => parts.push(chunk));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }),
          );
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      if (options.body instanceof Readable) options.body.pipe(req);
      else req.end(options.body);
    }),
    ms,
    `an answer to ${options.method ?? "GET"} ${path}`,
  );
}

function echoOverWebSocket(url: string, text: string): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.on("unexpected-response", (_req, res) => reject(new Error(`unexpected ${res.statusCode}`)));
      ws.on("error", reject);
      ws.on("open", () => ws.send(text));
      ws.on("message", (data: Buffer) => {
        resolve(data.toString());
        ws.close();
      });
    }),
    3000,
    `an echo over ${url}`,
  );
}

/** The gateway process's resident memory, from /proc (Linux). */
function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return match === null ? 0 : Number(match[1]) * 1024;
}

/** Samples the RSS every 50 ms while `work` runs; resolves with the work's value and the highest sample. */
async function peakRss<T>(pid: number, work: Promise<T>): Promise<{ value: T; peak: number }> {
  let peak = rssBytes(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 50);
  try {
    const value = await work;
    return { value, peak: Math.max(peak, rssBytes(pid)) };
  } finally {
    clearInterval(timer);
  }
}

describe("Proxy filter: plain HTTP next to WebSocket (wsgate run)", () => {
  let web: WebBackend;
  let secureWeb: WebBackend;
  let pki: TestPki;
  let wsBackend: TestBackend;
  let gateway: GatewayProcess;
  let port: number;
  let dead: number;

  before(async () => {
    web = await startWeb();
    pki = await TestPki.create();
    const cert = await pki.issue({ cn: "backend.test", ips: ["127.0.0.1"] });
    secureWeb = await startWeb({ cert: cert.cert, key: cert.key });
    wsBackend = await startBackend();
    port = await freePort();
    dead = await freePort();
    const webUrl = `http://127.0.0.1:${web.port}`;
    gateway = await GatewayProcess.start(`
kind: HTTPServer
name: proxy-server
port: ${port}
address: 127.0.0.1
clientMaxBodySize: ${MiB}
rules:
  - paths:
      - pathPrefix: /split
        headers:
          - key: Upgrade
            values: [websocket, WebSocket]
        backend: ws-pipeline
      - pathPrefix: /split
        backend: http-pipeline
      - pathPrefix: /both
        backend: both-pipeline
      - pathPrefix: /reversed
        backend: reversed-pipeline
      - pathPrefix: /standby
        backend: standby-pipeline
      - pathPrefix: /unhealthy
        backend: unhealthy-pipeline
      - pathPrefix: /secure
        backend: secure-pipeline
      - pathPrefix: /upload
        clientMaxBodySize: -1
        backend: http-pipeline
      - pathPrefix: /keep
        backend: keephost-pipeline
      - pathPrefix: /retry
        backend: retry-pipeline
      - pathPrefix: /refused
        backend: refused-pipeline
      - pathPrefix: /slow
        backend: slow-pipeline
      - pathPrefix: /
        backend: http-pipeline
---
kind: Pipeline
name: http-pipeline
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${webUrl}
---
kind: Pipeline
name: ws-pipeline
filters:
  - kind: WebSocketProxy
    name: wsproxy
    pools:
      - servers:
          - url: ${wsBackend.url}
---
kind: Pipeline
name: both-pipeline
flow:
  - filter: proxy
  - filter: wsproxy
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${webUrl}
  - kind: WebSocketProxy
    name: wsproxy
    pools:
      - servers:
          - url: ${wsBackend.url}
---
kind: Pipeline
name: reversed-pipeline
flow:
  - filter: wsproxy
  - filter: proxy
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${webUrl}
  - kind: WebSocketProxy
    name: wsproxy
    pools:
      - servers:
          - url: ${wsBackend.url}
---
kind: Pipeline
name: standby-pipeline
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: http://127.0.0.1:${dead}
            weight: 1
          - url: ${webUrl}
            weight: 0 # standby: only once the dead server has been tried
        passiveHealth:
          enabled: false
---
kind: Pipeline
name: unhealthy-pipeline
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: http://127.0.0.1:${dead}
        healthCheck:
          interval: 10s
          timeout: 500ms
          http:
            uri: /healthz
---
kind: Pipeline
name: secure-pipeline
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: https://127.0.0.1:${secureWeb.port}
        tls:
          caFile: ${pki.ca.certFile}
---
kind: Pipeline
name: keephost-pipeline
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${webUrl}
            keepHost: true
---
kind: Pipeline
name: retry-pipeline
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: http://127.0.0.1:${dead}
          - url: ${webUrl}
        passiveHealth:
          enabled: false
---
kind: Pipeline
name: refused-pipeline
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: http://127.0.0.1:${dead}
---
kind: Pipeline
name: slow-pipeline
filters:
  - kind: Proxy
    name: proxy
    responseTimeout: 300ms
    pools:
      - servers:
          - url: ${webUrl}
`);
  });

  after(async () => {
    await gateway?.stop();
    await web?.close();
    await secureWeb?.close();
    await pki?.cleanup();
    await wsBackend?.close();
  });

  it("routes a page and a WebSocket on the same path to their two backends by the Upgrade header", async () => {
    const page = await request(port, "/split/app");
    assert.equal(page.status, 200);
    assert.equal(page.body, "page /split/app");
    assert.equal(await echoOverWebSocket(`ws://127.0.0.1:${port}/split/app`, "hello split"), "hello split");
    assert.ok(wsBackend.upgrades.some((req) => req.url === "/split/app"));
    assert.equal(web.requests.filter((req) => req.url === "/split/app").length, 1, "the page backend saw no upgrade");
  });

  it("sends a page to the Proxy and a WebSocket to the WebSocketProxy of one pipeline, Proxy first in the flow", async () => {
    const page = await request(port, "/both/app");
    assert.equal(page.status, 200);
    assert.equal(page.body, "page /both/app");
    assert.equal(await echoOverWebSocket(`ws://127.0.0.1:${port}/both/app`, "hello both"), "hello both");
    assert.ok(wsBackend.upgrades.some((req) => req.url === "/both/app"));
    assert.equal(web.requests.filter((req) => req.url === "/both/app").length, 1);
  });

  it("does the same with the WebSocketProxy first in the flow", async () => {
    const page = await request(port, "/reversed/app");
    assert.equal(page.status, 200);
    assert.equal(page.body, "page /reversed/app");
    assert.equal(await echoOverWebSocket(`ws://127.0.0.1:${port}/reversed/app`, "hello reversed"), "hello reversed");
    assert.ok(wsBackend.upgrades.some((req) => req.url === "/reversed/app"));
  });

  it("refuses upgrades to other protocols (h2c) with 400, and a WebSocket upgrade on a Proxy-only route", async () => {
    for (const path of ["/both/app", "/split/app"]) {
      const answer = await rawExchange(
        port,
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n`,
      );
      assert.equal(statusOf(answer.received), 400, `h2c on ${path}`);
      assert.match(answer.received.toString(), /only websocket/);
    }
    const seen = web.requests.length;
    const answer = await rawExchange(
      port,
      "GET /plain HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    );
    assert.equal(statusOf(answer.received), 400);
    assert.equal(web.requests.length, seen, "no backend saw the refused upgrades");
  });

  it("streams a 200 MB upload and a 200 MB download through with bounded memory", async () => {
    const pid = gateway.child.pid as number;
    const before = rssBytes(pid);
    const upload = await peakRss(
      pid,
      request(
        port,
        "/upload",
        {
          method: "POST",
          headers: { "Content-Length": String(200 * MiB) },
          body: Readable.from(chunks(200 * MiB)),
        },
        20_000,
      ),
    );
    assert.equal(upload.value.status, 200);
    assert.deepEqual(JSON.parse(upload.value.body), { bytes: 200 * MiB });
    // Buffering the body would take 200 MB; streaming holds a few socket buffers (plus what the GC has not freed yet).
    assert.ok(upload.peak - before < 100 * MiB, `RSS grew by ${((upload.peak - before) / MiB).toFixed(1)} MiB`);

    const download = await peakRss(
      pid,
      withTimeout(
        new Promise<number>((resolve, reject) => {
          http
            .get({ host: "127.0.0.1", port, path: "/download/200", agent: false }, (res) => {
              let bytes = 0;
              res.on("data", (chunk: Buffer) => (bytes += chunk.length));
              res.on("end", () => resolve(bytes));
              res.on("error", reject);
            })
            .on("error", reject);
        }),
        20_000,
        "the download",
      ),
    );
    assert.equal(download.value, 200 * MiB);
    assert.ok(download.peak - before < 100 * MiB, `RSS grew by ${((download.peak - before) / MiB).toFixed(1)} MiB`);
  });

  it("answers 413 to a Content-Length over clientMaxBodySize without asking the backend", async () => {
    const seen = web.requests.length;
    const answer = await rawExchange(
      port,
      `POST /limited HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${2 * MiB}\r\n\r\n`,
    );
    assert.equal(statusOf(answer.received), 413);
    assert.match(answer.received.toString(), /clientMaxBodySize/);
    assert.equal(web.requests.length, seen);
  });

  it("cuts off a chunked body that goes over clientMaxBodySize with 413", async () => {
    const cut = web.cutBodies.length;
    const status = await withTimeout(
      new Promise<number>((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1");
        let text = "";
        socket.on("error", reject);
        socket.on("data", (data: Buffer) => {
          text += data.toString("latin1");
          if (text.includes("\r\n\r\n")) resolve(statusOf(Buffer.from(text, "latin1")));
        });
        socket.write("POST /limited-upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        const chunk = Buffer.alloc(256 * 1024, 0x62);
        // Five chunks of 256 KiB: the fifth crosses 1 MiB. The client then stops and waits for the answer.
        for (let i = 0; i < 5; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString("latin1")}\r\n`);
      }),
      5000,
      "the 413",
    );
    assert.equal(status, 413);
    const [received] = await withTimeout(
      (async () => {
        while (web.cutBodies.length === cut) await new Promise((resolve) => setTimeout(resolve, 20));
        return web.cutBodies.slice(cut);
      })(),
      3000,
      "the backend to see the body cut off",
    );
    assert.ok((received ?? Infinity) <= MiB, `the backend got ${received} bytes, no more than the limit`);
  });

  it("answers 502 when the only server refuses, 504 when the backend does not answer in time", async () => {
    const refused = await request(port, "/refused");
    assert.equal(refused.status, 502);
    assert.equal(refused.body, "backend unreachable\n");

    const startedAt = Date.now();
    const slow = await request(port, "/slow");
    assert.equal(slow.status, 504);
    assert.equal(slow.body, "backend did not answer in time\n");
    assert.ok(Date.now() - startedAt < 3000);
  });

  it("retries a GET on the next server when a server refuses the connection", async () => {
    // With round robin over [dead, live], half of the picks start on the dead server; each must end on the live one.
    for (let i = 0; i < 4; i++) {
      const answer = await request(port, `/retry/${i}`);
      assert.equal(answer.status, 200, `request ${i}`);
      assert.equal(answer.body, `page /retry/${i}`);
    }
    await gateway.nextLog((line) => line.msg === "backend connect failed", 1000);
  });

  it("retries GET and a PUT whose body is still unread, never a POST", async () => {
    // The weighted server is dead; the standby (weight 0) takes a request only once the dead one has failed it.
    const get = await request(port, "/standby/get");
    assert.equal(get.status, 200);
    const put = await request(port, "/standby/upload-put", { method: "PUT", body: "x".repeat(1000) });
    assert.equal(put.status, 200);
    assert.deepEqual(JSON.parse(put.body), { bytes: 1000 });
    const seen = web.requests.length;
    const post = await request(port, "/standby/post", { method: "POST", body: "once" });
    assert.equal(post.status, 502);
    assert.equal(web.requests.length, seen, "the POST went to no other server");
  });

  it("answers 503 with Retry-After when health checks find no healthy server", async () => {
    const answer = await request(port, "/unhealthy");
    assert.equal(answer.status, 503);
    assert.ok(Number(answer.headers["retry-after"]) >= 1);
    assert.equal(answer.body, "no backend available\n");
  });

  it("proxies to an https:// server verified with the pool's CA", async () => {
    const answer = await request(port, "/secure/page");
    assert.equal(answer.status, 200);
    assert.equal(answer.body, "page /secure/page");
    assert.equal(secureWeb.requests.at(-1)?.headers["x-forwarded-proto"], "http");
  });

  it("keeps upstream connections alive across client connections", async () => {
    await request(port, "/warm");
    const before = web.connections();
    for (let i = 0; i < 10; i++) {
      const answer = await request(port, `/again/${i}`);
      assert.equal(answer.status, 200);
    }
    assert.equal(web.connections() - before, 0, "ten requests from ten client connections reuse one upstream");
  });

  it("removes hop-by-hop headers both ways and sets X-Forwarded-*", async () => {
    const answer = await request(port, "/headers?x=1", {
      headers: {
        Host: "app.example.com",
        Connection: "keep-alive, X-Client-Hop",
        "X-Client-Hop": "secret",
        "Keep-Alive": "timeout=5",
        TE: "trailers",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "X-Forwarded-For": "10.0.0.1",
        "X-End-To-End": "kept",
      },
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers["x-kept"], "yes");
    assert.equal(answer.headers["x-backend-hop"], undefined);
    assert.notEqual(answer.headers["keep-alive"], "timeout=30");
    const seen = web.requests.filter((req) => req.url === "/headers?x=1").at(-1);
    assert.ok(seen);
    for (const name of ["x-client-hop", "keep-alive", "te", "proxy-authorization"]) {
      assert.equal(seen.headers[name], undefined, name);
    }
    assert.equal(seen.headers["x-end-to-end"], "kept");
    assert.equal(seen.headers.host, `127.0.0.1:${web.port}`);
    // The client is no trusted proxy: its X-Forwarded-For is dropped and its own address sent.
    assert.equal(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert.equal(seen.headers["x-forwarded-host"], "app.example.com");
    assert.equal(seen.headers["x-forwarded-proto"], "http");

    await request(port, "/keep/1", { headers: { Host: "app.example.com" } });
    assert.equal(web.requests.filter((req) => req.url === "/keep/1").at(-1)?.headers.host, "app.example.com");
  });
});
