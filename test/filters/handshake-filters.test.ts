// The handshake filters' parts on their own: token buckets and rate gates, counters kept across a reload (inherit),
// ipFilter and origin matching, and what `validate` says about the new config fields.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config/load.js";
import { buildFilter } from "../../src/filters/factories.js";
import { createGatewayTelemetry } from "../../src/gateway.js";
import { originRefusal } from "../../src/filters/websocket-proxy/handshake-limits.js";
import { compileOriginPatterns } from "../../src/filters/websocket-proxy/origin-pattern.js";
import { ReservingBucket } from "../../src/filters/rate-limiter/token-bucket.js";
import type { FilterSpec } from "../../src/filters/registry.js";
import { createLogger } from "../../src/observability/logger.js";
import { SessionRegistry } from "../../src/observability/sessions.js";
import { createUpgradeContext } from "../../src/pipeline/context.js";
import type { Filter, FilterDeps } from "../../src/pipeline/filter.js";
import { IPFilter } from "../../src/server/ip-filter.js";
import { TempConfig, configOf, errorLines, yaml } from "../config/temp-config.js";
import { rawExchange, statusOf } from "../helpers/net.js";

describe("ReservingBucket (RateLimiter)", () => {
  it("hands out `limit` tokens, then reservations within the wait allowed, then refusals with a retry time", () => {
    const bucket = new ReservingBucket(5, 1000, 0);
    for (let i = 0; i < 5; i++) assert.equal(bucket.reserve(0, 1, 0).waitMs, 0);
    assert.equal(bucket.reserve(0, 1, 0).waitMs, -1);
    assert.equal(bucket.reserve(0, 1, 0).retryAfterMs, 200);
    assert.equal(bucket.reserve(250, 1, 0).waitMs, 200, "one token refills in 200 ms");
    assert.equal(bucket.reserve(250, 1, 0).waitMs, -1, "the next would take 400 ms");
    assert.equal(bucket.reserve(0, 1, 400).waitMs, 0, "the reserved token was paid for at 200 ms");
    assert.equal(bucket.isFull(2000), true);
  });
});

describe("IPFilter and originPatterns", () => {
  it("allow list first, then block list (CIDR), then blockByDefault", () => {
    const filter = new IPFilter({
      blockByDefault: false,
      allowIPs: ["10.1.2.3"],
      blockIPs: ["10.0.0.0/8", "2001:db8::/32"],
    });
    assert.equal(filter.allows("10.1.2.3"), true);
    assert.equal(filter.allows("10.9.9.9"), false);
    assert.equal(filter.allows("2001:db8::1"), false);
    assert.equal(filter.allows("192.0.2.1"), true);
    const strict = new IPFilter({ blockByDefault: true, allowIPs: ["192.0.2.0/24"], blockIPs: [] });
    assert.equal(strict.allows("192.0.2.77"), true);
    assert.equal(strict.allows("198.51.100.1"), false);
  });

  it("origin globs compare the host name, or host and port when the pattern has one; the requested host is not exempt", () => {
    const req = (origin: string | undefined): http.IncomingMessage =>
      ({ headers: { host: "gw.local:8080", ...(origin === undefined ? {} : { origin }) } }) as http.IncomingMessage;
    const patterns = compileOriginPatterns(["*.example.com", "example.org:8443"]);
    assert.equal(originRefusal(req("https://a.b.example.com"), patterns), undefined);
    assert.equal(originRefusal(req("https://example.org:8443"), patterns), undefined);
    assert.equal(originRefusal(req("http://gw.local:8080"), patterns)?.status, 403, "same origin: DNS rebinding");
    assert.equal(originRefusal(req(undefined), patterns), undefined, "no Origin: not a browser");
    assert.equal(originRefusal(req("https://example.com"), patterns)?.status, 403);
    assert.equal(originRefusal(req("null"), patterns)?.status, 403);
    assert.equal(originRefusal(req("https://example.org"), patterns)?.status, 403);
  });
});

