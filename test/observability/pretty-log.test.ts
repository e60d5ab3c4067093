import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatPrettyLine } from "../../src/observability/pretty-log.js";

const line = (fields: Record<string, unknown>): string =>
  JSON.stringify({ level: "info", time: "2026-01-02T03:04:05.678Z", service: "wsgate", msg: "listening", ...fields });

describe("formatPrettyLine", () => {
  const cases: [string, string, string][] = [
    ["time, level, message, fields", line({ port: 8080 }), "03:04:05.678 INFO  listening port=8080\n"],
    ["level numbers of other pino loggers", line({ level: 40 }), "03:04:05.678 WARN  listening\n"],
    [
      "strings with spaces quoted",
      line({ reason: "bad gateway" }),
      '03:04:05.678 INFO  listening reason="bad gateway"\n',
    ],
    [
      "plain words bare",
      line({ url: "ws://127.0.0.1:9095/ws" }),
      "03:04:05.678 INFO  listening url=ws://127.0.0.1:9095/ws\n",
    ],
    [
      "errors by their message",
      line({ err: { type: "Error", message: "boom", stack: "Error: boom\n    at x" } }),
      '03:04:05.678 INFO  listening err="boom"\n',
    ],
    ["objects as JSON", line({ paths: ["/a", "/b"] }), '03:04:05.678 INFO  listening paths=["/a","/b"]\n'],
    ["newlines escaped, one line per event", line({ reason: "a\nb" }), '03:04:05.678 INFO  listening reason="a\\nb"\n'],
    ["pid and hostname hidden", line({ pid: 1, hostname: "h" }), "03:04:05.678 INFO  listening\n"],
    ["not JSON passes through", "plain text", "plain text\n"],
  ];
  for (const [name, input, expected] of cases) {
    it(name, () => assert.equal(formatPrettyLine(input, false), expected));
  }

  it("colours the level on a terminal", () => {
    assert.equal(formatPrettyLine(line({}), true), "\x1b[2m03:04:05.678\x1b[0m \x1b[32mINFO \x1b[0m listening\n");
  });
});
