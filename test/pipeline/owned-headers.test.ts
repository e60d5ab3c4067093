import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { OwnedHeaders, clientHeadersToForward, headerKey, headerKeys } from "../../src/pipeline/owned-headers.js";

/** Every mix of case and `-`/`_` for a name: what a client may send for it. */
function spellings(name: string): string[] {
  const parts = name.split("-");
  const out = new Set<string>();
  for (let mask = 0; mask < 1 << (parts.length - 1); mask++) {
    const joined = parts.reduce((text, part, i) =>
      i === 0 ? part : `${text}${mask & (1 << (i - 1)) ? "_" : "-"}${part}`,
    );
    for (const variant of [
      joined,
      joined.toLowerCase(),
      joined.toUpperCase(),
      joined.replace(/^./, (c) => c.toLowerCase()),
    ]) {
      out.add(variant);
    }
  }
  return [...out];
}

describe("owned headers", () => {
  it("one key for every spelling a CGI, WSGI or PHP backend reads as the same variable", () => {
    for (const name of ["X-Role", "X-Forwarded-For", "X-Client-Cert-Subject", "Host"]) {
      for (const spelling of spellings(name)) assert.equal(headerKey(spelling), name.toLowerCase(), spelling);
    }
    assert.notEqual(headerKey("X-Roles"), headerKey("X-Role"));
    assert.notEqual(headerKey("XRole"), headerKey("X-Role"));
  });

  it("drops every spelling of an owned name and keeps the rest in order", () => {
    const owned = new OwnedHeaders();
    owned.own("X-Role");
    owned.ownAll(headerKeys(["X-Tenant"]));
    const sent: Array<[string, string]> = [["Accept", "a"]];
    for (const name of ["X-Role", "X-Tenant", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Host"]) {
      for (const spelling of spellings(name)) sent.push([spelling, "forged"]);
    }
    sent.push(["X-Other", "b"], ["X_Other", "c"]);
    assert.ok(sent.length > 60);
    assert.deepEqual(clientHeadersToForward(sent, owned), [
      ["Accept", "a"],
      ["X-Other", "b"],
      ["X_Other", "c"],
    ]);
  });

  it("a shared key set is taken once however often a pipeline hands it over", () => {
    const keys = headerKeys(["X-User"]);
    const owned = new OwnedHeaders();
    for (let i = 0; i < 3; i++) owned.ownAll(keys);
    assert.ok(owned.owns("x_user"));
    assert.ok(!owned.owns("x-users"));
  });
});
