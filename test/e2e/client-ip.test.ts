// End to end (wsgate run, raw sockets, a recording backend): the client address is decided once, from trusted
// peers only. 127.0.0.1 is the trusted proxy; a client bound to 127.0.0.2 is anyone else. X-Forwarded-For is read
// right to left from trusted peers, PROXY protocol v1/v2 headers only from trusted peers, and every per-client
// feature (ipFilter, maxConnectionsPerIP, RateLimiter, access log, session list, upstream X-Forwarded-For) sees the
// same address.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { after, before, describe, it } from "node:test";
import WebSocket from "ws";
import { parseProxyHeader, proxyV2Header, type ProxyHeader } from "../../src/util/net/proxy-protocol.js";
import { admin } from "../helpers/admin.js";
import { TestPki, startWssBackend, type WssBackend } from "../helpers/certs.js";
import { GatewayProcess } from "../helpers/gateway-process.js";
import { exchangeOn, freePort, statusOf, waitUntil, withTimeout, type RawExchange } from "../helpers/net.js";
import { startRecordingBackend, type RecordedRequest, type RecordingBackend } from "../helpers/recording-backend.js";

const TRUSTED = "127.0.0.1";
const UNTRUSTED = "127.0.0.2";

/** Sends `bytes` from `from` on a fresh connection; collects the answer until the gateway closes or `ms` pass. */
function exchange(port: number, bytes: Buffer | string, from: string, ms = 3000): Promise<RawExchange> {
  return exchangeOn(net.connect({ port, host: "127.0.0.1", localAddress: from }), bytes, ms);
}

/** A GET for `path` with extra raw header lines, closing the connection after the answer. */
function get(path: string, headerLines: readonly string[] = []): string {
  const lines = [`GET ${path} HTTP/1.1`, "Host: app.example.test", ...headerLines, "Connection: close", "", ""];
  return lines.join("\r\n");
}

function v1(source: string, port = 40000): string {
  const family = net.isIP(source) === 6 ? "TCP6" : "TCP4";
  return `PROXY ${family} ${source} ${family === "TCP6" ? "::1" : "127.0.0.1"} ${port} 8080\r\n`;
}

function v2(source: string, port = 40000): Buffer {
  return proxyV2Header({ address: source, port }, { address: net.isIP(source) === 6 ? "::1" : "127.0.0.1", port: 80 });
}

/** Opens a WebSocket from `from`, with `prefix` (a PROXY header) written before the upgrade request. */
function openWs(
  url: string,
  options: { from?: string; headers?: Record<string, string>; prefix?: Buffer | string } = {},
): Promise<{ ws?: WebSocket; status: number }> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const ws = new WebSocket(url, {
      headers: options.headers,
      createConnection: () => {
        const socket = net.connect({
          port: Number(target.port),
          host: "127.0.0.1",
          localAddress: options.from ?? TRUSTED,
        });
        if (options.prefix !== undefined) socket.write(options.prefix);
        return socket;
      },
    });
    ws.on("open", () => resolve({ ws, status: 101 }));
    ws.on("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.on("error", () => resolve({ status: 0 }));
  });
}

const FORWARDING_SPOOF = [
  "X-Forwarded-For: 198.51.100.66",
  "X_Forwarded_For: 198.51.100.67",
  "x_forwarded-for: 198.51.100.68",
  "X-Forwarded-Host: evil.example",
  "X-Forwarded-Proto: https",
  "X_Forwarded_Proto: https",
  "X-Forwarded-Port: 443",
  "X-Forwarded-Prefix: /admin",
  "Forwarded: for=198.51.100.69;proto=https",
  "X-Real-IP: 198.51.100.70",
  "X_Real_IP: 198.51.100.71",
];

/** Forwarding header names (as the backend's parser saw them) other than the gateway's own three. */
function strayForwarding(seen: RecordedRequest): string[] {
  const names: string[] = [];
  for (let index = 0; index < seen.rawHeaders.length; index += 2) {
    const name = (seen.rawHeaders[index] ?? "").toLowerCase();
    const normal = name.replaceAll("_", "-");
    const forwarding = normal === "forwarded" || normal === "x-real-ip" || normal.startsWith("x-forwarded-");
    if (forwarding && !["x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"].includes(name)) names.push(name);
  }
  return names;
}

interface ProxyReader {
  port: number;
  /** What each connection started with: its PROXY header, or undefined when it had none. */
  headers: Array<ProxyHeader | undefined>;
  close(): void;
}

