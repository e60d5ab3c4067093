// Unit: how status views and logs write an address and port: no IPv4-mapped prefix, IPv6 in brackets, the
// dual-stack wildcard as `*` (regression: `:::8080` and `::ffff:127.0.0.1:PORT` in `wsgate get` and sessions).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { endpointText } from "../../src/util/net/ip-address.js";

const cases: Array<[string | undefined, number | undefined, string]> = [
  ["127.0.0.1", 8080, "127.0.0.1:8080"],
  ["::ffff:127.0.0.1", 8080, "127.0.0.1:8080"],
  ["::ffff:10.1.2.3", 54321, "10.1.2.3:54321"],
  ["::1", 8080, "[::1]:8080"],
  ["2001:db8::7", 443, "[2001:db8::7]:443"],
  ["::ffff:7f00:1", 80, "[::ffff:7f00:1]:80"],
  ["::", 8080, "*:8080"],
  ["0.0.0.0", 8080, "0.0.0.0:8080"],
  ["fe80::1%eth0", 80, "[fe80::1%eth0]:80"],
  [undefined, undefined, ":"],
];

describe("endpointText", () => {
  for (const [address, port, shown] of cases) {
    it(`${String(address)} port ${String(port)} is ${shown}`, () => {
      assert.equal(endpointText(address, port), shown);
    });
  }
});
