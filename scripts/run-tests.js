// Runs every compiled test file with Node's built-in runner. Node 20 takes no glob patterns, so the list is found here.
import { readdirSync } from "node:fs";
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
const files = findTests("dist/test")
  .filter((file) => only.length === 0 || only.some((part) => file.includes(part)))
  .sort();
if (files.length === 0) {
  console.error("no test files found under dist/test (did the build run?)");
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--test", "--test-timeout=60000", ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);
