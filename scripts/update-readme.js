// Regenerates the configuration reference in README.md from the schemas (run after `npm run build`).
import { readFileSync, writeFileSync } from "node:fs";
import { withReadmeReference } from "../dist/src/config/reference-doc.js";

const readme = readFileSync("README.md", "utf8");
const updated = withReadmeReference(readme);
if (updated !== readme) writeFileSync("README.md", updated);
console.log(updated === readme ? "README.md: reference up to date" : "README.md: reference updated");
