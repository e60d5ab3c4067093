// The package as npm would publish it: `npm pack --dry-run` lists the built gateway, the docs, the examples, README, LICENSE
// and package.json, and nothing of the tests, the benchmarks or source maps.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface PackEntry {
  path: string;
}

/** The files `npm pack` would put in the tarball; --ignore-scripts so that listing them does not rebuild dist/. */
function packedFiles(): string[] {
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const result = spawnSync(npm, ["pack", "--dry-run", "--json", "--ignore-scripts"], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  const [pack] = JSON.parse(result.stdout) as { files: PackEntry[] }[];
  return (pack?.files ?? []).map((file) => file.path);
}

describe("npm pack", () => {
  it("ships dist/src, the docs the README links, the examples, README, LICENSE and package.json, and no tests, bench or maps", () => {
    const files = packedFiles();
    const needs = ["package.json", "README.md", "LICENSE", "SECURITY.md", "dist/src/cli.js", "examples/demo.yaml"];
    for (const needed of [...needs, "docs/security.md", "docs/reference.md"]) {
      assert.ok(files.includes(needed), `${needed} is packed`);
    }
    assert.ok(files.includes("dist/src/gateway.js"));
    // The dashboard's page, its scripts and uPlot: served from the package, never from a CDN.
    for (const asset of ["index.html", "assets/main.js", "assets/dashboard.css", "assets/uPlot.iife.min.js"]) {
      assert.ok(files.includes(`dist/dashboard/${asset}`), `dist/dashboard/${asset} is packed`);
    }
    const outside = files.filter(
      (file) =>
        !file.startsWith("dist/src/") &&
        !file.startsWith("dist/dashboard/") &&
        !file.startsWith("examples/") &&
        !file.startsWith("docs/") &&
        !/^(package\.json|README\.md|LICENSE|SECURITY\.md)$/.test(file),
    );
    assert.deepEqual(outside, [], "nothing else at the top");
    assert.deepEqual(
      files.filter((file) => /(^|\/)(test|bench)\/|\.map$|\.ts$/.test(file)),
      [],
      "no tests, benchmarks, sources or source maps",
    );
  });

  it("LICENSE is the Apache License 2.0 that package.json names", () => {
    const license = readFileSync(`${ROOT}LICENSE`, "utf8");
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { license: string };
    assert.equal(pkg.license, "Apache-2.0");
    assert.match(license, /^\s*Apache License\s+Version 2\.0, January 2004/);
    assert.match(license, /END OF TERMS AND CONDITIONS/);
  });

  it("prepare builds only when dist/ is missing: npx wsgate in the checkout installs it as a link and runs prepare", () => {
    const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { scripts: Record<string, string> };
    const prepare = pkg.scripts["prepare"] ?? "";
    const result = spawnSync("sh", ["-c", prepare.replace("npm run build", "echo BUILT")], {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /BUILT/, "with dist/ built, prepare does not build again");
    assert.equal(pkg.scripts["prepack"], "npm run build", "what is published is built fresh");
  });
});
