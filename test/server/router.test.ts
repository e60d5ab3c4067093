import assert from "node:assert/strict";
import type { IncomingHttpHeaders } from "node:http";
import { describe, it } from "node:test";
import type { PathRuleSpec, RouteRuleSpec } from "../../src/server/route-spec.js";
import { RequestTargetError } from "../../src/errors.js";
import { parseRequestTarget, STRICT_PATHS, type PathPolicy } from "../../src/server/request-target.js";
import { Router } from "../../src/server/router.js";
import type { RouteMatch, RouteRequest } from "../../src/server/router.js";

function path(spec: Partial<PathRuleSpec> & { backend: string }): PathRuleSpec {
  return { matchAllHeader: false, matchAllQuery: false, ...spec };
}

function request(
  url: string,
  options: { host?: string; method?: string; headers?: IncomingHttpHeaders; policy?: PathPolicy } = {},
): RouteRequest {
  const method = options.method ?? "GET";
  // Absolute-form targets name their own authority unless the test says otherwise.
  const host = options.host ?? /^\w+:\/\/([^/?#]+)/.exec(url)?.[1];
  const target = parseRequestTarget(url, method, host, options.policy ?? STRICT_PATHS);
  if (target instanceof RequestTargetError) throw target;
  return { method, host: options.host, target, headers: options.headers ?? {} };
}

/** The route taken; a refusal of the rewritten target fails the test. */
function matched(router: Router, req: RouteRequest): RouteMatch | undefined {
  const match = router.match(req);
  if (match instanceof RequestTargetError) throw match;
  return match;
}

function backendFor(rules: RouteRuleSpec[], req: RouteRequest): string | undefined {
  return matched(new Router(rules), req)?.pipeline;
}

function hostRouter(rule: Omit<RouteRuleSpec, "paths">): Router {
  return new Router([{ ...rule, paths: [path({ backend: "hit" })] }, { paths: [path({ backend: "fallback" })] }]);
}

function routedHost(router: Router, host: string | undefined): string | undefined {
  return matched(router, request("/", { host }))?.pipeline;
}

describe("Router host conditions", () => {
  it("takes every host, or none, when the rule has no host condition", () => {
    const rules = [{ paths: [path({ backend: "any" })] }];
    assert.equal(backendFor(rules, request("/", { host: "whatever.test" })), "any");
    assert.equal(backendFor(rules, request("/")), "any");
    assert.equal(backendFor([{ hosts: [], paths: [path({ backend: "any" })] }], request("/")), "any");
  });

  it("matches an exact host case-insensitively, ignoring the port and a trailing dot", () => {
    const router = hostRouter({ host: "Example.COM" });
    assert.equal(routedHost(router, "example.com"), "hit");
    assert.equal(routedHost(router, "EXAMPLE.com:8443"), "hit");
    assert.equal(routedHost(router, "example.com."), "hit");
    assert.equal(routedHost(router, "www.example.com"), "fallback");
    assert.equal(routedHost(router, "example.co"), "fallback");
    assert.equal(routedHost(router, undefined), "fallback");
    assert.equal(routedHost(router, ""), "fallback");
  });

  it("matches IPv6 hosts with and without port, whether the pattern has brackets or not", () => {
    for (const pattern of ["[::1]", "::1"]) {
      const router = hostRouter({ host: pattern });
      assert.equal(routedHost(router, "[::1]:8080"), "hit", pattern);
      assert.equal(routedHost(router, "[::1]"), "hit", pattern);
      assert.equal(routedHost(router, "::1"), "hit", pattern);
      assert.equal(routedHost(router, "[::2]:80"), "fallback", pattern);
      assert.equal(routedHost(router, "[::1"), "fallback", pattern);
    }
  });

  it("matches a leading wildcard against one or more labels but not the bare domain", () => {
    const router = hostRouter({ host: "*.example.com" });
    assert.equal(routedHost(router, "a.example.com"), "hit");
    assert.equal(routedHost(router, "a.b.example.com:80"), "hit");
    assert.equal(routedHost(router, "A.Example.Com"), "hit");
    assert.equal(routedHost(router, "example.com"), "fallback");
    assert.equal(routedHost(router, ".example.com"), "fallback");
    assert.equal(routedHost(router, "badexample.com"), "fallback");
  });

  it("matches a trailing wildcard", () => {
    const router = hostRouter({ host: "api.*" });
    assert.equal(routedHost(router, "api.example.com"), "hit");
    assert.equal(routedHost(router, "api.io:443"), "hit");
    assert.equal(routedHost(router, "api."), "fallback");
    assert.equal(routedHost(router, "apix.example.com"), "fallback");
    assert.equal(routedHost(router, "www.api.example.com"), "fallback");
  });

  it("rejects a host pattern with more than one wildcard, naming the field", () => {
    assert.throws(() => new Router([{ host: "*.*.example.com", paths: [] }]), /rules\[0\]\.host: .*more than one/);
  });

  it("matches hostRegexp unanchored and case-insensitively against the host without port", () => {
    const router = hostRouter({ hostRegexp: "^(www|api)\\.example\\.com$" });
    assert.equal(routedHost(router, "api.example.com:8080"), "hit");
    assert.equal(routedHost(router, "WWW.example.com"), "hit");
    assert.equal(routedHost(router, "cdn.example.com"), "fallback");
    const upperCase = hostRouter({ hostRegexp: "^API\\." });
    assert.equal(routedHost(upperCase, "api.example.com"), "hit");
    const unanchored = hostRouter({ hostRegexp: "internal" });
    assert.equal(routedHost(unanchored, "svc.internal.corp"), "hit");
  });

  it("matches any entry of hosts: exact, wildcard or regexp", () => {
    const router = hostRouter({
      hosts: [
        { value: "one.test", isRegexp: false },
        { value: "*.two.test", isRegexp: false },
        { value: "^three-\\d+\\.test$", isRegexp: true },
      ],
    });
    assert.equal(routedHost(router, "one.test"), "hit");
    assert.equal(routedHost(router, "x.two.test"), "hit");
    assert.equal(routedHost(router, "three-42.test:1"), "hit");
    assert.equal(routedHost(router, "three-x.test"), "fallback");
    assert.equal(routedHost(router, "two.test"), "fallback");
  });

  it("ORs host, hostRegexp and hosts", () => {
    const router = hostRouter({ host: "a.test", hostRegexp: "^b\\.", hosts: [{ value: "c.test", isRegexp: false }] });
    assert.equal(routedHost(router, "a.test"), "hit");
    assert.equal(routedHost(router, "b.anything"), "hit");
    assert.equal(routedHost(router, "c.test"), "hit");
    assert.equal(routedHost(router, "d.test"), "fallback");
  });

  it("reports an invalid regexp with its location at construction", () => {
    assert.throws(() => new Router([{ hostRegexp: "(", paths: [] }]), /rules\[0\]\.hostRegexp/);
    assert.throws(
      () => new Router([{ paths: [] }, { hosts: [{ value: "[", isRegexp: true }], paths: [] }]),
      /rules\[1\]\.hosts\[0\]/,
    );
    assert.throws(
      () => new Router([{ paths: [path({ pathRegexp: "(", backend: "x" })] }]),
      /rules\[0\]\.paths\[0\]\.pathRegexp/,
    );
    assert.throws(
      () => new Router([{ paths: [path({ headers: [{ key: "a", regexp: "*" }], backend: "x" })] }]),
      /rules\[0\]\.paths\[0\]\.headers\[0\]\.regexp/,
    );
  });
});

describe("Router order", () => {
  it("returns the first matching rule and path, with their indexes", () => {
    const router = new Router([
      { host: "other.test", paths: [path({ backend: "other" })] },
      { paths: [path({ pathPrefix: "/api", backend: "api" }), path({ pathPrefix: "/", backend: "root" })] },
      { paths: [path({ pathPrefix: "/", backend: "later" })] },
    ]);
    assert.deepEqual(matched(router, request("/api/x", { host: "a.test" })), {
      pipeline: "api",
      target: "/api/x",
      ruleIndex: 1,
      pathIndex: 0,
      clientMaxBodySize: undefined,
    } satisfies RouteMatch);
    assert.equal(matched(router, request("/web"))?.pathIndex, 1);
    assert.equal(matched(router, request("/web"))?.pipeline, "root");
    assert.equal(matched(router, request("/", { host: "other.test" }))?.pipeline, "other");
  });

  it("continues to later rules when the host matches but no path does", () => {
    const rules = [
      { host: "a.test", paths: [path({ pathPrefix: "/only", backend: "first" })] },
      { host: "a.test", paths: [path({ pathPrefix: "/", backend: "second" })] },
    ];
    assert.equal(backendFor(rules, request("/other", { host: "a.test" })), "second");
    assert.equal(backendFor(rules, request("/only/x", { host: "a.test" })), "first");
  });

  it("returns undefined when nothing matches", () => {
    const router = new Router([{ host: "a.test", paths: [path({ path: "/x", backend: "x" })] }]);
    assert.equal(matched(router, request("/x", { host: "b.test" })), undefined);
    assert.equal(matched(router, request("/y", { host: "a.test" })), undefined);
    assert.equal(matched(new Router([]), request("/")), undefined);
  });

  it("passes clientMaxBodySize through", () => {
    const router = new Router([{ paths: [path({ clientMaxBodySize: 1024, backend: "x" })] }]);
    assert.equal(matched(router, request("/"))?.clientMaxBodySize, 1024);
  });
});

describe("Router path conditions", () => {
  const rules: RouteRuleSpec[] = [
    {
      paths: [
        path({ path: "/exact", backend: "exact" }),
        path({ pathPrefix: "/prefix/", backend: "prefix" }),
        path({ pathRegexp: "^/users/\\d+$", backend: "regexp" }),
      ],
    },
  ];
  const router = new Router(rules);

  it("matches path exactly, without the query", () => {
    assert.equal(matched(router, request("/exact"))?.pipeline, "exact");
    assert.equal(matched(router, request("/exact?x=1"))?.pipeline, "exact");
    assert.equal(matched(router, request("/exact/"))?.pipeline, undefined);
    assert.equal(matched(router, request("/exactly"))?.pipeline, undefined);
  });

  it("matches pathPrefix with starts-with", () => {
    assert.equal(matched(router, request("/prefix/"))?.pipeline, "prefix");
    assert.equal(matched(router, request("/prefix/a/b?q"))?.pipeline, "prefix");
    assert.equal(matched(router, request("/prefix"))?.pipeline, undefined);
  });

  it("tests pathRegexp against the path only", () => {
    assert.equal(matched(router, request("/users/42"))?.pipeline, "regexp");
    assert.equal(matched(router, request("/users/42?page=2"))?.pipeline, "regexp");
    assert.equal(matched(router, request("/users/abc"))?.pipeline, undefined);
  });

  it("matches every path when no path condition is given", () => {
    const any = new Router([{ paths: [path({ backend: "any" })] }]);
    for (const url of ["/", "/a/b/c", "/?x", "//double"])
      assert.equal(matched(any, request(url))?.pipeline, "any", url);
  });

  it("treats empty path strings as not set", () => {
    const any = new Router([{ host: "", paths: [path({ path: "", pathPrefix: "", pathRegexp: "", backend: "any" })] }]);
    assert.equal(matched(any, request("/whatever"))?.pipeline, "any");
  });

  it("compares paths with unreserved escapes decoded and others kept", () => {
    const decoded = new Router([
      {
        paths: [
          path({ path: "/api", backend: "api" }),
          path({ path: "/a%2Fb", backend: "encoded-slash" }),
          path({ path: "/café", backend: "unicode" }),
          path({ path: "/a b", backend: "space" }),
          path({ pathPrefix: "/", backend: "other" }),
        ],
      },
    ]);
    const slashes = { policy: { ...STRICT_PATHS, allowEncodedSlash: true } };
    assert.equal(matched(decoded, request("/%61%70%69"))?.pipeline, "api");
    assert.equal(matched(decoded, request("/a%2fb", slashes))?.pipeline, "encoded-slash");
    assert.equal(matched(decoded, request("/a/b"))?.pipeline, "other");
    assert.equal(matched(decoded, request("/caf%c3%a9"))?.pipeline, "unicode");
    assert.equal(matched(decoded, request("/a%20b"))?.pipeline, "space");
    assert.equal(matched(decoded, request("/a b"))?.pipeline, "space");
  });

  it("requires the method to be listed, case-insensitively in the config", () => {
    const methods = new Router([
      { paths: [path({ methods: ["get", "POST"], backend: "rw" }), path({ backend: "rest" })] },
    ]);
    assert.equal(matched(methods, request("/", { method: "GET" }))?.pipeline, "rw");
    assert.equal(matched(methods, request("/", { method: "POST" }))?.pipeline, "rw");
    assert.equal(matched(methods, request("/", { method: "DELETE" }))?.pipeline, "rest");
    const empty = new Router([{ paths: [path({ methods: [], backend: "all" })] }]);
    assert.equal(matched(empty, request("/", { method: "PATCH" }))?.pipeline, "all");
  });
});

describe("Router header and query conditions", () => {
  const headerRules = (matchAllHeader: boolean): Router =>
    new Router([
      {
        paths: [
          path({
            headers: [
              { key: "X-Env", values: ["prod", "staging"] },
              { key: "x-version", regexp: "^v[23]$" },
            ],
            matchAllHeader,
            backend: "hit",
          }),
          path({ backend: "miss" }),
        ],
      },
    ]);

  it("with matchAllHeader=false, needs any one entry to match", () => {
    const router = headerRules(false);
    const backend = (headers: IncomingHttpHeaders): string | undefined =>
      matched(router, request("/", { headers }))?.pipeline;
    assert.equal(backend({ "x-env": "prod" }), "hit");
    assert.equal(backend({ "x-version": "v3" }), "hit");
    assert.equal(backend({ "x-env": "dev", "x-version": "v2" }), "hit");
    assert.equal(backend({ "x-env": "dev", "x-version": "v4" }), "miss");
    assert.equal(backend({}), "miss");
  });

  it("with matchAllHeader=true, needs every entry to match", () => {
    const router = headerRules(true);
    const backend = (headers: IncomingHttpHeaders): string | undefined =>
      matched(router, request("/", { headers }))?.pipeline;
    assert.equal(backend({ "x-env": "staging", "x-version": "v2" }), "hit");
    assert.equal(backend({ "x-env": "prod" }), "miss");
    assert.equal(backend({ "x-env": "dev", "x-version": "v2" }), "miss");
  });

  it("with matchAllHeader=true, needs both values and regexp of one entry", () => {
    const router = new Router([
      {
        paths: [
          path({ headers: [{ key: "x-a", values: ["ab", "ac"], regexp: "b$" }], matchAllHeader: true, backend: "hit" }),
        ],
      },
    ]);
    assert.equal(matched(router, request("/", { headers: { "x-a": "ab" } }))?.pipeline, "hit");
    assert.equal(matched(router, request("/", { headers: { "x-a": "ac" } })), undefined);
    assert.equal(matched(router, request("/", { headers: { "x-a": "xb" } })), undefined);
  });

  it("uses the first value of a repeated header and sees a missing header as empty", () => {
    const router = new Router([
      { paths: [path({ headers: [{ key: "x-a", values: ["first"] }], backend: "first" })] },
      { paths: [path({ headers: [{ key: "x-missing", values: [""] }], backend: "empty" })] },
    ]);
    assert.equal(matched(router, request("/", { headers: { "x-a": ["first", "second"] } }))?.pipeline, "first");
    assert.equal(matched(router, request("/", { headers: { "x-a": ["second", "first"] } }))?.pipeline, "empty");
    assert.equal(matched(router, request("/", { headers: { "x-missing": "set" } })), undefined);
  });

  it("matches queries, any or all, first value, decoded", () => {
    const any = new Router([
      {
        paths: [
          path({
            queries: [
              { key: "v", values: ["1"] },
              { key: "q", regexp: "^a b$" },
            ],
            backend: "hit",
          }),
          path({ backend: "miss" }),
        ],
      },
    ]);
    const backend = (url: string): string | undefined => matched(any, request(url))?.pipeline;
    assert.equal(backend("/?v=1"), "hit");
    assert.equal(backend("/?q=a+b"), "hit");
    assert.equal(backend("/?q=a%20b&v=2"), "hit");
    assert.equal(backend("/?v=2&v=1"), "miss");
    assert.equal(backend("/?V=1"), "miss");
    assert.equal(backend("/"), "miss");

    const all = new Router([
      {
        paths: [
          path({
            queries: [
              { key: "v", values: ["1"] },
              { key: "q", regexp: "^a" },
            ],
            matchAllQuery: true,
            backend: "hit",
          }),
        ],
      },
    ]);
    assert.equal(matched(all, request("/?q=abc&v=1"))?.pipeline, "hit");
    assert.equal(matched(all, request("/?v=1")), undefined);
    assert.equal(matched(all, request("/?q=abc")), undefined);
  });
});

describe("Router rewriteTarget", () => {
  it("sends the normalised path and the query as received without rewriteTarget", () => {
    const router = new Router([{ paths: [path({ pathPrefix: "/a", backend: "x" })] }]);
    for (const [url, target] of [
      ["/a/%7e/b?x=%2F&y=+&&", "/a/~/b?x=%2F&y=+&&"],
      ["/a?", "/a?"],
      ["/a//b/../c?/../d", "/a/c?/../d"],
      ["/a/%c3%a9", "/a/%C3%A9"],
    ] as const) {
      assert.equal(matched(router, request(url))?.target, target);
    }
  });

  it("replaces the whole path for an exact path, keeping the query", () => {
    const router = new Router([{ paths: [path({ path: "/old", rewriteTarget: "/new/place", backend: "x" })] }]);
    assert.equal(matched(router, request("/old?a=1&b=%20"))?.target, "/new/place?a=1&b=%20");
    assert.equal(matched(router, request("/old"))?.target, "/new/place");
    assert.equal(matched(router, request("/old?"))?.target, "/new/place?");
  });

  it("replaces the prefix for pathPrefix, keeping the rest and the query", () => {
    const router = new Router([{ paths: [path({ pathPrefix: "/api/v1/", rewriteTarget: "/v2/", backend: "x" })] }]);
    assert.equal(matched(router, request("/api/v1/users/7?full=true"))?.target, "/v2/users/7?full=true");
    assert.equal(matched(router, request("/api/v1/"))?.target, "/v2/");
  });

  it("applies the regexp replacement with capture groups, keeping the query", () => {
    const router = new Router([
      { paths: [path({ pathRegexp: "^/users/(\\d+)/posts/(\\d+)$", rewriteTarget: "/posts/$2?by=", backend: "x" })] },
      { paths: [path({ pathRegexp: "^/strip(.*)$", rewriteTarget: "$1", backend: "y" })] },
    ]);
    assert.equal(matched(router, request("/users/7/posts/9?x=1"))?.target, "/posts/9?by=?x=1");
    assert.equal(matched(router, request("/strip/rest?q"))?.target, "/rest?q");
    // The replacement may consume the leading slash; the target keeps one.
    assert.equal(matched(router, request("/strip?q"))?.target, "/?q");
  });

  it("uses the normalized path and encodes non-ASCII rewrite targets", () => {
    const router = new Router([{ paths: [path({ pathPrefix: "/a", rewriteTarget: "/ü", backend: "x" })] }]);
    assert.equal(matched(router, request("/%61/%3f%7e?k=%7e"))?.target, "/%C3%BC/%3F~?k=%7e");
  });

  it("ORs path conditions and rewrites by the one that matched", () => {
    const router = new Router([
      {
        paths: [path({ path: "/x", pathPrefix: "/p/", pathRegexp: "^/r(\\d)$", rewriteTarget: "/t$1", backend: "x" })],
      },
    ]);
    assert.equal(matched(router, request("/x?q"))?.target, "/t$1?q");
    assert.equal(matched(router, request("/p/rest"))?.target, "/t$1rest");
    assert.equal(matched(router, request("/r5"))?.target, "/t5");
  });

  it("ignores rewriteTarget when the path has no path condition", () => {
    const router = new Router([{ paths: [path({ rewriteTarget: "/elsewhere", backend: "x" })] }]);
    assert.equal(matched(router, request("/keep?q=1"))?.target, "/keep?q=1");
  });
});

describe("Router request targets", () => {
  const router = new Router([
    {
      paths: [path({ pathPrefix: "/api/", rewriteTarget: "/", backend: "api" }), path({ path: "/", backend: "root" })],
    },
  ]);

  it("routes absolute-form by its path and sends origin-form upstream", () => {
    assert.deepEqual(
      [
        matched(router, request("http://example.com/api/x?y=1"))?.pipeline,
        matched(router, request("http://example.com/api/x?y=1"))?.target,
      ],
      ["api", "/x?y=1"],
    );
    assert.equal(matched(router, request("HTTPS://example.com:8443/"))?.target, "/");
    assert.equal(matched(router, request("ws://example.com"))?.target, "/");
    assert.equal(matched(router, request("http://example.com?x=1"))?.target, "/?x=1");
    assert.equal(matched(router, request("http://[::1]:80/api/v"))?.target, "/v");
  });

  it("routes no asterisk-form target (OPTIONS *)", () => {
    assert.equal(matched(router, request("*", { method: "OPTIONS" })), undefined);
    assert.equal(
      matched(new Router([{ paths: [path({ backend: "any" })] }]), request("*", { method: "OPTIONS" })),
      undefined,
    );
  });

  it("normalises the rewritten target again, so a rewrite cannot form a dot segment", () => {
    const rewrites = new Router([
      { paths: [path({ pathPrefix: "/a", rewriteTarget: "/b/", backend: "prefix" })] },
      { paths: [path({ pathRegexp: "^/r/[a-z]*(.*)$", rewriteTarget: "/pub/x/$1.", backend: "regexp" })] },
    ]);
    assert.equal(matched(rewrites, request("/a..?q=1"))?.target, "/?q=1");
    assert.equal(matched(rewrites, request("/a%2e%2e/admin"))?.target, "/admin");
    assert.equal(matched(rewrites, request("/r/a."))?.target, "/pub/");
    assert.equal(matched(rewrites, request("/r/a%2e"))?.target, "/pub/");
  });
});
