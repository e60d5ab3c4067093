import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RequestTargetError, type RequestTargetRefusal } from "../../src/errors.js";
import {
  normalizePath,
  parseRequestTarget,
  STRICT_PATHS,
  type PathPolicy,
  type RequestTarget,
} from "../../src/server/request-target.js";

const ALLOW_ALL: PathPolicy = { allowBackslash: true, allowPathParameters: true, allowEncodedSlash: true };

function parsed(raw: string, policy: PathPolicy = STRICT_PATHS, method = "GET", host = "gw.test"): string {
  const target = parseRequestTarget(raw, method, host, policy);
  return target instanceof RequestTargetError ? target.code : target.path + target.search;
}

describe("request-target: RFC 3986 §5.4 dot-segment examples", () => {
  // §5.4.1 and §5.4.2, resolved against "http://a/b/c/d;p?q" and written as the merged paths §5.2.3 gives.
  const examples: Array<[string, string]> = [
    ["/b/c/g", "/b/c/g"],
    ["/b/c/./g", "/b/c/g"],
    ["/b/c/g/", "/b/c/g/"],
    ["/g", "/g"],
    ["/b/c/.", "/b/c/"],
    ["/b/c/./", "/b/c/"],
    ["/b/c/..", "/b/"],
    ["/b/c/../", "/b/"],
    ["/b/c/../g", "/b/g"],
    ["/b/c/../..", "/"],
    ["/b/c/../../", "/"],
    ["/b/c/../../g", "/g"],
    ["/b/c/../../../g", "/g"],
    ["/b/c/../../../../g", "/g"],
    ["/./g", "/g"],
    ["/../g", "/g"],
    ["/b/c/g.", "/b/c/g."],
    ["/b/c/.g", "/b/c/.g"],
    ["/b/c/g..", "/b/c/g.."],
    ["/b/c/..g", "/b/c/..g"],
    ["/b/c/./../g", "/b/g"],
    ["/b/c/./g/.", "/b/c/g/"],
    ["/b/c/g/./h", "/b/c/g/h"],
    ["/b/c/g/../h", "/b/c/h"],
    ["/b/c/g?y/./x", "/b/c/g?y/./x"],
    ["/b/c/g?y/../x", "/b/c/g?y/../x"],
    // §5.2.4's own examples.
    ["/a/b/c/./../../g", "/a/g"],
    ["/mid/content=5/../6", "/mid/6"],
  ];
  for (const [raw, expected] of examples) {
    it(`${raw} -> ${expected}`, () => assert.equal(parsed(raw), expected));
  }
});

describe("request-target: encodings normalised under the strict default", () => {
  const table: Array<[string, string]> = [
    ["/public/../admin/x", "/admin/x"],
    ["/public/%2e%2e/admin/x", "/admin/x"],
    ["/public/%2E%2e/admin/x", "/admin/x"],
    ["/public/.%2e/admin/x", "/admin/x"],
    ["/public/%2e./admin/x", "/admin/x"],
    ["/./admin/x", "/admin/x"],
    ["/%2e/admin/x", "/admin/x"],
    ["/public/..", "/"],
    ["/public/%2e%2e", "/"],
    ["/public/.", "/public/"],
    ["//admin/x", "/admin/x"],
    ["/public//../admin", "/admin"],
    ["/public/%252e%252e/admin", "/public/%252e%252e/admin"],
    ["/%61dmin/%78", "/admin/x"],
    ["/%7e%2D%5f", "/~-_"],
    ["/caf%c3%a9", "/caf%C3%A9"],
    ["/%c0%ae%c0%ae/admin", "/%C0%AE%C0%AE/admin"],
    ["/a%20b", "/a%20b"],
    ['/a b"<>`{}|^', "/a%20b%22%3C%3E%60%7B%7D%7C%5E"],
    ["/a%3f/../b", "/b"],
    ["/public?/../admin", "/public?/../admin"],
    ["/public?a=%2e%2e&b=\\;", "/public?a=%2e%2e&b=\\;"],
    ["/admin.", "/admin."],
    ["/admin...", "/admin..."],
    ["/public/...", "/public/..."],
  ];
  for (const [raw, expected] of table) {
    it(`${raw} -> ${expected}`, () => assert.equal(parsed(raw), expected));
  }

  it("is idempotent: a normalised target normalises to itself", () => {
    for (const [, expected] of table) assert.equal(parsed(expected), expected, expected);
  });
});

