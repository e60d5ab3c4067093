import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { it } from "node:test";
import { withReadmeReference } from "../../src/config/reference-doc.js";

const readmePath = new URL("../../../README.md", import.meta.url);

it("the README's configuration reference matches the schemas (run `npm run docs` after changing them)", () => {
  const readme = readFileSync(readmePath, "utf8");
  assert.equal(readme, withReadmeReference(readme));
});

it("the README keeps the two-command quick start", () => {
  const readme = readFileSync(readmePath, "utf8");
  assert.match(readme, /npm install && npm start/);
  assert.match(readme, /npm install && npm test/);
});
