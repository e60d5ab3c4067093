/**
 * `npm run bench:micro`: the frame parser and the masking path on their own, so that a slowdown shows before it
 * lands. Each case is timed in several short samples (median of CPU ns per operation); the run stays under 30 s.
 * Results go to bench/results/micro.md and micro.json, with the change against the previous micro.json when that
 * was measured on the same CPU model and Node version.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { cpuModel } from "../proc.js";
import { frameParserCases } from "./frame-parser.js";
import { bufferutilNative, maskCases } from "./mask.js";
import type { CaseResult, Timing } from "./timing.js";

const RESULTS_DIR = fileURLToPath(new URL("../../../bench/results/", import.meta.url));
/** A change this large against the previous run is flagged; on a shared machine whole runs differ by up to ~25%. */
const FLAG_PERCENT = 25;
const TIMING: Timing = { sampleMs: 150, samples: 5 };

interface MicroResults {
  meta: { date: string; cpu: string; cores: number; node: string; bufferutilNative: boolean; totalS: number };
  timing: Timing;
  results: CaseResult[];
}

function previous(path: string, cpu: string): Map<string, number> {
  if (!existsSync(path)) return new Map();
  try {
    const old = JSON.parse(readFileSync(path, "utf8")) as MicroResults;
    if (old.meta.cpu !== cpu || old.meta.node !== process.version) return new Map();
    return new Map(old.results.map((result) => [result.name, result.nsPerOp]));
  } catch {
    return new Map();
  }
}

function change(now: number, before: number | undefined): string {
  if (before === undefined) return "—";
  const percent = ((now - before) / before) * 100;
  const flag = percent >= FLAG_PERCENT ? " ⚠ slower (rerun to confirm)" : percent <= -FLAG_PERCENT ? " faster" : "";
  return `${percent >= 0 ? "+" : ""}${percent.toFixed(0)}%${flag}`;
}

function main(): void {
  const watchdog = setTimeout(() => {
    process.stderr.write("bench:micro: over 60 s, stopping\n");
    process.exit(1);
  }, 60_000);
  watchdog.unref();
  const started = performance.now();
  const cpu = cpuModel();
  const jsonPath = join(RESULTS_DIR, "micro.json");
  const before = previous(jsonPath, cpu);
  const results: CaseResult[] = [];
  for (const suite of [frameParserCases, maskCases]) {
    for (const result of suite(TIMING)) {
      results.push(result);
      process.stderr.write(`bench:micro: ${result.name}: ${result.nsPerOp.toFixed(1)} ns/op\n`);
    }
  }
  const meta = {
    date: new Date().toISOString(),
    cpu,
    cores: os.availableParallelism(),
    node: process.version,
    bufferutilNative,
    totalS: (performance.now() - started) / 1000,
  };
  const rows = results.map((r) =>
    [
      r.name,
      r.nsPerOp.toFixed(1),
      `${r.minNs.toFixed(1)}–${r.maxNs.toFixed(1)}`,
      r.mbPerS.toFixed(0),
      change(r.nsPerOp, before.get(r.name)),
    ].join(" | "),
  );
  const markdown = [
    "# wsgate micro benchmarks",
    "",
    `- Date: ${meta.date} (took ${meta.totalS.toFixed(0)} s); CPU: ${cpu} × ${meta.cores}; Node ${meta.node}; bufferutil ${bufferutilNative ? "native addon" : "JS fallback (the native addon did not load)"}`,
    `- Each case: ${TIMING.samples} samples of ${TIMING.sampleMs} ms after one to warm up; CPU time (process.cpuUsage) per operation, median; MB/s is payload bytes (10^6) at that rate. Parser cases count one frame as one operation; mask cases one call.`,
    `- Parser: FrameStream from dist/src/websocket fed prebuilt frames (1,000 × 64 B or 64 × 16 KiB per batch); its output goes to a socket stand-in that only counts bytes. Change is against the previous micro.json from the same CPU model and Node version; ±${FLAG_PERCENT}% or more is flagged.`,
    "",
    "| case | ns/op (median) | min–max | MB/s | change |",
    "| --- | --- | --- | --- | --- |",
    ...rows.map((row) => `| ${row} |`),
    "",
  ].join("\n");
  process.stdout.write(markdown);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, "micro.md"), markdown);
  const json: MicroResults = { meta, timing: TIMING, results };
  writeFileSync(jsonPath, `${JSON.stringify(json, null, 2)}\n`);
  process.stderr.write(`bench:micro: wrote ${join(RESULTS_DIR, "micro.md")} and micro.json\n`);
}

main();
