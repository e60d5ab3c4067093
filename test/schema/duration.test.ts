import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { durationSchema, parseDuration } from "../../src/schema/duration.js";

describe("parseDuration", () => {
  it("reads Go-style durations into milliseconds", () => {
    const cases: [string, number][] = [
      ["0", 0],
      ["500ms", 500],
      ["30s", 30_000],
      ["1m", 60_000],
      ["1h30m", 5_400_000],
      ["1.5s", 1500],
      [".5s", 500],
      ["2h45m30.5s", 9_930_500],
      ["1500us", 2],
      ["1500µs", 2],
      ["1500μs", 2],
      ["400000ns", 0],
      ["600000ns", 1],
      ["0s", 0],
    ];
    for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
  });

  it("names the bad input and shows examples", () => {
    assert.throws(() => parseDuration("abc"), {
      message: "invalid duration 'abc' (expected e.g. 500ms, 30s, 1m, 1h30m)",
    });
    assert.throws(() => parseDuration("30"), {
      message: "invalid duration '30' (missing unit; expected e.g. 500ms, 30s, 1m, 1h30m)",
    });
    for (const text of ["", "-1s", "1d", "1 s", "s", "1.2.3s", "00"]) assert.throws(() => parseDuration(text), text);
  });
});

describe("durationSchema", () => {
  it("turns strings into milliseconds and accepts a bare 0", () => {
    assert.equal(durationSchema.parse("1h30m"), 5_400_000);
    assert.equal(durationSchema.parse(0), 0);
  });

  it("rejects numbers other than 0 and other types with the duration message", () => {
    const number = durationSchema.safeParse(30);
    assert.equal(
      number.error?.issues[0]?.message,
      "invalid duration '30' (missing unit; expected e.g. 500ms, 30s, 1m, 1h30m)",
    );
    const text = durationSchema.safeParse("soon");
    assert.equal(text.error?.issues[0]?.message, "invalid duration 'soon' (expected e.g. 500ms, 30s, 1m, 1h30m)");
    const boolean = durationSchema.safeParse(true);
    assert.equal(boolean.error?.issues[0]?.message, "invalid duration 'true' (expected e.g. 500ms, 30s, 1m, 1h30m)");
  });
});