describe("request-target: refusals", () => {
  const table: Array<[string, RequestTargetRefusal, PathPolicy?]> = [
    ["/public\\..\\admin", "WSG_TARGET_BACKSLASH"],
    ["/\\admin", "WSG_TARGET_BACKSLASH"],
    ["/public/%5c../admin", "WSG_TARGET_ENCODED_SLASH"],
    ["/public/..%2fadmin", "WSG_TARGET_ENCODED_SLASH"],
    ["/public/%2F", "WSG_TARGET_ENCODED_SLASH"],
    ["/public/;x/../admin", "WSG_TARGET_PATH_PARAMETER"],
    ["/public/..;/admin", "WSG_TARGET_PATH_PARAMETER"],
    ["/x;jsessionid=1", "WSG_TARGET_PATH_PARAMETER"],
    ["/a%00", "WSG_TARGET_CONTROL"],
    ["/a%0d%0aX: y", "WSG_TARGET_CONTROL"],
    ["/a%0A", "WSG_TARGET_CONTROL"],
    ["/a%7f", "WSG_TARGET_CONTROL"],
    ["/a\u0001", "WSG_TARGET_CONTROL"],
    ["/bad%zz", "WSG_TARGET_MALFORMED"],
    ["/bad%", "WSG_TARGET_MALFORMED"],
    ["/bad%2", "WSG_TARGET_MALFORMED"],
    ["/%E0%A4%A", "WSG_TARGET_MALFORMED"],
    ["/public#/../admin", "WSG_TARGET_MALFORMED"],
    ["/public?x#y", "WSG_TARGET_MALFORMED"],
    ["", "WSG_TARGET_MALFORMED"],
    ["*", "WSG_TARGET_MALFORMED"],
    ["gw.test:443", "WSG_TARGET_MALFORMED"],
    ["?x=1", "WSG_TARGET_MALFORMED"],
    ["api/x", "WSG_TARGET_MALFORMED"],
    [" /", "WSG_TARGET_MALFORMED"],
    ["ftp://gw.test/", "WSG_TARGET_MALFORMED"],
    ["http://", "WSG_TARGET_MALFORMED"],
    ["http:///x", "WSG_TARGET_MALFORMED"],
    ["http://user@gw.test/", "WSG_TARGET_MALFORMED"],
    ["http://gw.test\\@evil.test/", "WSG_TARGET_MALFORMED"],
    ["http://evil.test/admin", "WSG_TARGET_AUTHORITY_MISMATCH"],
    ["http://gw.test:8080/admin", "WSG_TARGET_AUTHORITY_MISMATCH"],
    ["https://gw.test:80/", "WSG_TARGET_AUTHORITY_MISMATCH"],
    ["/x;;", "WSG_TARGET_PATH_PARAMETER", { ...STRICT_PATHS, allowEncodedSlash: true }],
    ["/public/..;/admin", "WSG_TARGET_PATH_PARAMETER", { ...STRICT_PATHS, allowPathParameters: true }],
    ["/public/.;x/admin", "WSG_TARGET_PATH_PARAMETER", { ...STRICT_PATHS, allowPathParameters: true }],
    ["/public/;x/../admin", "WSG_TARGET_PATH_PARAMETER", { ...STRICT_PATHS, allowPathParameters: true }],
    ["/public\\..;x\\admin", "WSG_TARGET_PATH_PARAMETER", ALLOW_ALL],
    ["/a%00", "WSG_TARGET_CONTROL", ALLOW_ALL],
    ["/a%zz", "WSG_TARGET_MALFORMED", ALLOW_ALL],
  ];
  for (const [raw, code, policy] of table) {
    it(`${JSON.stringify(raw)} -> ${code}${policy === undefined ? "" : " (with allowances)"}`, () => {
      const target = parseRequestTarget(raw, "GET", "gw.test", policy ?? STRICT_PATHS);
      assert.ok(target instanceof RequestTargetError, JSON.stringify(target));
      assert.equal(target.code, code);
      assert.equal(target.status, 400);
    });
  }
});

