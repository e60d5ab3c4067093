// The admin API's small parts: addresses, the router, revisions, close codes, tables, and the Gateway kind.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isLoopback, parseAdminAddress } from "../../src/util/net/admin-address.js";
import { AdminMethodNotAllowedError, PathNotFoundError } from "../../src/admin/errors.js";
import { Router } from "../../src/admin/router.js";
import { adminSettings } from "../../src/cli/admin-settings.js";
import { formatAge, renderTable } from "../../src/util/table.js";
import { loadConfigText } from "../../src/config/load.js";
import { operatorCloseCode } from "../../src/control/close-codes.js";
import { InvalidCloseCodeError } from "../../src/control/errors.js";

describe("admin address", () => {
  it("parses HOST:PORT, [IPv6]:PORT and off", () => {
    assert.deepEqual(parseAdminAddress("127.0.0.1:2381"), { host: "127.0.0.1", port: 2381 });
    assert.deepEqual(parseAdminAddress("[::1]:0"), { host: "::1", port: 0 });
    assert.equal(parseAdminAddress("off"), "off");
    for (const bad of ["2381", "host:", "host:99999", "::1:2381"])
      assert.throws(() => parseAdminAddress(bad), /HOST:PORT/);
  });

  it("knows loopback addresses", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) assert.ok(isLoopback(host), host);
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "example.com"]) assert.ok(!isLoopback(host), host);
  });

  it("takes flags over the environment over the Gateway object, and refuses exposure without a token", () => {
    const spec = loadConfigText("kind: Gateway\nname: gw\nadminAddress: 127.0.0.2:9000\n", "gw.yaml");
    assert.ok(spec.ok);
    assert.deepEqual(adminSettings({}, spec.config.gateway, {}), { host: "127.0.0.2", port: 9000 });
    assert.deepEqual(adminSettings({ address: "127.0.0.1:1" }, spec.config.gateway, {}), {
      host: "127.0.0.1",
      port: 1,
    });
    assert.throws(() => adminSettings({ address: "0.0.0.0:1" }, undefined, {}), /without a token/);
    const token = "x".repeat(16);
    assert.equal(adminSettings({ address: "0.0.0.0:1" }, undefined, { WSGATE_ADMIN_TOKEN: token }) !== "off", true);
    assert.throws(() => adminSettings({ token: "short" }, undefined, {}), /16 characters/);
    assert.equal(adminSettings({ address: "off" }, undefined, {}), "off");
  });

  it("allowed Host names: the Gateway object's adminAllowedHosts, overridden by --admin-host; malformed refused", () => {
    const loaded = loadConfigText(
      'kind: Gateway\nname: g\nadminAllowedHosts: ["admin.internal", "fwd.internal:8443", "[::1]:9"]\n',
      "g.yaml",
    );
    assert.ok(loaded.ok);
    const fromSpec = adminSettings({}, loaded.config.gateway, {});
    assert.deepEqual(fromSpec !== "off" && fromSpec.allowedHosts, ["admin.internal", "fwd.internal:8443", "[::1]:9"]);
    const fromFlag = adminSettings({ hosts: ["other.internal"] }, loaded.config.gateway, {});
    assert.deepEqual(fromFlag !== "off" && fromFlag.allowedHosts, ["other.internal"]);
    for (const bad of ["evil@admin", "admin/x", "admin:port", "a b", "[fe80::1%lo]", ""]) {
      assert.throws(() => adminSettings({ hosts: [bad] }, undefined, {}), /--admin-host/, bad);
      const result = loadConfigText(`kind: Gateway\nname: g\nadminAllowedHosts: ["${bad}"]\n`, "g.yaml");
      assert.equal(result.ok, false, bad);
    }
  });
});

describe("admin router", () => {
  const router = new Router<string>().add("GET", "/a/:name", "get").add("PUT", "/a/:name", "put");

  it("matches method and pattern, decoding parameters", () => {
    assert.deepEqual(router.find("PUT", "/a/x%20y"), { handler: "put", params: { name: "x y" } });
  });

  it("throws 404 for an unknown path and 405 with the allowed methods", () => {
    assert.throws(() => router.find("GET", "/b"), PathNotFoundError);
    assert.throws(
      () => router.find("POST", "/a/x"),
      (error: unknown) => error instanceof AdminMethodNotAllowedError && error.headers["Allow"] === "GET, PUT",
    );
  });
});

describe("operator close codes", () => {
  it("allows 1000, 1001, 1008, 1011 and 3000-4999 only", () => {
    for (const code of [1000, 1001, 1008, 1011, 3000, 4999]) assert.equal(operatorCloseCode(code), code);
    for (const code of [999, 1005, 1006, 1015, 2999, 5000, 4000.5]) {
      assert.throws(() => operatorCloseCode(code), InvalidCloseCodeError);
    }
  });
});

describe("CLI tables", () => {
  it("pads columns and trims the last", () => {
    assert.equal(renderTable(["A", "BB"], [["xyz", "1"]]), "A    BB\nxyz  1\n");
  });

  it("words ages", () => {
    assert.deepEqual([500, 42_000, 192_000, 7_500_000].map(formatAge), ["500ms", "42s", "3m12s", "2h5m"]);
  });
});

describe("Gateway kind", () => {
  it("takes defaults and is at most one per configuration", () => {
    const one = loadConfigText("kind: Gateway\nname: gw\n", "gw.yaml");
    assert.ok(one.ok);
    assert.equal(one.config.gateway?.workers, 1);
    assert.equal(one.config.gateway?.adminAddress, "127.0.0.1:2381");
    const two = loadConfigText("kind: Gateway\nname: gw\n---\nkind: Gateway\nname: gw2\nworkers: auto\n", "gw.yaml");
    assert.ok(!two.ok);
    assert.match(two.errors[0]?.message ?? "", /only one Gateway object/);
    assert.equal(two.errors[0]?.line, 4);
  });

  it("reports a bad admin address and workers at their lines", () => {
    const bad = loadConfigText("kind: Gateway\nname: gw\nworkers: 0\nadminAddress: nowhere\n", "gw.yaml");
    assert.ok(!bad.ok);
    assert.deepEqual(
      bad.errors.map((error) => [error.line, error.path]),
      [
        [3, "workers"],
        [4, "adminAddress"],
      ],
    );
  });
});
