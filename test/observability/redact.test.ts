import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { redactedPath, SecretQueryParams } from "../../src/observability/redact.js";

describe("redactedPath", () => {
  const secrets = new SecretQueryParams();
  secrets.add("ticket");
  const cases: ReadonlyArray<readonly [string, string]> = [
    ["/ws", "/ws"],
    ["/ws?", "/ws?"],
    ["/ws?room=1", "/ws?room=1"],
    ["/ws?access_token=abc", "/ws?access_token=REDACTED"],
    ["/ws?ticket=abc&room=1", "/ws?ticket=REDACTED&room=1"],
    ["/ws?room=1&ticket=abc", "/ws?room=1&ticket=REDACTED"],
    ["/ws?ticket=a&ticket=b", "/ws?ticket=REDACTED&ticket=REDACTED"],
    ["/ws?room=1;ticket=abc", "/ws?room=1;ticket=REDACTED"],
    ["/ws?ticket", "/ws?ticket=REDACTED"],
    ["/ws?ticket=", "/ws?ticket=REDACTED"],
    ["/ws?%74icket=abc", "/ws?%74icket=REDACTED"],
    ["/ws?access.token=abc", "/ws?access.token=REDACTED"],
    ["/ws?access+token=abc", "/ws?access+token=REDACTED"],
    ["/ws?access%20token=abc", "/ws?access%20token=REDACTED"],
    ["/ws?access[token=abc", "/ws?access[token=REDACTED"],
    ["/ws?%20ticket=abc", "/ws?%20ticket=REDACTED"],
    ["/ws?tickets=abc", "/ws?tickets=abc"],
    ["/ws?Ticket=abc", "/ws?Ticket=abc"],
    ["/ws?x=ticket=abc", "/ws?x=ticket=abc"],
    ["/ws?%zz=1&ticket=abc", "/ws?%zz=1&ticket=REDACTED"],
    ["/a/ticket=abc?ticket=x#frag", "/a/ticket=abc?ticket=REDACTED"],
  ];
  it(`redacts every secret parameter, however spelled (${cases.length} cases)`, () => {
    const wrong = cases
      .map(([path, expected]) => [path, redactedPath(path, secrets), expected])
      .filter(([, got, expected]) => got !== expected);
    assert.deepEqual(wrong, []);
  });
});
