// Regenerates the configuration reference, docs/reference.md, from the schemas (run after `npm run build`).
import { readFileSync, writeFileSync } from "node:fs";
import { renderConfigReference } from "../dist/src/config/reference-doc.js";

const path = "docs/reference.md";
let current = "";
try {
  current = readFileSync(path, "utf8");
} catch {
  // first run: the page does not exist yet
}
const updated = renderConfigReference();
if (updated !== current) writeFileSync(path, updated);
console.log(updated === current ? `${path}: up to date` : `${path}: updated`);
