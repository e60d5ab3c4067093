import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadConfig, loadConfigText } from "../../src/config/load.js";
import { TempConfig, configOf, errorLines, loadErrors, yaml } from "./temp-config.js";

/** A valid pipeline for servers to point at, appended to texts that test a server. */
const PIPELINE = yaml`
  ---
  kind: Pipeline
  name: ws-rr
  filters:
  - kind: WebSocketProxy
    name: wsproxy
    pools:
    - servers:
      - url: ws://127.0.0.1:9095
`;

describe("schema errors name file:line, object, filter and path", () => {
  let temp: TempConfig;
  before(async () => {
    temp = await TempConfig.create();
  });
  after(async () => temp.cleanup());

  it("unknown policy: the line of the value, relative to the filter, with the allowed values", async () => {
    const file = await temp.write(
      "gateway.yaml",
      yaml`
        kind: Pipeline
        name: ws-rr
        filters:
        - kind: WebSocketProxy
          name: wsproxy
          pools:
          - servers:
            - url: ws://127.0.0.1:9095
            loadBalance:
              policy: roundRobinX
      `,
    );
    const result = await loadConfig([file]);
    assert.deepEqual(errorLines(result), [
      `${file}:10 pipeline ws-rr filter wsproxy pools[0].loadBalance.policy: unknown policy 'roundRobinX' (expected one of roundRobin, random, weightedRandom, ipHash, headerHash, cookieHash, leastConnections)`,
    ]);
    assert.ok(!result.ok);
    assert.deepEqual(result.errors[0], {
      file,
      line: 10,
      column: 15,
      object: "pipeline ws-rr",
      filter: "wsproxy",
      path: "pools[0].loadBalance.policy",
      message:
        "unknown policy 'roundRobinX' (expected one of roundRobin, random, weightedRandom, ipHash, headerHash, cookieHash, leastConnections)",
      value: "roundRobinX",
    });
  });

  it("unknown field: the line of the key, with a did-you-mean hint", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "unknown-field.yaml",
      yaml`
        kind: Pipeline
        name: ws-rr
        filters:
        - kind: WebSocketProxy
          name: wsproxy
          pools:
          - servers:
            - url: ws://127.0.0.1:9095
              keephost: true
          pingIntervall: 10s
          colour: blue
      `,
    );
    assert.deepEqual(errors, [
      `${file}:9 pipeline ws-rr filter wsproxy pools[0].servers[0].keephost: unknown field 'keephost' (did you mean 'keepHost'?)`,
      `${file}:10 pipeline ws-rr filter wsproxy pingIntervall: unknown field 'pingIntervall' (did you mean 'pingInterval'?)`,
      `${file}:11 pipeline ws-rr filter wsproxy colour: unknown field 'colour'`,
    ]);
  });

  it("missing required field: the line of the map that lacks it", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "missing.yaml",
      yaml`
        kind: HTTPServer
        name: demo-server
        rules:
        - paths:
          - path: /ws
        ---
        kind: Pipeline
        name: ws-rr
        filters:
        - kind: WebSocketProxy
          name: wsproxy
          pools:
          - servers:
            - keepHost: true
      `,
    );
    assert.deepEqual(errors, [
      `${file}:1 httpserver demo-server port: missing required field 'port'`,
      `${file}:5 httpserver demo-server rules[0].paths[0].backend: missing required field 'backend'`,
      `${file}:14 pipeline ws-rr filter wsproxy pools[0].servers[0].url: missing required field 'url'`,
    ]);
  });

  it("bad durations: the value and the expected form", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "duration.yaml",
      yaml`
        kind: Pipeline
        name: ws-rr
        filters:
        - kind: WebSocketProxy
          name: wsproxy
          pingInterval: 10 seconds
          dialTimeout: 30
          pools:
          - servers:
            - url: ws://127.0.0.1:9095
            healthCheck:
              interval: 0
              ws: {}
      `,
    );
    assert.deepEqual(errors, [
      `${file}:6 pipeline ws-rr filter wsproxy pingInterval: invalid duration '10 seconds' (expected e.g. 500ms, 30s, 1m, 1h30m)`,
      `${file}:7 pipeline ws-rr filter wsproxy dialTimeout: invalid duration '30' (missing unit; expected e.g. 500ms, 30s, 1m, 1h30m)`,
      `${file}:12 pipeline ws-rr filter wsproxy pools[0].healthCheck.interval: must be greater than 0`,
    ]);
  });

  it("server URLs: scheme, syntax, host and credentials; http(s) becomes ws(s)", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "urls.yaml",
      yaml`
        kind: Pipeline
        name: ws-rr
        filters:
        - kind: WebSocketProxy
          name: wsproxy
          defaultOrigin: not a url
          pools:
          - servers:
            - url: ftp://127.0.0.1:21
            - url: 127.0.0.1:9095
            - url: ws://user:secret@127.0.0.1:9095
            - url: https://backend.example.com/ws
      `,
    );
    assert.deepEqual(errors, [
      `${file}:6 pipeline ws-rr filter wsproxy defaultOrigin: invalid URL 'not a url' (expected e.g. http://127.0.0.1/hello)`,
      `${file}:9 pipeline ws-rr filter wsproxy pools[0].servers[0].url: unsupported URL scheme 'ftp' in 'ftp://127.0.0.1:21' (expected ws, wss, http or https)`,
      `${file}:10 pipeline ws-rr filter wsproxy pools[0].servers[1].url: invalid URL '127.0.0.1:9095' (expected e.g. ws://127.0.0.1:9095)`,
      `${file}:11 pipeline ws-rr filter wsproxy pools[0].servers[2].url: URL must not contain credentials (user:password@)`,
    ]);

    const normalized = configOf(
      loadConfigText(
        yaml`
          kind: Pipeline
          name: ws-rr
          filters:
          - kind: WebSocketProxy
            name: wsproxy
            pools:
            - servers:
              - url: http://127.0.0.1:9095/a
              - url: https://backend.example.com/ws
        `,
        "normalized.yaml",
      ),
    );
    const filter = normalized.pipelines[0]?.filters[0];
    const servers = (filter?.kind === "WebSocketProxy" ? filter.pools[0]?.servers : undefined)?.map(
      (server) => server.url,
    );
    assert.deepEqual(servers, ["ws://127.0.0.1:9095/a", "wss://backend.example.com/ws"]);
  });

  it("HTTPServer fields: range, type, https, host wildcard, methods, matchers, rewriteTarget", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "server.yaml",
      yaml`
        kind: HTTPServer
        name: demo-server
        port: 70000
        https: true
        keepAlive: yes
        maxConnections: 0
        clientMaxBodySize: -2
        rules:
        - host: "*.*.example.com"
          hostRegexp: "(unclosed"
          paths:
          - pathPrefix: ws
            methods: [get, POST]
            backend: ws-rr
          - path: /a
            headers:
            - key: X-Team
            backend: ws-rr
          - rewriteTarget: /b
            backend: ws-rr
      ` + PIPELINE,
    );
    assert.deepEqual(errors, [
      `${file}:3 httpserver demo-server port: must be at most 65535, got 70000`,
      `${file}:4 httpserver demo-server https: needs a certificate: certs and keys, certBase64 and keyBase64, or certFiles`,
      `${file}:5 httpserver demo-server keepAlive: expected true or false, got 'yes'`,
      `${file}:6 httpserver demo-server maxConnections: must be at least 1, got 0`,
      `${file}:7 httpserver demo-server clientMaxBodySize: must be -1 (no limit) or a number of bytes ≥ 0, got -2`,
      `${file}:9 httpserver demo-server rules[0].host: host '*.*.example.com' may contain at most one '*' wildcard`,
      `${file}:10 httpserver demo-server rules[0].hostRegexp: invalid regular expression '(unclosed': Unterminated group`,
      `${file}:12 httpserver demo-server rules[0].paths[0].pathPrefix: must start with '/', got 'ws'`,
      `${file}:13 httpserver demo-server rules[0].paths[0].methods[0]: unknown method 'get' (expected one of GET, HEAD, POST, PUT, PATCH, DELETE, CONNECT, OPTIONS, TRACE)`,
      `${file}:17 httpserver demo-server rules[0].paths[1].headers[0]: needs at least one of 'values' or 'regexp'`,
      `${file}:19 httpserver demo-server rules[0].paths[2].rewriteTarget: rewriteTarget needs one of 'path', 'pathPrefix' or 'pathRegexp'`,
    ]);
  });

  it("client address fields: trustedProxies are addresses or CIDR ranges; proxyProtocol needs trustedProxies", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "trust.yaml",
      yaml`
        kind: HTTPServer
        name: trust-server
        port: 8080
        trustedProxies: [10.0.0.0/8, lb.internal, 10.0.0.0/33]
        ---
        kind: HTTPServer
        name: pp-server
        port: 8081
        proxyProtocol: true
      ` + PIPELINE,
    );
    assert.deepEqual(errors, [
      `${file}:4 httpserver trust-server trustedProxies[1]: invalid IP address or CIDR 'lb.internal'`,
      `${file}:4 httpserver trust-server trustedProxies[2]: invalid prefix length in '10.0.0.0/33' (0 to 32)`,
      `${file}:9 httpserver pp-server proxyProtocol: proxyProtocol needs trustedProxies: PROXY headers are taken only from the proxies listed there`,
    ]);
  });

  it("WebSocketProxy fields: message sizes, headerHash, pass and passes, pools, health check matchers", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "proxy.yaml",
      yaml`
        kind: Pipeline
        name: ws-rr
        filters:
        - kind: WebSocketProxy
          name: wsproxy
          clientMaxMsgSize: 0
          pools:
          - servers:
            - url: ws://127.0.0.1:9095
              weight: -1
            loadBalance:
              policy: headerHash
            serverMaxMsgSize: 1.5
            healthCheck:
              pass: 2
              passes: 2
              http:
                method: FETCH
                match:
                  statusCodes: [[399, 200], [101]]
                  headers:
                  - name: X-Status
                    value: "(ok"
                    type: regexp
      `,
    );
    assert.deepEqual(errors, [
      `${file}:6 pipeline ws-rr filter wsproxy clientMaxMsgSize: must be -1 (no limit) or at least 1, got 0`,
      `${file}:10 pipeline ws-rr filter wsproxy pools[0].servers[0].weight: must be at least 0, got -1`,
      `${file}:12 pipeline ws-rr filter wsproxy pools[0].loadBalance.headerHashKey: required when policy is headerHash`,
      `${file}:13 pipeline ws-rr filter wsproxy pools[0].serverMaxMsgSize: expected an integer, got 1.5`,
      `${file}:16 pipeline ws-rr filter wsproxy pools[0].healthCheck.passes: 'pass' and 'passes' mean the same; give only one`,
      `${file}:18 pipeline ws-rr filter wsproxy pools[0].healthCheck.http.method: unknown method 'FETCH' (expected one of GET, HEAD, POST, PUT, PATCH, DELETE, CONNECT, OPTIONS, TRACE)`,
      `${file}:20 pipeline ws-rr filter wsproxy pools[0].healthCheck.http.match.statusCodes[0]: status code range [399,200] has its low end above its high end`,
      `${file}:20 pipeline ws-rr filter wsproxy pools[0].healthCheck.http.match.statusCodes[1]: must have at least 2 entries`,
      `${file}:23 pipeline ws-rr filter wsproxy pools[0].healthCheck.http.match.headers[0].value: invalid regular expression '(ok': Unterminated group`,
    ]);
  });

  it("one main pool (without filter), and a health check needs ws or http", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "pools.yaml",
      yaml`
        kind: Pipeline
        name: ws-rr
        filters:
        - kind: WebSocketProxy
          name: wsproxy
          pools:
          - servers:
            - url: ws://127.0.0.1:9095
            healthCheck:
              interval: 5s
          - servers:
            - url: ws://127.0.0.1:9096
      `,
    );
    assert.deepEqual(errors, [
      `${file}:10 pipeline ws-rr filter wsproxy pools[0].healthCheck: needs at least one of 'ws' or 'http'`,
      `${file}:11 pipeline ws-rr filter wsproxy pools[1]: pools[0] is already the main pool (the one without 'filter'); give this pool a 'filter'`,
    ]);
  });

  it("kinds: unknown object kind, unknown filter kind, missing kind, bad name", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "kinds.yaml",
      yaml`
        kind: HTTPserver
        name: demo-server
        port: 8080
        ---
        kind: Pipeline
        name: ws rr
        filters:
        - kind: WebsocketProxy
          name: wsproxy
        - name: nokind
        ---
        name: lonely
      `,
    );
    assert.deepEqual(errors, [
      `${file}:1 kind: unknown kind 'HTTPserver' (expected one of Gateway, HTTPServer, Pipeline)`,
      `${file}:6 pipeline name: invalid name 'ws rr' (use letters, digits, '.', '_' and '-', starting with a letter or digit)`,
      `${file}:8 pipeline filter wsproxy kind: unknown filter kind 'WebsocketProxy' (expected one of WebSocketProxy, Proxy, WebSocketUpgradeCheck, Validator, RateLimiter)`,
      `${file}:10 pipeline filter nokind kind: missing required field 'kind'`,
      `${file}:12 kind: missing required field 'kind'`,
    ]);
  });

  it("reports every error of every object, sorted by line", async () => {
    const { file, errors } = await loadErrors(
      temp,
      "many.yaml",
      yaml`
        kind: HTTPServer
        name: b
        port: 0
        ---
        kind: HTTPServer
        name: a
        port: 8081
        keepAliveTimeout: forever
      `,
    );
    assert.deepEqual(errors, [
      `${file}:3 httpserver b port: must be at least 1, got 0`,
      `${file}:8 httpserver a keepAliveTimeout: invalid duration 'forever' (expected e.g. 500ms, 30s, 1m, 1h30m)`,
    ]);
  });
});
