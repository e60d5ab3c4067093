import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ratioChart } from "../../bench/chart.js";
import { fixedChunks, frameBatch, splitHeaders } from "../../bench/micro/frames.js";
import { parseOptions } from "../../bench/options.js";
import { processTree } from "../../bench/proc.js";
import { withBenchSection } from "../../bench/readme-section.js";
import { fillTemplate } from "../../bench/targets.js";

const TEMPLATES = new URL("../../../bench/targets/", import.meta.url);

describe("bench config templates", () => {
  it("fills every placeholder and refuses an unknown one", () => {
    assert.equal(fillTemplate("listen ${port}; # ${...}", { port: 8080 }), "listen 8080; # ${...}");
    assert.throws(() => fillTemplate("${nope}", { port: 1 }), /no value for \$\{nope\}/);
  });

  it("every template under bench/targets uses only the placeholders the bench fills in", () => {
    const values = { port: 1, backendPort: 2, dir: "/tmp/x", maxConnections: 3, maxFiles: 4, connectionSlots: 5 };
    for (const name of ["nginx.conf", "haproxy.cfg", "wsgate.yaml", "wsgate-aware.yaml", "wsgate-policies.yaml"]) {
      const filled = fillTemplate(readFileSync(new URL(name, TEMPLATES), "utf8"), values);
      assert.doesNotMatch(filled, /\$\{[A-Za-z]+\}/, name);
    }
  });
});

describe("README benchmark section", () => {
  it("replaces only what lies between the markers", () => {
    const readme = "a\n<!-- bench:start -->\nold\n<!-- bench:end -->\nb\n";
    assert.equal(withBenchSection(readme, "new"), "a\n<!-- bench:start -->\nnew\n<!-- bench:end -->\nb\n");
  });

  it("leaves a README without markers alone", () => {
    assert.equal(withBenchSection("no markers here", "new"), undefined);
  });
});

describe("ratio chart", () => {
  it("is one SVG element with a bar per measured row and the text escaped", () => {
    const svg = ratioChart(
      [
        { scenario: "echo-64", target: "wsgate", ratio: 0.8 },
        { scenario: "echo-64", target: "nginx", ratio: undefined },
      ],
      "a <title>",
      ["a & b"],
    );
    assert.match(svg, /^<svg [^>]*>/);
    assert.match(svg, /<\/svg>\n$/);
    assert.equal(svg.match(/<rect x=/g)?.length, 1);
    assert.match(svg, /a &lt;title&gt;/);
    assert.match(svg, /a &amp; b/);
    assert.match(svg, />failed</);
  });
});

describe("micro benchmark frames", () => {
  it("cuts a batch without losing or reordering bytes", () => {
    const batch = frameBatch(10, 200, true);
    assert.equal(batch.bytes.length, 10 * (2 + 2 + 4 + 200));
    for (const chunks of [fixedChunks(batch, 7), splitHeaders(batch, 1), splitHeaders(batch, 3)])
      assert.deepEqual(Buffer.concat(chunks), batch.bytes);
    // One read ends a byte into each header and the next read holds the rest of that frame: frames + 1 reads.
    const reads = splitHeaders(batch, 1);
    assert.equal(reads.length, 11);
    assert.equal(reads[0]?.length, 1);
    assert.equal(reads[1]?.length, 2 + 2 + 4 + 200);
  });
});

describe("process tree", () => {
  it("includes a child of this process", async () => {
    const child = spawn("sleep", ["5"]);
    try {
      await new Promise((resolve) => child.once("spawn", resolve));
      assert.ok(processTree(process.pid).includes(child.pid ?? -1));
    } finally {
      child.kill("SIGKILL");
    }
  });
});

describe("bench scenarios", () => {
  it("basic-auth-flood runs only when named, and naming only it leaves the comparison (and latest.*) out", () => {
    const all = parseOptions(["--quick"]);
    assert.deepEqual(all.wsgateScenarios, []);
    assert.ok(all.scenarios.length > 0);
    const flood = parseOptions(["--quick", "--scenarios", "basic-auth-flood"]);
    assert.deepEqual(flood.scenarios, []);
    assert.deepEqual(flood.wsgateScenarios, ["basic-auth-flood"]);
    const both = parseOptions(["--scenarios", "handshake,basic-auth-flood"]);
    assert.deepEqual([both.scenarios, both.wsgateScenarios], [["handshake"], ["basic-auth-flood"]]);
  });
});
