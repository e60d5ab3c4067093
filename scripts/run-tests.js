// Runs every compiled test file with Node's built-in runner. Node 20 takes no glob patterns, so the list is found here.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return findTests(path);
    return entry.name.endsWith(".test.js") ? [path] : [];
  });
}

const only = process.argv.slice(2);
// A compiled test whose source was moved or deleted stays in dist/ until it is cleaned: it is not a test any more.
const hasSource = (file) => existsSync(file.replace(/^dist\//, "").replace(/\.js$/, ".ts"));
const files = findTests("dist/test")
  .filter(hasSource)
  .filter((file) => only.length === 0 || only.some((part) => file.includes(part)))
  .sort();
if (files.length === 0) {
  console.error("no test files found under dist/test (did the build run?)");
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--test", "--test-timeout=60000", ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);
