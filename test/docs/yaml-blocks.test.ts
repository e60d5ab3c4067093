// Every ```yaml block in README.md and docs/*.md is a config a reader may copy: each one must load with the
// gateway's own loader, as `wsgate validate` would. A block that is deliberately a part of an object (a few fields
// to add somewhere) starts with `# fragment` and is only parsed as YAML. Relative links between the pages must
// lead to files and headings that exist.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { formatConfigError, loadConfigText } from "../../src/config/load.js";

const root = new URL("../../../", import.meta.url);
const pages = ["README.md", ...readdirSync(new URL("docs/", root)).map((name) => `docs/${name}`)].filter((page) =>
  page.endsWith(".md"),
);
const textOf = (page: string): string => readFileSync(new URL(page, root), "utf8");

interface YamlBlock {
  page: string;
  line: number;
  text: string;
}

function yamlBlocks(page: string): YamlBlock[] {
  const text = textOf(page);
  return [...text.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((match) => ({
    page,
    line: text.slice(0, match.index).split("\n").length + 1,
    text: match[1] ?? "",
  }));
}

const FRAGMENT = /^# fragment\b/;

const blocks = pages.flatMap(yamlBlocks);

describe("YAML blocks in the docs", () => {
  it("there are blocks to check, most of them whole configs", () => {
    assert.ok(blocks.length >= 25, `${blocks.length} blocks`);
    const fragments = blocks.filter((block) => FRAGMENT.test(block.text));
    assert.ok(fragments.length <= blocks.length / 5, `${fragments.length} fragments of ${blocks.length}`);
  });

  for (const block of blocks) {
    const where = `${block.page}:${block.line}`;
    it(`${where} ${FRAGMENT.test(block.text) ? "parses as YAML" : "loads as a config"}`, () => {
      if (FRAGMENT.test(block.text)) {
        for (const document of parseAllDocuments(block.text)) {
          assert.deepEqual(document.errors, [], `${where}: ${document.errors.map(String).join("\n")}`);
        }
        return;
      }
      const result = loadConfigText(block.text, where);
      const errors = result.ok ? [] : result.errors.map(formatConfigError);
      assert.deepEqual(errors, [], `${where}:\n${errors.join("\n")}`);
    });
  }
});

function slugOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

function anchorsOf(page: string): Set<string> {
  const text = textOf(page).replace(/^```[\s\S]*?^```$/gm, "");
  return new Set([...text.matchAll(/^#+ (.*)$/gm)].map((match) => slugOf(match[1] ?? "")));
}

describe("links between the docs", () => {
  for (const page of pages) {
    it(`${page}: relative links lead to existing files and headings`, () => {
      const text = textOf(page).replace(/^```[\s\S]*?^```$/gm, "");
      const broken: string[] = [];
      for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1] ?? "";
        if (/^[a-z]+:/.test(target)) continue;
        const [path = "", anchor] = target.split("#");
        const file = path === "" ? page : new URL(path, new URL(page, root)).pathname.slice(root.pathname.length);
        let exists = true;
        try {
          readFileSync(new URL(file, root));
        } catch {
          exists = false;
        }
        if (!exists) broken.push(`${target}: no file ${file}`);
        else if (anchor !== undefined && file.endsWith(".md") && !anchorsOf(file).has(anchor)) {
          broken.push(`${target}: no heading #${anchor} in ${file}`);
        }
      }
      assert.deepEqual(broken, []);
    });
  }
});
