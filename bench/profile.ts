/**
 * `npm run bench -- --profile TARGET`: where one proxy's connection cycle goes, so that the next engineer does not
 * rebuild the harness (issue 22). The target runs alone under the handshake load (50 loops of open → 64 B echo →
 * close), warmed by --warm-cycles cycles, then measured for --duration seconds, once per phase, each phase on a
 * fresh proxy so that no tool's overhead leaks into another's figure:
 *
 * - plain: proxy CPU per cycle, user and system, and cycles/s (the reference: the tools below slow the proxy);
 * - cpuprof (Node targets): `--cpu-prof`, self time per function and per module in µs per cycle, over the measured
 *   window only (samples placed by the profile's end, which is the process's exit);
 * - strace (when installed): `strace -c -f` attached for the measured window, syscalls and errors per cycle;
 * - gc (Node targets): `--trace-gc`, scavenges and mark-compacts per 1,000 cycles.
 *
 * Writes bench/results/profile.md and profile.json, and prints the markdown.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { openDashboardStream, type DashboardStream } from "./dashboard-load.js";
import type { LoadWorkers } from "./load.js";
import type { Options } from "./options.js";
import { processTree } from "./proc.js";
import { formatTally, type Command, type RunReply, type Tally } from "./protocol.js";
import { ProxyProcess, sleep, within, exited } from "./proxy-process.js";
import { fixed } from "./report.js";
import { LOOP_SCENARIOS } from "./scenarios.js";
import { describeTarget, targetVersion, type ProxyName } from "./targets.js";
import { CYCLES_TIME_LIMIT_MS, cycleCommands, shares } from "./warmup.js";
import { cpuSplit, splitPerOp, type CpuSplit } from "./workers-model.js";

export interface ProfileSetup {
  target: ProxyName;
  options: Options;
  workers: LoadWorkers;
  backendPort: number;
  tmpRoot: string;
  proxyPrefix: string[];
  fileLimit: number | undefined;
  ticksPerSecond: number;
  resultsDir: string;
  track: (child: ChildProcess) => ChildProcess;
}

/** One measured window under the handshake load. */
interface Window {
  cycles: number;
  ms: number;
  cyclesPerS: number;
  /** µs per cycle: the root process and the rest, user and system. */
  split: CpuSplit | undefined;
  problems: Tally;
  /** performance.now() at the window's start and end. */
  from: number;
  to: number;
}