describe("request-target: forms and allowances", () => {
  it("takes absolute-form naming the Host's authority, routes by its path, sends origin-form", () => {
    assert.equal(parsed("http://gw.test/public/../admin?q"), "/admin?q");
    assert.equal(parsed("HTTP://GW.test:80/a/%2e%2e/b"), "/b");
    assert.equal(parsed("ws://gw.test"), "/");
    assert.equal(parsed("http://gw.test?x=1"), "/?x=1");
    assert.equal(parsed("https://gw.test:443/x", STRICT_PATHS, "GET", "GW.TEST"), "/x");
    assert.equal(parsed("http://[::1]:80/x", STRICT_PATHS, "GET", "[::1]"), "/x");
    const mismatch = parseRequestTarget("http://gw.test/x", "GET", undefined, STRICT_PATHS);
    assert.ok(mismatch instanceof RequestTargetError && mismatch.code === "WSG_TARGET_AUTHORITY_MISMATCH");
  });

  it("takes '*' from OPTIONS only", () => {
    const target = parseRequestTarget("*", "OPTIONS", "gw.test", STRICT_PATHS) as RequestTarget;
    assert.deepEqual(target, { form: "asterisk", path: "*", search: "" });
  });

  it("with allowBackslash reads \\ as / before removing dot segments", () => {
    const policy = { ...STRICT_PATHS, allowBackslash: true };
    assert.equal(parsed("/public\\..\\admin\\x", policy), "/admin/x");
    assert.equal(parsed("/a\\b", policy), "/a/b");
    assert.equal(parsed("/a%5cb", policy), "WSG_TARGET_ENCODED_SLASH");
  });

  it("with allowEncodedSlash keeps %2F and %5C encoded, never as separators", () => {
    const policy = { ...STRICT_PATHS, allowEncodedSlash: true };
    assert.equal(parsed("/public/..%2fadmin", policy), "/public/..%2Fadmin");
    assert.equal(parsed("/public/..%5c..%5cadmin", policy), "/public/..%5C..%5Cadmin");
    assert.equal(parsed("/a%2f..", policy), "/a%2F..");
  });

  it("with allowPathParameters keeps ; on named segments", () => {
    const policy = { ...STRICT_PATHS, allowPathParameters: true };
    assert.equal(parsed("/x;jsessionid=1", policy), "/x;jsessionid=1");
    assert.equal(parsed("/a;v=1/b/../c", policy), "/a;v=1/c");
  });

  it("encodes operator text as UTF-8 and refuses a lone surrogate", () => {
    assert.equal(normalizePath("/café/ü/😀", STRICT_PATHS), "/caf%C3%A9/%C3%BC/%F0%9F%98%80");
    const surrogate = normalizePath("/\ud800", STRICT_PATHS);
    assert.ok(surrogate instanceof RequestTargetError);
  });

  it("agrees with WHATWG URL on every accepted target of a generated table", () => {
    // Segments that WHATWG URL reads as dot segments or as plain names, combined three deep.
    const pieces = ["a", ".", "..", "%2e", "%2E%2e", ".%2e", "%2e.", "", "%252e", "%7e", "b%20c", "x."];
    let checked = 0;
    for (const first of pieces) {
      for (const second of pieces) {
        for (const third of pieces) {
          const raw = `/${first}/${second}/${third}`;
          const ours = parsed(raw);
          const theirs = new URL(ours, "http://x").pathname;
          assert.equal(theirs, ours, `${raw}: we route on ${ours}, a WHATWG backend reads ${theirs}`);
          // Where there is no slash to merge nor "%7e" (WHATWG keeps it), a backend given the raw target agrees too.
          if (!raw.includes("//") && !raw.includes("%7e")) assert.equal(new URL(raw, "http://x").pathname, ours, raw);
          checked++;
        }
      }
    }
    assert.equal(checked, pieces.length ** 3);
  });
});
