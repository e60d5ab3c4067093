import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { closestWord, editDistance } from "../../src/cli/did-you-mean.js";

describe("editDistance", () => {
  const cases: [string, string, number][] = [
    ["run", "run", 0],
    ["rn", "run", 1],
    ["wach", "watch", 1],
    ["sesions", "sessions", 1],
    ["dmeo", "demo", 1],
    ["", "get", 3],
    ["members", "mebmers", 1],
    ["config", "fig", 3],
  ];
  for (const [a, b, distance] of cases) {
    it(`${a} -> ${b} is ${distance}`, () => assert.equal(editDistance(a, b), distance));
  }
});

describe("closestWord", () => {
  const commands = ["run", "validate", "demo", "schema", "apply", "get", "describe", "delete", "sessions", "members"];
  const cases: [string, string | undefined][] = [
    ["rn", "run"],
    ["RUN", "run"],
    ["valdate", "validate"],
    ["vali", "validate"],
    ["descrbe", "describe"],
    ["delet", "delete"],
    ["sesion", "sessions"],
    ["frobnicate", undefined],
    ["x", undefined],
    ["", undefined],
  ];
  for (const [typed, expected] of cases) {
    it(`${JSON.stringify(typed)} -> ${String(expected)}`, () => assert.equal(closestWord(typed, commands), expected));
  }
});