/** A CPU profile's nodes and samples, the parts read here. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  usPerCycle: number;
  share: number;
}

export interface ProfileSummary {
  sampledUsPerCycle: number;
  byModule: SelfTime[];
  byFunction: SelfTime[];
}

export interface SyscallCount {
  syscall: string;
  perCycle: number;
  errorsPerCycle: number;
  usPerCall: number;
}

const NODE_TARGETS: readonly ProxyName[] = [
  "wsgate",
  "wsgate-aware",
  "wsgate-workers",
  "wsgate-policies",
  "wsgate-aware-dashboard",
  "wsgate-before",
  "wsgate-aware-before",
  "http-proxy",
  "node-sockets",
  "node-handles",
];

function total(split: CpuSplit | undefined): number | undefined {
  return split === undefined
    ? undefined
    : split.primaryUser + split.primarySystem + split.othersUser + split.othersSystem;
}

/** A function's name for the tables: `name file:line`, paths shortened to the package's. */
function frameName(frame: CpuProfile["nodes"][number]["callFrame"]): string {
  const url = frame.url.replace(/^file:\/\/.*?\/dist\//, "dist/").replace(/^file:\/\/.*?\/node_modules\//, "");
  return `${frame.functionName || "(anonymous)"}${url === "" ? "" : ` ${url}:${frame.lineNumber + 1}`}`;
}

/** The module a frame belongs to: wsgate's top directory, an npm package, a node: module, or V8's own entries. */
export function moduleOf(url: string, functionName: string): string {
  // V8's own entries ("(program)", "(garbage collector)") and natives called from JavaScript (writeBuffer).
  if (url === "") return functionName.startsWith("(") ? functionName : `native ${functionName}`;
  const wsgate = /\/dist\/(src|bench)\/([^/]+)/.exec(url);
  if (wsgate !== null) return `wsgate ${wsgate[2]?.replace(/\.js$/, "") ?? ""}`;
  const npm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (npm !== null) return `npm ${npm[1] ?? ""}`;
  return url.startsWith("node:") ? url : `other ${url}`;
}

/**
 * Self time per function and per module in µs per cycle over [fromUs, toUs] (the profile's own clock, µs), idle
 * samples left out. Several profiles (a primary and its workers) add up.
 */
export function summarizeProfiles(
  profiles: readonly { profile: CpuProfile; fromUs: number; toUs: number }[],
  cycles: number,
  top = 30,
): ProfileSummary {
  const byFunction = new Map<string, number>();
  const byModule = new Map<string, number>();
  let busy = 0;
  for (const { profile, fromUs, toUs } of profiles) {
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    let at = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      at += profile.timeDeltas[i] ?? 0;
      if (at < fromUs || at > toUs) continue;
      const node = nodes.get(profile.samples[i] ?? -1);
      if (node === undefined || node.callFrame.functionName === "(idle)") continue;
      // A sample stands for the time until the next one.
      const dt = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0;
      busy += dt;
      const name = frameName(node.callFrame);
      byFunction.set(name, (byFunction.get(name) ?? 0) + dt);
      const module = moduleOf(node.callFrame.url, node.callFrame.functionName);
      byModule.set(module, (byModule.get(module) ?? 0) + dt);
    }
  }
  const rows = (map: Map<string, number>, count: number): SelfTime[] =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, us]) => ({ name, usPerCycle: cycles > 0 ? us / cycles : 0, share: busy > 0 ? us / busy : 0 }));
  return {
    sampledUsPerCycle: cycles > 0 ? busy / cycles : 0,
    byModule: rows(byModule, 25),
    byFunction: rows(byFunction, top),
  };
}