describe("RateLimiter across a reload (inherit)", () => {
  let server: http.Server;
  let port: number;
  let limiter: Filter;
  const log = createLogger("silent");
  const telemetry = createGatewayTelemetry({ processMetrics: false });
  const deps: FilterDeps = {
    log,
    sessions: new SessionRegistry(),
    pipeline: "p",
    telemetry,
    upstreamStatus: telemetry.upstreamStatus,
  };
  const spec = (limit: number): FilterSpec => ({
    kind: "RateLimiter",
    name: "limiter",
    policies: [{ name: "p", limitForPeriod: limit, limitRefreshPeriod: 3_600_000, timeoutDuration: 0 }],
    defaultPolicyRef: "p",
    urls: [],
    keyBy: "ip",
  });

  before(async () => {
    server = http.createServer();
    server.on("upgrade", (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      const match = { pipeline: "p", target: req.url ?? "/", ruleIndex: 0, pathIndex: 0, clientMaxBodySize: undefined };
      const route = {
        server: "s",
        pipeline: "p",
        target: req.url ?? "/",
        match,
        secure: false,
        routeKey: "",
        routeLabel: "",
      };
      const context = createUpgradeContext(req, socket, head, route, "127.0.0.1", log, telemetry);
      void Promise.resolve(limiter.handle(context)).then((outcome) => {
        // The flow ends on the limiter, as a pipeline's would: its prepared refusal is the answer.
        if (typeof outcome !== "string") context.reject(outcome.error);
        if (!context.answered) socket.end(`HTTP/1.1 204 Passed\r\nX-Result: ${String(outcome)}\r\n\r\n`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    limiter.close();
    server.close();
  });

  const status = async (): Promise<number> =>
    statusOf(
      (await rawExchange(port, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"))
        .received,
    );

  it("keeps the counters when the policy stays the same, starts afresh when it changes", async () => {
    limiter = buildFilter(spec(2), deps);
    assert.deepEqual([await status(), await status(), await status()], [204, 204, 429]);
    const previous = limiter;
    limiter = buildFilter(spec(2), deps, previous);
    previous.close();
    assert.equal(await status(), 429, "the reloaded limiter remembers the spent tokens");
    const changed = buildFilter(spec(3), deps, limiter);
    limiter.close();
    limiter = changed;
    assert.equal(await status(), 204, "a changed policy starts with a full bucket");
  });
});

describe("config of the handshake filters", () => {
  let temp: TempConfig;
  before(async () => {
    temp = await TempConfig.create();
  });
  after(async () => temp.cleanup());

  const pipeline = (filters: string, flow: string): string =>
    `kind: Pipeline\nname: guarded\nflow:${flow.replace(/^ {4}/gm, "")}\nfilters:${filters.replace(/^ {4}/gm, "")}\n`;

  it("accepts jumpIf on the declared results and refuses an unknown one", async () => {
    const filters = `
      - kind: WebSocketUpgradeCheck
        name: upgrade
      - kind: RateLimiter
        name: limiter
        policies: [{name: p, limitForPeriod: 5, limitRefreshPeriod: 1s}]
        defaultPolicyRef: p
      - kind: Validator
        name: auth
        headers: {X-Key: {values: [a]}}
      - kind: WebSocketProxy
        name: proxy
        pools: [{servers: [{url: ws://127.0.0.1:9095}]}]`;
    const good = `
      - filter: upgrade
        jumpIf: {invalid: END}
      - filter: limiter
        jumpIf: {rateLimited: END}
      - filter: auth
        jumpIf: {invalid: END}
      - filter: proxy`;
    configOf(await loadConfig([await temp.write("good.yaml", pipeline(filters, good))]));
    const bad = good.replace("rateLimited", "throttled");
    const errors = errorLines(await loadConfig([await temp.write("bad.yaml", pipeline(filters, bad))]));
    assert.equal(errors.length, 1);
    assert.match(errors[0] ?? "", /throttled/);
  });

  it("reports a RateLimiter's unknown policy, a jwt without a key, and a bad CIDR", async () => {
    const file = await temp.write(
      "errors.yaml",
      yaml`
        kind: HTTPServer
        name: s
        port: 8080
        ipFilter:
          blockIPs: [10.0.0.0/33]
        ---
        kind: Pipeline
        name: p
        filters:
          - kind: RateLimiter
            name: limiter
            policies: [{name: p}]
            defaultPolicyRef: q
          - kind: Validator
            name: auth
            jwt:
              algorithm: RS256
      `,
    );
    const errors = errorLines(await loadConfig([file])).join("\n");
    assert.match(errors, /unknown policy 'q'/);
    assert.match(errors, /needs exactly one of 'secret', 'publicKey', 'jwksUrl' or 'jwksFile'/);
    assert.match(errors, /invalid prefix length in '10\.0\.0\.0\/33'/);
  });
});
