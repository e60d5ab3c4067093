/**
 * The storm and wss:// scenarios of `npm run bench` (run.ts calls `runBurstScenarios` when they are asked for,
 * and by default): each its own section of the report, also written to bench/results/latest-burst.{md,json}.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BurstContext } from "./burst-context.js";
import type { Options } from "./options.js";
import type { BurstScenarioName } from "./scenarios.js";
import { H2_SCENARIOS, H2_TRANSPORTS, runH2Scenarios, type H2Measurement } from "./h2-scenarios.js";
import { runStorm, type StormMeasurement } from "./storm.js";
import { TLS_SCENARIOS, runTlsScenarios, type TlsMeasurement } from "./tls-scenarios.js";

export interface BurstResults {
  markdown: string;
  storm?: StormMeasurement[];
  wss?: TlsMeasurement[];
  h2?: H2Measurement[];
}

export async function runBurstScenarios(
  ctx: BurstContext,
  names: readonly BurstScenarioName[],
  stormClients: number,
): Promise<BurstResults> {
  const sections: string[] = [];
  const results: BurstResults = { markdown: "" };
  if (names.includes("storm")) {
    const storm = await runStorm(ctx, stormClients);
    results.storm = storm.measurements;
    sections.push(storm.markdown);
  }
  if (names.includes("wss") && !ctx.interrupted()) {
    const wss = await runTlsScenarios(ctx);
    results.wss = wss.measurements;
    sections.push(wss.markdown);
  }
  // The h2 section measures this checkout's wsgate only: asked for with --targets that leave wsgate out, it is skipped.
  if (names.includes("h2") && !ctx.targets.includes("wsgate")) ctx.log("h2: skipped (--targets leaves out wsgate)");
  else if (names.includes("h2") && !ctx.interrupted()) {
    const h2 = await runH2Scenarios(ctx);
    results.h2 = h2.measurements;
    sections.push(h2.markdown);
  }
  results.markdown = sections.join("\n");
  return results;
}

/** Writes latest-burst.md and latest-burst.json into `dir`. */
export function writeBurstResults(dir: string, results: BurstResults, meta: object): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "latest-burst.md"), `${results.markdown}\n`);
  writeFileSync(
    join(dir, "latest-burst.json"),
    `${JSON.stringify({ meta, storm: results.storm, wss: results.wss, h2: results.h2 }, null, 2)}\n`,
  );
}

/** What run.ts has at hand, for `burstContext`. */
export interface RunPieces {
  options: Options;
  backendPort: number;
  backendPid: number;
  tmpRoot: string;
  prefix: readonly string[];
  fileLimit: number | undefined;
  ticksPerSecond: number;
  track: (child: ChildProcess) => void;
  interrupted: () => boolean;
}

export function burstContext(pieces: RunPieces): BurstContext {
  const { options } = pieces;
  return {
    backendPort: pieces.backendPort,
    backendPid: pieces.backendPid,
    tmpRoot: pieces.tmpRoot,
    prefix: pieces.prefix,
    maxFiles: pieces.fileLimit ?? options.stormClients * 2 + 1024,
    track: pieces.track,
    rounds: options.rounds,
    targets: options.targets,
    quick: options.quick,
    durationMs: options.durationMs,
    warmupMs: options.warmupMs,
    warmCycles: options.warmCycles,
    workers: options.workers,
    ticksPerSecond: pieces.ticksPerSecond,
    baseline: options.baseline,
    interrupted: pieces.interrupted,
    log: (line) => process.stderr.write(`bench: ${line}\n`),
  };
}

/** How long the storm and wss:// scenarios should take on a quiet machine, for the run's estimate and watchdog. */
export function burstEstimateMs(options: Options): number {
  const targets = options.targets.length;
  const storm = options.burstScenarios.includes("storm") ? targets * (options.quick ? 8000 : 40_000) : 0;
  // The two cycle scenarios' warm-up counts: about 2 ms a cycle (a full TLS handshake each) on a busy machine.
  const wss = options.burstScenarios.includes("wss")
    ? targets *
      (1000 + TLS_SCENARIOS.length * (options.durationMs + options.warmupMs + 1500) + 2 * 2 * options.warmCycles)
    : 0;
  const h2 = options.burstScenarios.includes("h2")
    ? 1000 + H2_SCENARIOS.length * H2_TRANSPORTS.length * (options.durationMs + options.warmupMs + 1500)
    : 0;
  return options.rounds * (storm + wss + h2);
}