/** `strace -c` output: calls and errors per syscall, per cycle, busiest first. */
export function parseStraceSummary(text: string, cycles: number): SyscallCount[] {
  const counts: SyscallCount[] = [];
  for (const line of text.split("\n")) {
    // "% time seconds usecs/call calls errors syscall", errors may be blank.
    const match = /^\s*[\d.]+\s+[\d.]+\s+(\d+)\s+(\d+)\s+(?:(\d+)\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (match === null || match[4] === "total") continue;
    counts.push({
      syscall: match[4] ?? "?",
      usPerCall: Number(match[1]),
      perCycle: cycles > 0 ? Number(match[2]) / cycles : 0,
      errorsPerCycle: cycles > 0 ? Number(match[3] ?? 0) / cycles : 0,
    });
  }
  return counts.sort((a, b) => b.perCycle - a.perCycle);
}

/** --trace-gc lines by kind: scavenges and mark-compacts (the rest is counted as other). */
export function countGc(kinds: Tally): { scavenges: number; markCompacts: number; other: number } {
  const counts = { scavenges: 0, markCompacts: 0, other: 0 };
  for (const [kind, count] of Object.entries(kinds)) {
    if (kind.includes("Scavenge")) counts.scavenges += count;
    else if (kind.includes("Mark-Compact") || kind.includes("Mark-sweep")) counts.markCompacts += count;
    else if (kind.includes(" ms: ")) counts.other += count;
  }
  return counts;
}

function which(program: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${program}`], { stdio: "ignore" }).status === 0;
}

class Profiler {
  constructor(private readonly setup: ProfileSetup) {}

  /** The dashboard stream held open against a target with an admin listener (wsgate-aware-dashboard). */
  private stream: DashboardStream | undefined;

  async start(nodeFlags: string[] = []): Promise<ProxyProcess> {
    const { setup } = this;
    const proxy = await ProxyProcess.start(
      setup.target,
      {
        backendPort: setup.backendPort,
        maxFiles: setup.fileLimit ?? 4096,
        prefix: setup.proxyPrefix,
        tmpRoot: setup.tmpRoot,
        baseline: setup.options.baseline,
        nodeFlags,
      },
      setup.track,
    );
    if (proxy.adminPort !== undefined) this.stream = await openDashboardStream(proxy.adminPort, 10_000);
    return proxy;
  }

  async stop(proxy: ProxyProcess): Promise<void> {
    this.stream?.close();
    this.stream = undefined;
    await proxy.stop();
  }

  /** The warm-up by cycle count, then the measured window; `during` runs once the window has begun. */
  async measure(proxy: ProxyProcess, during?: () => Promise<void>): Promise<Window> {
    const { setup } = this;
    const scenario = LOOP_SCENARIOS.handshake;
    const problems: Tally = {};
    if (setup.options.warmCycles > 0) {
      const warm = await setup.workers.all(
        cycleCommands(
          scenario,
          proxy.url,
          setup.workers.count,
          setup.options.warmCycles,
          false,
          setup.options.serverClosesFirst,
        ),
        CYCLES_TIME_LIMIT_MS + 30_000,
      );
      for (const reply of warm) if (reply.type === "result") addAll(problems, reply.problems, "warm-up: ");
    }
    const commands: Command[] = shares(scenario.connections, setup.workers.count).map((loops) => ({
      type: "run",
      kind: "handshake",
      size: scenario.size,
      inFlight: scenario.inFlight,
      loops,
      url: proxy.url,
      durationMs: setup.options.durationMs,
      record: false,
      serverClosesFirst: setup.options.serverClosesFirst,
    }));
    const splitBefore = cpuSplit(proxy.pid);
    const from = performance.now();
    const running = setup.workers.all(commands, setup.options.durationMs + 30_000);
    if (during !== undefined) await during();
    const replies = (await running).filter((reply): reply is RunReply => reply.type === "result");
    const to = performance.now();
    const cycles = replies.reduce((sum, reply) => sum + reply.count, 0);
    for (const reply of replies) addAll(problems, reply.problems);
    return {
      cycles,
      ms: to - from,
      cyclesPerS: (cycles / (to - from)) * 1000,
      split: splitPerOp(splitBefore, cpuSplit(proxy.pid), setup.ticksPerSecond, cycles),
      problems,
      from,
      to,
    };
  }
}

function addAll(into: Tally, from: Tally, prefix = ""): void {
  for (const [key, count] of Object.entries(from)) into[`${prefix}${key}`] = (into[`${prefix}${key}`] ?? 0) + count;
}

function splitLine(window: Window): string {
  const s = window.split;
  if (s === undefined) return `${window.cycles} cycles, ${fixed(window.cyclesPerS, 0)}/s; CPU split not available`;
  const user = s.primaryUser + s.othersUser;
  const system = s.primarySystem + s.othersSystem;
  const below =
    s.othersUser + s.othersSystem > 0
      ? `, of which the processes below the root ${fixed(s.othersUser + s.othersSystem, 1)}`
      : "";
  return `${window.cycles.toLocaleString("en-US")} cycles in ${fixed(window.ms / 1000, 1)} s (${fixed(window.cyclesPerS, 0)}/s): proxy CPU ${fixed(total(s), 1)} µs per cycle (user ${fixed(user, 1)}, system ${fixed(system, 1)}${below})`;
}

/** Runs the phases and writes the report. */
export async function runProfile(setup: ProfileSetup): Promise<void> {
  const profiler = new Profiler(setup);
  const node = NODE_TARGETS.includes(setup.target);
  const hasStrace = which("strace");
  const log = (line: string): void => void process.stderr.write(`bench: profile: ${line}\n`);
  const result: Record<string, unknown> = {
    target: setup.target,
    version: targetVersion(setup.target, setup.options.baseline),
    warmCycles: setup.options.warmCycles,
    durationS: setup.options.durationMs / 1000,
  };
  const lines = [
    `# Profile of ${setup.target}: the connection cycle`,
    "",
    `- ${describeTarget(setup.target)} (${String(result["version"])}); ${new Date().toISOString()}; Node ${process.version}; ${setup.proxyPrefix.length > 0 ? `proxy pinned (${setup.proxyPrefix.join(" ")})` : "not pinned"}`,
    `- Load: 50 loops of open → one 64 B echo → close from ${setup.workers.count} load worker(s); each phase starts a fresh proxy, runs ${setup.options.warmCycles.toLocaleString("en-US")} unmeasured cycles, then measures ${setup.options.durationMs / 1000} s.`,
    "",
  ];

  // plain
  let proxy = await profiler.start();
  const plain = await profiler.measure(proxy);
  await profiler.stop(proxy);
  result["plain"] = plain;
  log(`plain: ${splitLine(plain)}`);
  lines.push("## CPU per cycle (no tool attached)", "", splitLine(plain), "");

  // cpuprof
  if (node) {
    const dir = mkdtempSync(join(setup.tmpRoot, "cpuprof-"));
    proxy = await profiler.start(["--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-interval=250"]);
    const window = await profiler.measure(proxy);
    await profiler.stop(proxy);
    const exitAt = performance.now();
    // A process writes its profile as it exits; its workers may take a moment longer.
    for (let i = 0; i < 50 && readdirSync(dir).length === 0; i++) await sleep(100);
    const profiles = readdirSync(dir)
      .filter((name) => name.endsWith(".cpuprofile"))
      .map((name) => {
        const profile = JSON.parse(readFileSync(join(dir, name), "utf8")) as CpuProfile;
        // The profile ends at the exit: the window lies (exitAt - from) to (exitAt - to) ms before its end.
        return {
          profile,
          fromUs: profile.endTime - (exitAt - window.from) * 1000,
          toUs: profile.endTime - (exitAt - window.to) * 1000,
        };
      });
    const summary = summarizeProfiles(profiles, window.cycles, Number(process.env["WSGATE_PROFILE_TOP"] ?? 30));
    result["cpuprof"] = { window, files: profiles.length, summary };
    log(
      `cpuprof: ${splitLine(window)}; ${profiles.length} profile(s), ${fixed(summary.sampledUsPerCycle, 1)} µs/cycle sampled`,
    );
    lines.push(
      "## CPU profile: self time per cycle",
      "",
      `With \`--cpu-prof\` (250 µs sampling; ${profiles.length} profile${profiles.length === 1 ? "" : "s"}): ${splitLine(window)}; the samples in the window add up to ${fixed(summary.sampledUsPerCycle, 1)} µs per cycle of JavaScript-thread time (the kernel time of syscalls made from JavaScript is inside it; V8's background threads are not). The profiler slows the proxy: read shares, and scale to the plain figure above.`,
      "",
      "| module | µs/cycle | share |",
      "| --- | --- | --- |",
      ...summary.byModule.map((row) => `| ${row.name} | ${fixed(row.usPerCycle, 1)} | ${fixed(row.share * 100, 1)}% |`),
      "",
      "| function (self time) | µs/cycle | share |",
      "| --- | --- | --- |",
      ...summary.byFunction.map(
        (row) =>
          `| \`${row.name.replace(/\|/g, "\\|")}\` | ${fixed(row.usPerCycle, 1)} | ${fixed(row.share * 100, 1)}% |`,
      ),
      "",
    );
  }

  // strace
  if (hasStrace) {
    proxy = await profiler.start();
    const out = join(mkdtempSync(join(setup.tmpRoot, "strace-")), "strace.txt");
    let tracer: ChildProcess | undefined;
    const window = await profiler.measure(proxy, async () => {
      const pids = processTree(proxy.pid).flatMap((pid) => ["-p", String(pid)]);
      tracer = spawn("strace", ["-c", "-f", "-o", out, ...pids], { stdio: "ignore" });
      // strace needs a moment to attach: the first cycles of the window go untraced (counted below).
      await sleep(200);
    });
    if (tracer !== undefined) {
      tracer.kill("SIGINT");
      await within(exited(tracer), 5000);
    }
    await profiler.stop(proxy);
    // The cycles traced: the window less the 200 ms before strace attached, at the window's rate.
    const traced = Math.max(1, Math.round(window.cycles * Math.max(0, (window.ms - 200) / window.ms)));
    const text = existsSync(out) ? readFileSync(out, "utf8") : "";
    const counts = parseStraceSummary(text, traced);
    const sum = counts.reduce((acc, row) => acc + row.perCycle, 0);
    result["strace"] = { window, tracedCycles: traced, counts };
    log(`strace: ${fixed(sum, 1)} syscalls per cycle over ~${traced} cycles`);
    lines.push(
      "## Syscalls per cycle (strace -c -f)",
      "",
      counts.length === 0
        ? `strace attached but reported nothing (${text.split("\n")[0] ?? "no output"}): it may lack the permission to trace.`
        : `${fixed(sum, 1)} syscalls per cycle in all, over about ${traced.toLocaleString("en-US")} cycles (strace slows the proxy to ${fixed(window.cyclesPerS, 0)} cycles/s; the counts per cycle are exact, its times are not).`,
      "",
      ...(counts.length === 0
        ? []
        : [
            "| syscall | per cycle | errors per cycle | µs/call (traced) |",
            "| --- | --- | --- | --- |",
            ...counts
              .filter((row) => row.perCycle >= 0.01)
              .map(
                (row) =>
                  `| ${row.syscall} | ${fixed(row.perCycle, 2)} | ${row.errorsPerCycle > 0 ? fixed(row.errorsPerCycle, 2) : ""} | ${row.usPerCall} |`,
              ),
          ]),
      "",
    );
  } else {
    lines.push("## Syscalls per cycle", "", "strace is not installed (apt-get install strace): not measured.", "");
  }

  // gc
  if (node) {
    proxy = await profiler.start(["--trace-gc"]);
    let before: Tally = {};
    const window = await profiler.measure(proxy, async () => {
      before = { ...proxy.outputKinds };
    });
    const during: Tally = {};
    for (const [kind, count] of Object.entries(proxy.outputKinds)) {
      const added = count - (before[kind] ?? 0);
      if (added > 0) during[kind] = added;
    }
    await profiler.stop(proxy);
    const gc = countGc(during);
    const per1000 = (count: number): number => (window.cycles > 0 ? (count / window.cycles) * 1000 : 0);
    result["gc"] = { window, ...gc };
    log(`gc: ${gc.scavenges} scavenges, ${gc.markCompacts} mark-compacts over ${window.cycles} cycles`);
    lines.push(
      "## Garbage collection (--trace-gc)",
      "",
      `${splitLine(window)}. Scavenges: ${gc.scavenges} (${fixed(per1000(gc.scavenges), 2)} per 1,000 cycles); mark-compacts: ${gc.markCompacts} (${fixed(per1000(gc.markCompacts), 2)} per 1,000 cycles)${gc.other > 0 ? `; other GC lines: ${gc.other}` : ""}.`,
      "",
    );
  }
  const problems: Tally = {};
  for (const key of ["plain", "cpuprof", "strace", "gc"]) {
    const phase = result[key] as { problems?: Tally; window?: { problems: Tally } } | undefined;
    addAll(problems, phase?.problems ?? phase?.window?.problems ?? {}, `${key}: `);
  }
  if (Object.keys(problems).length > 0) lines.push("## Problems", "", formatTally(problems), "");
  const markdown = lines.join("\n");
  process.stdout.write(`${markdown}\n`);
  writeFileSync(join(setup.resultsDir, "profile.md"), `${markdown}\n`);
  writeFileSync(join(setup.resultsDir, "profile.json"), `${JSON.stringify(result, null, 2)}\n`);
  log(`wrote ${join(setup.resultsDir, "profile.md")} and profile.json`);
}