/** A backend front that reads a PROXY header (when there is one) off each connection, then relays to `target`. */
function startProxyReader(target: number): Promise<ProxyReader> {
  const headers: Array<ProxyHeader | undefined> = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.once("data", (chunk: Buffer) => {
      const verdict = parseProxyHeader(chunk);
      const header = verdict.kind === "header" ? verdict.header : undefined;
      headers.push(header);
      const upstream = net.connect(target, "127.0.0.1");
      sockets.add(upstream);
      upstream.on("error", () => socket.destroy());
      upstream.write(chunk.subarray(header?.length ?? 0));
      socket.pipe(upstream).pipe(socket);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        headers,
        close: () => {
          for (const socket of sockets) socket.destroy();
          server.close();
        },
      });
    });
  });
}

describe("client address from trusted peers only (wsgate run)", () => {
  let backend: RecordingBackend;
  let gateway: GatewayProcess;
  let xffPort: number;
  let ppPort: number;
  let ppsPort: number;
  let untrustingPort: number;
  let accessFile: string;
  let config: string;
  let reader: ProxyReader;
  let tlsReader: ProxyReader;
  let wssBackend: WssBackend;
  let seq = 0;

  /** A path of its own for each request, so that the backend's record and the access line can be found. */
  const unique = (prefix: string): string => `${prefix}/${++seq}`;

  const recorded = (path: string): Promise<RecordedRequest> =>
    waitUntil(() => backend.requests.find((request) => request.url === path), 3000, `the backend to see ${path}`);

  const accessLine = (path: string): Promise<Record<string, unknown>> =>
    waitUntil(
      () => {
        if (!existsSync(accessFile)) return undefined;
        return readFileSync(accessFile, "utf8")
          .split("\n")
          .filter((line) => line.length > 0)
          .map((line) => JSON.parse(line) as Record<string, unknown>)
          .find((line) => line["path"] === path);
      },
      3000,
      `the access line of ${path}`,
    );

  before(async () => {
    backend = await startRecordingBackend();
    const pki = await TestPki.create();
    const cert = await pki.issue({ cn: "localhost", ips: ["127.0.0.1"] });
    wssBackend = await startWssBackend({ cert });
    reader = await startProxyReader(backend.port);
    tlsReader = await startProxyReader(wssBackend.port);
    [xffPort, ppPort, ppsPort, untrustingPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    accessFile = join(mkdtempSync(join(tmpdir(), "wsgate-clientip-")), "access.log");
    const rules = `
rules:
  - paths:
      - pathPrefix: /web
        backend: web
      - pathPrefix: /ws
        backend: ws
      - pathPrefix: /perip
        backend: perip
      - pathPrefix: /rate
        backend: rate
      - pathPrefix: /ppout
        backend: ppout
      - pathPrefix: /ppwss
        backend: ppwss
      - pathPrefix: /noppout
        backend: noppout
      - pathPrefix: /blocked
        backend: web
        ipFilter:
          blockIPs: [203.0.113.0/24]
      - pathPrefix: /allowed
        backend: web
        ipFilter:
          blockByDefault: true
          allowIPs: [198.51.100.0/24]`;
    config = `
kind: HTTPServer
name: xff
port: ${xffPort}
address: 127.0.0.1
xForwardedFor: true
trustedProxies: [${TRUSTED}, 10.0.0.0/8, "2001:db8:ffff::/48"]
accessLog:
  target: ${accessFile}
${rules}
---
kind: HTTPServer
name: pp
port: ${ppPort}
address: 127.0.0.1
proxyProtocol: true
xForwardedFor: true
trustedProxies: [${TRUSTED}, 10.0.0.0/8]
clientHeaderTimeout: 1s
accessLog:
  target: ${accessFile}
${rules}
---
kind: HTTPServer
name: pps
port: ${ppsPort}
address: 127.0.0.1
https: true
certFiles:
  - certFile: ${cert.certFile}
    keyFile: ${cert.keyFile}
proxyProtocol: true
trustedProxies: [${TRUSTED}]
${rules}
---
kind: HTTPServer
name: untrusting
port: ${untrustingPort}
address: 127.0.0.1
xForwardedFor: true
${rules}
---
kind: Pipeline
name: web
filters:
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}
---
kind: Pipeline
name: ws
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${backend.port}
---
kind: Pipeline
name: ppout
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${reader.port}
        sendProxyProtocol: v2
---
kind: Pipeline
name: noppout
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: ws://127.0.0.1:${reader.port}
---
kind: Pipeline
name: ppwss
filters:
  - kind: WebSocketProxy
    name: proxy
    pools:
      - servers:
          - url: wss://127.0.0.1:${tlsReader.port}
        sendProxyProtocol: v2
        tls: { caFile: ${pki.ca.certFile} }
---
kind: Pipeline
name: perip
filters:
  - kind: WebSocketProxy
    name: proxy
    maxConnectionsPerIP: 1
    pools:
      - servers:
          - url: ws://127.0.0.1:${backend.port}
---
kind: Pipeline
name: rate
flow:
  - filter: limiter
  - filter: proxy
filters:
  - kind: RateLimiter
    name: limiter
    keyBy: ip
    policies:
      - name: one
        limitForPeriod: 1
        limitRefreshPeriod: 60s
    defaultPolicyRef: one
  - kind: Proxy
    name: proxy
    pools:
      - servers:
          - url: ${backend.url}
`;
    gateway = await GatewayProcess.start(config, { servers: 4, admin: true });
  });

  after(async () => {
    await gateway?.stop();
    reader?.close();
    tlsReader?.close();
    await wssBackend?.close();
    await backend?.close();
  });

  describe("X-Forwarded-For variants from the trusted peer", () => {
    // [name, header lines, status, client address (access log), X-Forwarded-For the backend gets]
    const LONG = Array.from({ length: 600 }, (_, index) => `198.51.${index >> 8}.${index & 255}`);
    const cases: Array<[string, string[], number, string?, string?]> = [
      ["none: the peer", [], 200, "127.0.0.1", "127.0.0.1"],
      ["one address", ["X-Forwarded-For: 203.0.113.9"], 200, "203.0.113.9", "203.0.113.9, 127.0.0.1"],
      [
        "spaces and tabs around elements",
        ["X-Forwarded-For:   203.0.113.9 ,\t10.0.0.1\t"],
        200,
        "203.0.113.9",
        "203.0.113.9 ,\t10.0.0.1, 127.0.0.1",
      ],
      [
        "a spoofed left part is not read",
        ["X-Forwarded-For: 1.1.1.1, 203.0.113.9, 10.0.0.1"],
        200,
        "203.0.113.9",
        "1.1.1.1, 203.0.113.9, 10.0.0.1, 127.0.0.1",
      ],
      [
        "all trusted: the leftmost",
        ["X-Forwarded-For: 10.0.0.3, 10.0.0.2"],
        200,
        "10.0.0.3",
        "10.0.0.3, 10.0.0.2, 127.0.0.1",
      ],
      ["IPv4 with a port", ["X-Forwarded-For: 203.0.113.9:4711"], 200, "203.0.113.9", "203.0.113.9:4711, 127.0.0.1"],
      [
        "IPv6 with brackets and port",
        ["X-Forwarded-For: [2001:DB8::9]:443"],
        200,
        "2001:db8::9",
        "[2001:DB8::9]:443, 127.0.0.1",
      ],
      ["IPv6 bare, upper case", ["X-Forwarded-For: 2001:DB8:0::A"], 200, "2001:db8::a", "2001:DB8:0::A, 127.0.0.1"],
      [
        "IPv6 trusted hop skipped",
        ["X-Forwarded-For: 2001:db8::7, 2001:db8:ffff::1"],
        200,
        "2001:db8::7",
        "2001:db8::7, 2001:db8:ffff::1, 127.0.0.1",
      ],
      [
        "IPv4-mapped IPv6",
        ["X-Forwarded-For: ::ffff:203.0.113.9"],
        200,
        "203.0.113.9",
        "::ffff:203.0.113.9, 127.0.0.1",
      ],
      [
        "several X-Forwarded-For lines are one list",
        ["X-Forwarded-For: 198.51.100.1", "X-Forwarded-For: 203.0.113.9, 10.0.0.2"],
        200,
        "203.0.113.9",
        "198.51.100.1, 203.0.113.9, 10.0.0.2, 127.0.0.1",
      ],
      [
        "a 600-element list",
        [`X-Forwarded-For: ${LONG.join(", ")}, 10.0.0.1`],
        200,
        LONG.at(-1),
        `${LONG.join(", ")}, 10.0.0.1, 127.0.0.1`,
      ],
      ["underscore spelling is not read", ["X_Forwarded_For: 203.0.113.9"], 200, "127.0.0.1", "127.0.0.1"],
      ["empty element", ["X-Forwarded-For: 203.0.113.9,,10.0.0.1"], 400],
      ["trailing comma", ["X-Forwarded-For: 203.0.113.9,"], 400],
      ["empty value", ["X-Forwarded-For: "], 400],
      ["garbage", ["X-Forwarded-For: <script>"], 400],
      ["'unknown'", ["X-Forwarded-For: unknown"], 400],
      ["'unknown' left of a valid client", ["X-Forwarded-For: unknown, 203.0.113.9"], 400],
      ["host name", ["X-Forwarded-For: client.example.com"], 400],
      ["obs-fold (refused by the parser)", ["X-Forwarded-For: 203.0.113.9,", " 198.51.100.1"], 400],
      ["IPv6 zone id", ["X-Forwarded-For: fe80::1%eth0"], 400],
      ["port out of range", ["X-Forwarded-For: 203.0.113.9:70000"], 400],
      ["Forwarded syntax in X-Forwarded-For", ["X-Forwarded-For: for=203.0.113.9"], 400],
    ];
    for (const [name, lines, status, client, forwarded] of cases) {
      it(name, async () => {
        const path = unique("/web/xff");
        const answer = await exchange(xffPort, get(path, lines), TRUSTED);
        assert.equal(statusOf(answer.received), status, answer.received.toString("latin1").slice(0, 200));
        if (status !== 200) {
          assert.equal(
            backend.requests.some((request) => request.url === path),
            false,
            "nothing reaches the backend",
          );
          return;
        }
        assert.equal((await accessLine(path))["clientIp"], client);
        const seen = await recorded(path);
        // The trusted proxy's list goes on, with the peer (127.0.0.1) appended.
        assert.equal(seen.headers["x-forwarded-for"], forwarded);
        assert.deepEqual(strayForwarding(seen), []);
      });
    }

    it("keeps a trusted proxy's X-Forwarded-Proto/Host, Forwarded and X-Real-IP; drops underscore spellings", async () => {
      const path = unique("/web/kept");
      const answer = await exchange(xffPort, get(path, FORWARDING_SPOOF), TRUSTED);
      assert.equal(statusOf(answer.received), 200);
      const seen = await recorded(path);
      assert.equal(seen.headers["x-forwarded-for"], "198.51.100.66, 127.0.0.1");
      assert.equal(seen.headers["x-forwarded-host"], "evil.example");
      assert.equal(seen.headers["x-forwarded-proto"], "https");
      assert.equal(seen.headers["x-forwarded-port"], "443");
      assert.equal(seen.headers["forwarded"], "for=198.51.100.69;proto=https");
      assert.equal(seen.headers["x-real-ip"], "198.51.100.70");
      for (const name of ["x_forwarded_for", "x_forwarded-for", "x_forwarded_proto", "x_real_ip"]) {
        assert.equal(seen.headers[name], undefined, name);
      }
    });
  });

  describe("X-Forwarded-For and the other forwarding headers from an untrusted peer", () => {
    const spoofs: string[][] = [
      ...FORWARDING_SPOOF.map((line) => [line]),
      FORWARDING_SPOOF,
      ["X-Forwarded-For: garbage"],
      ["X-Forwarded-For: unknown"],
      ["X-Forwarded-For: 127.0.0.1"],
      ["X-Forwarded-For: 10.0.0.1, 127.0.0.1"],
      ["X-Forwarded-For: 1.1.1.1", "X-Forwarded-For: 2.2.2.2"],
      ["X-FORWARDED-FOR: 198.51.100.1"],
      ["x-forwarded-for: 198.51.100.1"],
    ];
    for (const lines of spoofs) {
      it(`removed: ${lines.join(" | ").slice(0, 90)}`, async () => {
        const path = unique("/web/spoof");
        const answer = await exchange(xffPort, get(path, lines), UNTRUSTED);
        assert.equal(statusOf(answer.received), 200);
        const seen = await recorded(path);
        assert.equal(seen.headers["x-forwarded-for"], UNTRUSTED);
        assert.equal(seen.headers["x-forwarded-host"], "app.example.test");
        assert.equal(seen.headers["x-forwarded-proto"], "http");
        assert.deepEqual(strayForwarding(seen), []);
        assert.equal((await accessLine(path))["clientIp"], UNTRUSTED);
      });
    }

    it("xForwardedFor: true without trustedProxies believes nobody, not even 127.0.0.1, and says so at start", async () => {
      await gateway.nextLog((line) => line["event"] === "xff_untrusted" && line["server"] === "untrusting");
      const path = unique("/web/untrusting");
      const answer = await exchange(untrustingPort, get(path, ["X-Forwarded-For: 203.0.113.9"]), TRUSTED);
      assert.equal(statusOf(answer.received), 200);
      assert.equal((await recorded(path)).headers["x-forwarded-for"], TRUSTED);
      const blocked = await exchange(untrustingPort, get("/allowed/x", ["X-Forwarded-For: 198.51.100.1"]), TRUSTED);
      assert.equal(statusOf(blocked.received), 403);
    });
  });

  describe("ipFilter judges the decided address", () => {
    const cases: Array<[string, string, string[], number]> = [
      ["blockIPs through a trusted proxy's X-Forwarded-For", "/blocked", ["X-Forwarded-For: 203.0.113.9"], 403],
      [
        "blockIPs: untrusted peer's X-Forwarded-For is not its address",
        "/blocked",
        ["X-Forwarded-For: 203.0.113.9"],
        200,
      ],
      ["blockIPs: a non-address cannot slip past (400)", "/blocked", ["X-Forwarded-For: garbage"], 400],
      [
        "blockIPs: a spoofed left part cannot hide the client",
        "/blocked",
        ["X-Forwarded-For: 198.51.100.1, 203.0.113.9"],
        403,
      ],
      ["allowIPs through a trusted proxy", "/allowed", ["X-Forwarded-For: 198.51.100.1"], 200],
      [
        "allowIPs: an untrusted peer cannot claim an allowed address",
        "/allowed",
        ["X-Forwarded-For: 198.51.100.1"],
        403,
      ],
      ["allowIPs: nor with X-Real-IP", "/allowed", ["X-Real-IP: 198.51.100.1"], 403],
      ["allowIPs: nor with an underscore spelling", "/allowed", ["X_Forwarded_For: 198.51.100.1"], 403],
    ];
    for (const [name, prefix, lines, status] of cases) {
      const from = name.includes("untrusted") || name.includes("nor with") ? UNTRUSTED : TRUSTED;
      it(name, async () => {
        const answer = await exchange(xffPort, get(unique(prefix), lines), from);
        assert.equal(statusOf(answer.received), status);
      });
    }

    it("through PROXY protocol: the header's source is filtered", async () => {
      const blocked = await exchange(ppPort, v1("203.0.113.5") + get(unique("/blocked")), TRUSTED);
      assert.equal(statusOf(blocked.received), 403);
      const allowed = await exchange(
        ppPort,
        Buffer.concat([v2("198.51.100.5"), Buffer.from(get(unique("/allowed")))]),
        TRUSTED,
      );
      assert.equal(statusOf(allowed.received), 200);
      const refused = await exchange(
        ppPort,
        Buffer.concat([v2("192.0.2.5"), Buffer.from(get(unique("/allowed")))]),
        TRUSTED,
      );
      assert.equal(statusOf(refused.received), 403);
    });
  });

  describe("per-client limits count the decided address", () => {
    it("maxConnectionsPerIP: an untrusted client cannot open more by varying X-Forwarded-For", async () => {
      const first = await openWs(`ws://127.0.0.1:${xffPort}/perip/a`, {
        from: UNTRUSTED,
        headers: { "X-Forwarded-For": "198.51.100.1" },
      });
      const second = await openWs(`ws://127.0.0.1:${xffPort}/perip/b`, {
        from: UNTRUSTED,
        headers: { "X-Forwarded-For": "198.51.100.2" },
      });
      first.ws?.terminate();
      second.ws?.terminate();
      assert.deepEqual([first.status, second.status], [101, 429]);
    });

    it("maxConnectionsPerIP: clients behind the trusted proxy count apart, each once", async () => {
      const results = await Promise.all(
        ["198.51.100.11", "198.51.100.12", "198.51.100.11"].map((ip, index) =>
          openWs(`ws://127.0.0.1:${xffPort}/perip/t${index}`, { headers: { "X-Forwarded-For": ip } }),
        ),
      );
      for (const result of results) result.ws?.terminate();
      assert.deepEqual(results.map((result) => result.status).sort(), [101, 101, 429]);
    });

    it("maxConnectionsPerIP through PROXY protocol: by the header's source", async () => {
      const one = await openWs(`ws://127.0.0.1:${ppPort}/perip/p1`, { prefix: v1("192.0.2.61") });
      const two = await openWs(`ws://127.0.0.1:${ppPort}/perip/p2`, { prefix: v2("192.0.2.61") });
      const other = await openWs(`ws://127.0.0.1:${ppPort}/perip/p3`, { prefix: v2("192.0.2.62") });
      for (const result of [one, two, other]) result.ws?.terminate();
      assert.deepEqual([one.status, two.status, other.status], [101, 429, 101]);
    });

    it("RateLimiter keyBy ip: an untrusted client's X-Forwarded-For does not give it new buckets", async () => {
      const first = await exchange(xffPort, get(unique("/rate"), ["X-Forwarded-For: 198.51.100.31"]), UNTRUSTED);
      const second = await exchange(xffPort, get(unique("/rate"), ["X-Forwarded-For: 198.51.100.32"]), UNTRUSTED);
      assert.deepEqual([statusOf(first.received), statusOf(second.received)], [200, 429]);
    });

    it("RateLimiter keyBy ip: clients behind the trusted proxy have a bucket each", async () => {
      const statuses: number[] = [];
      for (const ip of ["198.51.100.41", "198.51.100.42", "198.51.100.41"]) {
        const answer = await exchange(xffPort, get(unique("/rate"), [`X-Forwarded-For: ${ip}`]), TRUSTED);
        statuses.push(statusOf(answer.received));
      }
      assert.deepEqual(statuses, [200, 200, 429]);
    });
  });

  describe("one address for the session list, the access log and the backend", () => {
    const sessions = async (): Promise<Array<Record<string, unknown>>> =>
      (await admin(gateway.adminPort, "GET", "/apis/v2/sessions")).json<Array<Record<string, unknown>>>();

    const cases: Array<[string, () => Promise<{ ws?: WebSocket; status: number }>, string, string]> = [
      [
        "X-Forwarded-For from the trusted proxy",
        () => openWs(`ws://127.0.0.1:${xffPort}/ws/xff-session`, { headers: { "X-Forwarded-For": "203.0.113.77" } }),
        "203.0.113.77",
        "203.0.113.77, 127.0.0.1",
      ],
      [
        "PROXY v1 from the trusted proxy",
        () => openWs(`ws://127.0.0.1:${ppPort}/ws/v1-session`, { prefix: v1("192.0.2.44") }),
        "192.0.2.44",
        "192.0.2.44",
      ],
      [
        "PROXY v2 (IPv6) with a spoofed X-Forwarded-For from the client",
        () =>
          openWs(`ws://127.0.0.1:${ppPort}/ws/v2-session`, {
            prefix: v2("2001:db8::44"),
            headers: { "X-Forwarded-For": "10.9.9.9" },
          }),
        "2001:db8::44",
        "2001:db8::44",
      ],
    ];
    for (const [name, open, clientIp, forwardedFor] of cases) {
      it(name, async () => {
        const opened = await open();
        assert.equal(opened.status, 101);
        const ws = opened.ws as WebSocket;
        const path = new URL(ws.url).pathname;
        let listed: Record<string, unknown> | undefined;
        for (let attempt = 0; attempt < 50 && listed === undefined; attempt++) {
          listed = (await sessions()).find((session) => session["clientIp"] === clientIp);
          if (listed === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.ok(listed !== undefined, "the admin session list shows the client address");
        assert.equal((await recorded(path)).headers["x-forwarded-for"], forwardedFor);
        ws.terminate();
        assert.equal((await accessLine(path))["clientIp"], clientIp);
        const line = await gateway.nextLog((entry) => entry["event"] === "websocket_session" && entry["path"] === path);
        assert.equal(line["clientIp"], clientIp);
      });
    }
  });

  describe("PROXY protocol listener", () => {
    const request = (path: string): string => get(path, ["X-Forwarded-For: 10.1.1.1"]);

    it("v1 TCP4, v1 TCP6, v2 IPv4 and v2 IPv6 name the client; the backend sees it appended", async () => {
      const headers: Array<[Buffer | string, string]> = [
        [v1("192.0.2.10"), "192.0.2.10"],
        [v1("2001:db8::10"), "2001:db8::10"],
        [v2("192.0.2.11"), "192.0.2.11"],
        [v2("2001:db8::11"), "2001:db8::11"],
        // A trusted proxy's own address as the source: its X-Forwarded-For is read.
        [v2("10.0.0.7"), "10.1.1.1"],
      ];
      for (const [header, client] of headers) {
        const path = unique("/web/pp");
        const answer = await exchange(
          ppPort,
          Buffer.concat([Buffer.from(header), Buffer.from(request(path))]),
          TRUSTED,
        );
        assert.equal(statusOf(answer.received), 200, String(header));
        assert.equal((await accessLine(path))["clientIp"], client);
        const expected = client === "10.1.1.1" ? "10.1.1.1, 10.0.0.7" : client;
        assert.equal((await recorded(path)).headers["x-forwarded-for"], expected);
      }
    });

    it("LOCAL and UNKNOWN keep the balancer's address, whose X-Forwarded-For is then not believed", async () => {
      const local = Buffer.from("0d0a0d0a000d0a515549540a20000000", "hex");
      for (const header of [local, Buffer.from("PROXY UNKNOWN\r\n")]) {
        const path = unique("/web/local");
        const answer = await exchange(ppPort, Buffer.concat([header, Buffer.from(request(path))]), TRUSTED);
        assert.equal(statusOf(answer.received), 200);
        assert.equal((await accessLine(path))["clientIp"], TRUSTED);
        assert.equal((await recorded(path)).headers["x-forwarded-for"], TRUSTED);
      }
    });

    it("the header and the request may arrive byte by byte", async () => {
      const path = unique("/web/slowly");
      const bytes = Buffer.concat([v2("192.0.2.12"), Buffer.from(get(path))]);
      const answer = await new Promise<Buffer>((resolve) => {
        const socket = net.connect({ port: ppPort, host: "127.0.0.1", localAddress: TRUSTED });
        const chunks: Buffer[] = [];
        socket.on("data", (chunk: Buffer) => chunks.push(chunk));
        socket.on("close", () => resolve(Buffer.concat(chunks)));
        socket.on("error", () => undefined);
        let index = 0;
        const next = (): void => {
          if (index >= bytes.length) return;
          socket.write(bytes.subarray(index, index + 7));
          index += 7;
          setTimeout(next, 1);
        };
        next();
      });
      assert.equal(statusOf(answer), 200);
      assert.equal((await recorded(path)).headers["x-forwarded-for"], "192.0.2.12");
    });

    const refused: Array<[string, Buffer | string, string]> = [
      ["a valid header from an untrusted peer", v1("192.0.2.20") + get("/web/refused"), UNTRUSTED],
      [
        "a v2 header from an untrusted peer",
        Buffer.concat([v2("192.0.2.20"), Buffer.from(get("/web/refused"))]),
        UNTRUSTED,
      ],
      ["no header: plain HTTP", get("/web/refused"), TRUSTED],
      ["malformed v1", "PROXY TCP4 192.0.2.1 nope 1 2\r\n" + get("/web/refused"), TRUSTED],
      ["v1 without CRLF within 107 bytes", `PROXY UNKNOWN ${"x".repeat(200)}`, TRUSTED],
      ["v2 with a wrong version", Buffer.from("0d0a0d0a000d0a515549540a31110000", "hex"), TRUSTED],
      ["v2 oversize", Buffer.from("0d0a0d0a000d0a515549540a2111ffff", "hex"), TRUSTED],
      [
        "a PROXY header twice (the second reaches HTTP)",
        v1("192.0.2.21") + v1("192.0.2.22") + get("/web/refused"),
        TRUSTED,
      ],
    ];
    for (const [name, bytes, from] of refused) {
      it(`closes the connection: ${name}`, async () => {
        const before = backend.requests.length;
        const answer = await exchange(ppPort, bytes, from);
        assert.equal(answer.closed, true);
        const status = statusOf(answer.received);
        // The doubled header is HTTP's to refuse (400); everything else is closed without a word.
        assert.ok(status === 0 || status === 400, `answered ${status}`);
        assert.equal(backend.requests.length, before, "nothing reached the backend");
      });
    }

    it("closes a connection whose header does not come within clientHeaderTimeout (1 s)", async () => {
      const started = Date.now();
      const answer = await exchange(ppPort, "PROXY TCP4 192.0.2", TRUSTED, 5000);
      assert.equal(answer.closed, true);
      assert.equal(answer.received.length, 0);
      assert.ok(Date.now() - started < 4000, `closed after ${Date.now() - started} ms`);
    });

    it("after the header, slow request headers still meet clientHeaderTimeout (408)", async () => {
      const started = Date.now();
      const answer = await exchange(ppPort, `${v1("192.0.2.13")}GET /web/slow HTTP/1.1\r\nHost: a\r\n`, TRUSTED, 6000);
      assert.equal(statusOf(answer.received), 408);
      assert.ok(Date.now() - started < 5000, `answered after ${Date.now() - started} ms`);
    });

    it("on a TLS listener the PROXY header comes before the ClientHello", async () => {
      const path = unique("/web/tls");
      const body = await new Promise<string>((resolve, reject) => {
        const raw = net.connect({ port: ppsPort, host: "127.0.0.1", localAddress: TRUSTED }, () => {
          raw.write(v2("192.0.2.30"));
          const secure = tls.connect({ socket: raw, rejectUnauthorized: false, servername: "localhost" }, () => {
            secure.write(get(path));
          });
          const chunks: Buffer[] = [];
          secure.on("data", (chunk: Buffer) => chunks.push(chunk));
          secure.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
          secure.on("error", reject);
        });
        raw.on("error", reject);
      });
      assert.match(body, /^HTTP\/1\.1 200/);
      const seen = await recorded(path);
      assert.equal(seen.headers["x-forwarded-for"], "192.0.2.30");
      assert.equal(seen.headers["x-forwarded-proto"], "https");
    });

    it("a TLS listener with proxyProtocol closes a ClientHello that comes without the header", async () => {
      const outcome = await withTimeout(
        new Promise<string>((resolve) => {
          const secure = tls.connect({ port: ppsPort, host: "127.0.0.1", rejectUnauthorized: false }, () =>
            resolve("handshake completed"),
          );
          secure.on("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
          secure.on("close", () => resolve("closed"));
        }),
        5000,
        "the TLS client",
      );
      assert.notEqual(outcome, "handshake completed");
    });
  });

  describe("PROXY v2 to backends (sendProxyProtocol: v2 on a WebSocketProxy pool)", () => {
    /** Opens a session, checks that it echoes, and returns the header its backend connection started with. */
    const through = async (
      url: string,
      options: Parameters<typeof openWs>[1],
      from: ProxyReader,
    ): Promise<{ header: ProxyHeader | undefined; localPort: number }> => {
      const before = from.headers.length;
      const opened = await openWs(url, options);
      assert.equal(opened.status, 101);
      const ws = opened.ws as WebSocket;
      const echoed = new Promise<string>((resolve) => ws.once("message", (data: Buffer) => resolve(data.toString())));
      ws.send("ping");
      assert.equal(await withTimeout(echoed, 3000, "the echo"), "ping");
      const localPort = (ws as unknown as { _socket: net.Socket })._socket.localPort ?? 0;
      ws.terminate();
      assert.equal(from.headers.length, before + 1);
      return { header: from.headers[before], localPort };
    };

    it("names a direct client with its address and port, and the gateway's address", async () => {
      const { header, localPort } = await through(
        `ws://127.0.0.1:${xffPort}/ppout/direct`,
        { from: UNTRUSTED },
        reader,
      );
      assert.deepEqual(header?.source, { address: UNTRUSTED, port: localPort });
      assert.deepEqual(header?.destination, { address: "127.0.0.1", port: xffPort });
      const seen = await recorded("/ppout/direct");
      assert.equal(seen.headers["x-forwarded-for"], UNTRUSTED, "the request after the header is intact");
    });

    it("names the client a trusted proxy's X-Forwarded-For gave (port unknown: 0)", async () => {
      const { header } = await through(
        `ws://127.0.0.1:${xffPort}/ppout/xff`,
        { headers: { "X-Forwarded-For": "203.0.113.55" } },
        reader,
      );
      assert.deepEqual(header?.source, { address: "203.0.113.55", port: 0 });
    });

    it("passes on what an incoming PROXY header said, port and destination included", async () => {
      const { header } = await through(
        `ws://127.0.0.1:${ppPort}/ppout/pp`,
        { prefix: "PROXY TCP4 192.0.2.99 198.51.100.1 4321 443\r\n" },
        reader,
      );
      assert.deepEqual(header?.source, { address: "192.0.2.99", port: 4321 });
      assert.deepEqual(header?.destination, { address: "198.51.100.1", port: 443 });
    });

    it("on wss:// the header comes before the TLS ClientHello", async () => {
      const { header } = await through(
        `ws://127.0.0.1:${xffPort}/ppwss/tls`,
        { headers: { "X-Forwarded-For": "203.0.113.56" } },
        tlsReader,
      );
      assert.deepEqual(header?.source, { address: "203.0.113.56", port: 0 });
      assert.equal(wssBackend.upgrades.at(-1)?.headers["x-forwarded-for"], "203.0.113.56, 127.0.0.1");
    });

    it("a pool without it sends none", async () => {
      const { header } = await through(`ws://127.0.0.1:${xffPort}/noppout/plain`, {}, reader);
      assert.equal(header, undefined);
    });
  });

  it("a reload that adds trustedProxies applies to the next request, on the same listener", async () => {
    const path = unique("/web/reloaded");
    const seen = gateway.logs.filter((line) => line["event"] === "config_applied").length;
    gateway.rewriteConfig(config.replace("name: untrusting\n", "name: untrusting\ntrustedProxies: [127.0.0.1]\n"));
    gateway.sighup();
    await gateway.logsMatching((line) => line["event"] === "config_applied", seen + 1, 8000);
    const answer = await exchange(untrustingPort, get(path, ["X-Forwarded-For: 203.0.113.9"]), TRUSTED);
    assert.equal(statusOf(answer.received), 200);
    assert.equal((await recorded(path)).headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    const allowed = await exchange(untrustingPort, get("/allowed/y", ["X-Forwarded-For: 198.51.100.1"]), TRUSTED);
    assert.equal(statusOf(allowed.received), 200);
  });
});
