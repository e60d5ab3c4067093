import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { commandHelp, findCommand, overviewHelp } from "../../src/cli/commands.js";
import { renderConfigReference } from "../../src/config/reference-doc.js";

const root = new URL("../../../", import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), "utf8");

it("docs/reference.md matches the schemas (run `npm run docs` after changing them)", () => {
  assert.equal(read("docs/reference.md"), renderConfigReference());
});

it("the README keeps the two-command quick start", () => {
  const readme = read("README.md");
  assert.match(readme, /npm install && npm start/);
  assert.match(readme, /npm install && npm test/);
});

it("the README stays a five-minute read: under 150 lines, the connection's path drawn, every docs page linked", () => {
  const readme = read("README.md");
  assert.ok(readme.split("\n").length < 150, `README has ${readme.split("\n").length} lines`);
  const phases = ["accept", "route", "the flow", "Validator", "attempt loop", "connect", "101", "relay", "log line"];
  for (const phase of phases) {
    assert.ok(readme.includes(phase), `the path of a connection names ${phase}`);
  }
  const docsPages = [...read("README.md").matchAll(/\]\((docs\/[a-z-]+\.md)\)/g)].map((match) => match[1]);
  for (const page of ["reference", "security", "operations", "performance", "clustering"]) {
    assert.ok(docsPages.includes(`docs/${page}.md`), `README links docs/${page}.md`);
  }
});

it("docs/operations.md shows `wsgate --help` and `wsgate run --help` as the CLI prints them", () => {
  const operations = read("docs/operations.md");
  const run = findCommand("run");
  assert.ok(run !== undefined);
  assert.ok(operations.includes(overviewHelp().trimEnd()), "wsgate --help");
  assert.ok(operations.includes(commandHelp(run).trimEnd()), "wsgate run --help");
});
