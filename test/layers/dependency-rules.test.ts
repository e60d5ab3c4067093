// The layer rules of .dependency-cruiser.cjs (run over src/ by `npm run depcheck`, part of `npm test`), pinned on a
// small tree written for each case: each rule must fire on what it forbids and stay quiet on what it allows.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { cruise, type ICruiseOptions, type ICruiseResult, type IFlattenedRuleSet } from "dependency-cruiser";

interface RulesFile {
  forbidden: IFlattenedRuleSet["forbidden"];
  options: ICruiseOptions;
}

const rules = createRequire(import.meta.url)("../../../.dependency-cruiser.cjs") as RulesFile;
const made: string[] = [];
after(async () => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));

/** Cruises a tree of files (path -> the modules it imports, as paths) and gives "rule from -> to" for each violation. */
async function violations(tree: Record<string, string[]>): Promise<string[]> {
  const root = await mkdtemp(join(tmpdir(), "wsgate-layers-"));
  made.push(root);
  for (const [file, imports] of Object.entries(tree)) {
    await mkdir(join(root, dirname(file)), { recursive: true });
    const lines = imports.map((target, index) => `import { x as x${index} } from "${relativeImport(file, target)}";`);
    await writeFile(join(root, file), `${lines.join("\n")}\nexport const x = [${imports.map((_, i) => `x${i}`)}];\n`);
  }
  const { tsConfig: _tsConfig, ...options } = rules.options as ICruiseOptions & { tsConfig?: unknown };
  const result = await cruise(["src"], {
    ...options,
    baseDir: root,
    validate: true,
    ruleSet: { forbidden: rules.forbidden },
  });
  const output = result.output as ICruiseResult;
  return (output.summary.violations ?? []).map(
    (violation) => `${violation.rule.name} ${violation.from} -> ${violation.to}`,
  );
}

function relativeImport(from: string, to: string): string {
  const up = from.split("/").length - 2;
  return `${up === 0 ? "./" : "../".repeat(up)}${to.replace(/^src\//, "").replace(/\.ts$/, ".js")}`;
}

/** Every file imported by another in the tree is there too, so that only the rules under test can fire. */
function withTargets(tree: Record<string, string[]>): Record<string, string[]> {
  const full = { ...tree };
  for (const targets of Object.values(tree)) for (const target of targets) full[target] ??= [];
  full["src/cli.ts"] = Object.keys(full);
  return full;
}

describe("the layer rules (.dependency-cruiser.cjs)", () => {
  it("allow imports down and within a layer", async () => {
    const tree = withTargets({
      "src/server/router.ts": ["src/pipeline/context.ts", "src/util/counts.ts", "src/server/host-pattern.ts"],
      "src/filters/proxy/proxy.ts": ["src/pipeline/filter.ts", "src/pipeline/owned-headers.ts", "src/proxy/core.ts"],
      "src/websocket/relay.ts": ["src/errors.ts", "src/schema/duration.ts"],
    });
    assert.deepEqual(await violations(tree), []);
  });

  it("forbid an import up a layer", async () => {
    const tree = withTargets({ "src/upstream/pool.ts": ["src/server/router.ts"] });
    assert.deepEqual(await violations(tree), ["layer-upstream src/upstream/pool.ts -> src/server/router.ts"]);
  });

  it("let filters import the filter contract only, and the contract nothing above the proxy core", async () => {
    const tree = withTargets({
      "src/filters/proxy/proxy.ts": ["src/pipeline/context.ts", "src/pipeline/pipeline.ts"],
      // Down a layer for pipeline/, but the contract must stay below the filters that import it.
      "src/pipeline/context.ts": ["src/filters/registry.ts"],
    });
    assert.deepEqual((await violations(tree)).sort(), [
      "filter-contract src/pipeline/context.ts -> src/filters/registry.ts",
      "layer-filters src/filters/proxy/proxy.ts -> src/pipeline/pipeline.ts",
    ]);
  });

  it("keep websocket/ to base: not even observability", async () => {
    const tree = withTargets({ "src/websocket/relay.ts": ["src/observability/metrics.ts"] });
    assert.deepEqual(await violations(tree), ["websocket-pure src/websocket/relay.ts -> src/observability/metrics.ts"]);
  });

  it("forbid import cycles, within a layer too", async () => {
    const tree = withTargets({ "src/admin/a.ts": ["src/admin/b.ts"], "src/admin/b.ts": ["src/admin/a.ts"] });
    const found = await violations(tree);
    assert.ok(found.includes("no-circular src/admin/a.ts -> src/admin/b.ts"), found.join("\n"));
  });

  it("forbid a module no layer names, so that a new folder cannot escape the rules", async () => {
    const tree = withTargets({ "src/shiny/thing.ts": ["src/util/counts.ts"] });
    assert.deepEqual((await violations(tree)).sort(), [
      "in-a-layer src/shiny/thing.ts -> src/util/counts.ts",
      "to-a-layer src/cli.ts -> src/shiny/thing.ts",
    ]);
  });
});
