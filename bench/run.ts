/**
 * `npm run bench`: how wsgate compares with a direct connection and with other proxies (nginx, HAProxy, node
 * http-proxy), measured in one run, as ratios.
 *
 * Processes: this orchestrator (idle while measuring), an echo backend (echo-backend.ts), load-generator workers
 * (load.ts) and, for the proxy targets, the proxy started from its config under bench/targets/ (targets.ts),
 * pinned to a core of its own when taskset is there (pinning.ts). Rounds interleave the targets; figures are
 * medians over rounds and ratios are against `direct` from the same run.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { raiseFileLimit } from "./limits.js";
import { LoadWorkers, split } from "./load.js";
import { pinCores } from "./pinning.js";
import {
  clockTicks,
  cpuModel,
  cpuTicks,
  machineTicks,
  median,
  weightedPercentiles,
  type MachineTicks,
} from "./proc.js";
import {
  addTally,
  formatTally,
  type CheckReply,
  type ClosedReply,
  type Command,
  type LoadKind,
  type OpenReply,
  type Reply,
  type RunReply,
  type Tally,
} from "./protocol.js";
import { ProxyProcess, sleep, stopChild } from "./proxy-process.js";
import {
  TARGET_NAMES,
  describeTarget,
  installPackages,
  missing,
  packagesToInstall,
  stopGraceMs,
  targetVersion,
  type ProxyName,
  type TargetName,
} from "./targets.js";

const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BACKEND_SCRIPT = fileURLToPath(new URL("./echo-backend.js", import.meta.url));
const RESULTS_DIR = join(PACKAGE_ROOT, "bench/results");

/** Quick mode: every figure from one short measurement, so that six targets fit in under a minute. */
const QUICK = { durationS: 1, warmupS: 0.1, idle: 500, holdMs: 500 } as const;

const USAGE = `Usage: node dist/bench/run.js [options]

  --quick            short scenarios, 1 round, ${QUICK.idle} idle connections (under a minute with six targets)
  --rounds N         rounds, each running every target once per scenario (default 3; quick 1)
  --duration S       measured seconds per scenario and target (default 3; quick ${QUICK.durationS})
  --warmup S         unmeasured seconds before each measurement (default 1; quick ${QUICK.warmupS})
  --workers N        load-generator processes (default 2)
  --idle N           idle connections (default 10000; quick ${QUICK.idle}), capped by what ulimit -n allows
  --scenarios LIST   comma-separated subset of: ${["echo-64", "echo-16k", "stream", "handshake", "idle"].join(", ")}
  --targets LIST     comma-separated subset of: ${TARGET_NAMES.join(", ")}
                     (default: all that are installed; direct is always kept)
  --install          apt-get install the missing nginx / haproxy first
  --no-pin           do not pin the proxy to a core of its own with taskset
  --no-readme        do not rewrite the benchmark section of README.md
  --help
`;

// ---- scenarios and targets ----

const SCENARIO_NAMES = ["echo-64", "echo-16k", "stream", "handshake", "idle"] as const;
type ScenarioName = (typeof SCENARIO_NAMES)[number];

interface LoopScenario {
  name: Exclude<ScenarioName, "idle">;
  kind: LoadKind;
  connections: number;
  size: number;
  inFlight: number;
  unit: "msg/s" | "conn/s";
}

const LOOP_SCENARIOS: Record<LoopScenario["name"], LoopScenario> = {
  "echo-64": { name: "echo-64", kind: "echo", connections: 50, size: 64, inFlight: 1, unit: "msg/s" },
  "echo-16k": { name: "echo-16k", kind: "echo", connections: 50, size: 16 * 1024, inFlight: 1, unit: "msg/s" },
  stream: { name: "stream", kind: "stream", connections: 4, size: 64, inFlight: 1000, unit: "msg/s" },
  handshake: { name: "handshake", kind: "handshake", connections: 50, size: 64, inFlight: 1, unit: "conn/s" },
};

// ---- options ----

interface Options {
  quick: boolean;
  rounds: number;
  durationMs: number;
  warmupMs: number;
  workers: number;
  idle: number;
  idleRequested: number;
  idleCapNote: string | undefined;
  holdMs: number;
  scenarios: ScenarioName[];
  targets: TargetName[];
  /** Targets asked for (or all, by default) that cannot run here, and why. */
  skipped: string[];
  /** --targets was given: a missing one is then worth a warning, not just a line. */
  targetsAsked: boolean;
  install: boolean;
  pin: boolean;
  readme: boolean;
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function positive(text: string | undefined, name: string, fallback: number, integer: boolean): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value)))
    fail(`${name} must be a positive ${integer ? "integer" : "number"}, got '${text}'`);
  return value;
}

function nonNegative(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value) || value < 0) fail(`${name} must be a number ≥ 0, got '${text}'`);
  return value;
}

function listOf<T extends string>(text: string | undefined, known: readonly T[], name: string): T[] {
  if (text === undefined) return [...known];
  const picked = text.split(",").map((item) => item.trim());
  for (const item of picked) if (!(known as readonly string[]).includes(item)) fail(`unknown ${name} '${item}'`);
  return known.filter((item) => picked.includes(item));
}

function parseOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: "boolean", default: false },
        rounds: { type: "string" },
        duration: { type: "string" },
        warmup: { type: "string" },
        workers: { type: "string" },
        idle: { type: "string" },
        scenarios: { type: "string" },
        targets: { type: "string" },
        install: { type: "boolean", default: false },
        "no-pin": { type: "boolean", default: false },
        "no-readme": { type: "boolean", default: false },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const quick = values.quick;
  const idleRequested = positive(values.idle, "--idle", quick ? QUICK.idle : 10_000, true);
  const targets = listOf(values.targets, TARGET_NAMES, "target");
  if (!targets.includes("direct")) targets.unshift("direct");
  return {
    quick,
    rounds: positive(values.rounds, "--rounds", quick ? 1 : 3, true),
    durationMs: positive(values.duration, "--duration", quick ? QUICK.durationS : 3, false) * 1000,
    warmupMs: nonNegative(values.warmup, "--warmup", quick ? QUICK.warmupS : 1) * 1000,
    workers: positive(values.workers, "--workers", 2, true),
    idle: idleRequested,
    idleRequested,
    idleCapNote: undefined,
    holdMs: quick ? QUICK.holdMs : 3500,
    scenarios: listOf(values.scenarios, SCENARIO_NAMES, "scenario"),
    targets,
    skipped: [],
    targetsAsked: values.targets !== undefined,
    install: values.install,
    pin: !values["no-pin"],
    readme: !values["no-readme"],
  };
}

/** Installs what --install asks for, then drops the targets that still cannot run, with a line each. */
function settleTargets(options: Options): void {
  const packages = packagesToInstall(options.targets);
  if (options.install && packages.length > 0) {
    process.stderr.write(`bench: apt-get install -y ${packages.join(" ")}\n`);
    try {
      installPackages(packages);
    } catch (error) {
      options.skipped.push(`apt-get install ${packages.join(" ")} failed: ${(error as Error).message.slice(0, 200)}`);
    }
  }
  for (const target of options.targets) {
    const why = missing(target);
    if (why !== undefined) options.skipped.push(why);
  }
  options.targets = options.targets.filter((target) => missing(target) === undefined);
}

/**
 * Raises the open-file limit that every process of the run inherits, then caps the idle connections by it: the
 * proxy holds two descriptors per idle connection (client and backend side); the backend and workers one.
 */
function settleIdle(options: Options): { limit: number | undefined; note: string } {
  const { limit, note } = raiseFileLimit(options.idleRequested * 2 + 1024);
  const cap = limit === undefined ? Infinity : Math.max(1, Math.floor((limit.soft - 512) / 2));
  options.idle = Math.min(options.idleRequested, cap);
  if (options.idle < options.idleRequested)
    options.idleCapNote = `idle connections capped at ${options.idle} (asked for ${options.idleRequested}): ${note}, and a proxy needs two descriptors per connection`;
  return { limit: limit?.soft, note };
}

// ---- child processes ----

/** Every child still running, so that SIGINT, errors and exit can stop them all. */
const children = new Set<ChildProcess>();
let loadWorkers: LoadWorkers | undefined;

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

function killAll(signal: NodeJS.Signals): void {
  loadWorkers?.kill(signal);
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill(signal);
  }
}

class Backend {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(): Promise<Backend> {
    const child = track(fork(BACKEND_SCRIPT, ["0"], { stdio: ["ignore", "pipe", "pipe", "ipc"] }));
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the echo backend did not start within 10 s")), 10_000);
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
        const match = /^PORT (\d+)$/.exec(line);
        if (match?.[1] === undefined) return;
        clearTimeout(timer);
        resolve(Number(match[1]));
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`the echo backend exited (${code ?? "signal"}): ${stderr}`));
      });
    });
    return new Backend(child, port);
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }
}

// ---- measurements ----

interface Measurement {
  scenario: ScenarioName;
  target: TargetName;
  round: number;
  /** msg/s or conn/s (loops); undefined for idle. */
  rate?: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Operations measured: echoed messages, completed cycles, or idle connections opened. */
  ops: number;
  elapsedMs: number;
  proxyCpuMs?: number;
  proxyCpuUsPerOp?: number;
  /** The echo backend's CPU per operation: what a plain `ws` endpoint spends, for scale. */
  backendCpuUsPerOp?: number;
  /** Proxy CPU over the measured wall time, % of one core. */
  proxyCpuPercent?: number;
  backendCpuPercent?: number;
  /** The busiest load worker's own CPU, % of one core. */
  generatorCpuPercent?: number;
  /** All load workers together, % of one core. */
  generatorTotalCpuPercent?: number;
  /** Processes other than the bench's and the proxy's, % of one core (from /proc/stat). */
  othersCpuPercent?: number;
  /** Hypervisor steal time over all cores, % of one core. */
  stealPercent?: number;
  /** idle: the proxy's RSS growth per connection (proxy targets). */
  rssKiBPerConn?: number;
  proxyRssKiB?: { before: number; after: number };
  idle?: { asked: number; opened: number; echoed: number; failed: number };
  /** Things that went wrong, by kind: unexpected closes, errors, unanswered messages. */
  problems: Tally;
  proxyOutput?: string[];
  proxyOutputLines?: number;
  proxyOutputKinds?: Tally;
  /** The whole measurement, set-up and teardown included. */
  wallMs?: number;
  /** From spawning the proxy to its first accepted TCP connection. */
  proxyStartMs?: number;
  proxyStopMs?: number;
  error?: string;
}

interface Context {
  options: Options;
  /** This round's proxy per proxy target, for the loop scenarios. */
  shared: Map<ProxyName, ProxyProcess>;
  /** Problems that belong to no single measurement (a shared proxy's exit). */
  runProblems: string[];
  workers: LoadWorkers;
  backend: Backend;
  ticksPerSecond: number;
  /** Where each proxy start gets a directory of its own for its config (and nginx's pid and temp files). */
  tmpRoot: string;
  /** The open-file limit every process of the run inherits, when known. */
  fileLimit: number | undefined;
  /** taskset prefix for the proxies, [] when not pinned. */
  proxyPrefix: string[];
}

function only<T extends Reply["type"]>(replies: readonly Reply[], type: T): Extract<Reply, { type: T }>[] {
  return replies.map((reply) => {
    if (reply.type !== type) throw new Error(`expected a '${type}' reply, got '${reply.type}'`);
    return reply as Extract<Reply, { type: T }>;
  });
}

/** CPU ticks of every process in play, and of the machine, at one moment. */
interface CpuSnapshot {
  at: number;
  proxy: number | undefined;
  backend: number | undefined;
  generator: number | undefined;
  machine: MachineTicks | undefined;
}

function cpuSnapshot(ctx: Context, proxy: ProxyProcess | undefined): CpuSnapshot {
  let generator: number | undefined = 0;
  for (const pid of ctx.workers.pids) {
    const ticks = cpuTicks(pid);
    generator = ticks === undefined || generator === undefined ? undefined : generator + ticks;
  }
  return {
    at: performance.now(),
    proxy: proxy?.cpuTicks(),
    backend: cpuTicks(ctx.backend.pid),
    generator,
    machine: machineTicks(),
  };
}

/** CPU used between two snapshots, in ms of CPU time, and the wall time between them. */
interface CpuUse {
  wallMs: number;
  proxyMs?: number;
  backendMs?: number;
  generatorMs?: number;
  /** Processes other than the bench's (and the proxy's), from /proc/stat. */
  othersMs?: number;
  stealMs?: number;
}

function cpuUse(before: CpuSnapshot, after: CpuSnapshot, ticksPerSecond: number): CpuUse {
  const ms = (a: number | undefined, b: number | undefined): number | undefined =>
    a === undefined || b === undefined ? undefined : ((b - a) / ticksPerSecond) * 1000;
  const use: CpuUse = {
    wallMs: after.at - before.at,
    proxyMs: ms(before.proxy, after.proxy),
    backendMs: ms(before.backend, after.backend),
    generatorMs: ms(before.generator, after.generator),
  };
  if (before.machine !== undefined && after.machine !== undefined) {
    const busyMs = ms(before.machine.busy, after.machine.busy) ?? 0;
    const ours = (use.proxyMs ?? 0) + (use.backendMs ?? 0) + (use.generatorMs ?? 0);
    use.othersMs = Math.max(0, busyMs - ours);
    use.stealMs = ms(before.machine.steal, after.machine.steal);
  }
  return use;
}

/** CPU time as % of one core over the wall time. */
function percentOfCore(cpuMs: number | undefined, wallMs: number): number | undefined {
  return cpuMs === undefined || wallMs <= 0 ? undefined : (cpuMs / wallMs) * 100;
}

async function openEverywhere(ctx: Context, url: string, total: number, concurrency: number): Promise<OpenReply[]> {
  const commands: Command[] = split(total, ctx.workers.count).map((connections) => ({
    type: "open",
    url,
    connections,
    concurrency,
  }));
  return only(await ctx.workers.all(commands, 30_000 + total * 20), "opened");
}

async function closeEverywhere(ctx: Context): Promise<ClosedReply[]> {
  const commands: Command[] = Array.from({ length: ctx.workers.count }, () => ({ type: "close" }));
  // Closing thousands of idle connections through a proxy on a busy machine takes a while.
  return only(await ctx.workers.all(commands, 20_000 + ctx.options.idle * 3), "closed");
}

/** Adds the counts of `from` to `into`, keys prefixed. */
function absorb(into: Tally, from: Tally, prefix = ""): void {
  for (const [key, count] of Object.entries(from)) addTally(into, `${prefix}${key}`, count);
}

function openProblems(replies: readonly OpenReply[], problems: Tally): number {
  let opened = 0;
  for (const reply of replies) {
    opened += reply.opened;
    if (reply.failed > 0) addTally(problems, "connections that did not open", reply.failed);
    absorb(problems, reply.problems, "open: ");
  }
  return opened;
}

function closeProblems(replies: readonly ClosedReply[], problems: Tally): void {
  for (const reply of replies) absorb(problems, reply.problems, "close: ");
}

async function measureLoop(
  ctx: Context,
  scenario: LoopScenario,
  target: TargetName,
  round: number,
  proxy: ProxyProcess | undefined,
): Promise<Measurement> {
  const url = proxy === undefined ? `ws://127.0.0.1:${ctx.backend.port}/ws` : proxy.url;
  const problems: Tally = {};
  const loops = scenario.kind === "handshake";
  if (!loops) {
    const opened = openProblems(await openEverywhere(ctx, url, scenario.connections, scenario.connections), problems);
    if (opened === 0) throw new Error(`no connection opened: ${formatTally(problems)}`);
  }
  const runCommands = (durationMs: number, record: boolean): Command[] =>
    split(scenario.connections, ctx.workers.count).map((share) => ({
      type: "run",
      kind: scenario.kind,
      size: scenario.size,
      inFlight: scenario.inFlight,
      loops: share,
      url,
      durationMs,
      record,
    }));
  const runTimeout = (durationMs: number): number => durationMs + 30_000;
  if (ctx.options.warmupMs > 0) {
    const warm = only(
      await ctx.workers.all(runCommands(ctx.options.warmupMs, false), runTimeout(ctx.options.warmupMs)),
      "result",
    );
    for (const reply of warm) absorb(problems, reply.problems, "warm-up: ");
  }
  const before = cpuSnapshot(ctx, proxy);
  const results: RunReply[] = only(
    await ctx.workers.all(runCommands(ctx.options.durationMs, true), runTimeout(ctx.options.durationMs)),
    "result",
  );
  const cpu = cpuUse(before, cpuSnapshot(ctx, proxy), ctx.ticksPerSecond);
  const proxyCpuMs = cpu.proxyMs;
  if (!loops) closeProblems(await closeEverywhere(ctx), problems);

  let ops = 0;
  let rate = 0;
  let unanswered = 0;
  let generatorCpuPercent = 0;
  for (const result of results) {
    ops += result.count;
    if (result.elapsedMs > 0) rate += (result.count / result.elapsedMs) * 1000;
    unanswered += result.unanswered;
    const cpuMs = (result.cpuUserUs + result.cpuSystemUs) / 1000;
    generatorCpuPercent = Math.max(generatorCpuPercent, result.elapsedMs > 0 ? (cpuMs / result.elapsedMs) * 100 : 0);
    absorb(problems, result.problems);
  }
  if (unanswered > 0 && !loops) problems["unanswered messages"] = unanswered;
  const percentiles = weightedPercentiles(
    results.map((result) => ({ values: result.latencies, seen: result.latencySeen })),
    [50, 99],
  );
  const elapsedMs = Math.max(...results.map((result) => result.elapsedMs));
  return {
    scenario: scenario.name,
    target,
    round,
    rate,
    p50Ms: percentiles[0],
    p99Ms: percentiles[1],
    ops,
    elapsedMs,
    proxyCpuMs,
    proxyCpuUsPerOp: proxyCpuMs === undefined || ops === 0 ? undefined : (proxyCpuMs * 1000) / ops,
    backendCpuUsPerOp: cpu.backendMs === undefined || ops === 0 ? undefined : (cpu.backendMs * 1000) / ops,
    proxyCpuPercent: percentOfCore(proxyCpuMs, cpu.wallMs),
    backendCpuPercent: percentOfCore(cpu.backendMs, cpu.wallMs),
    generatorCpuPercent,
    generatorTotalCpuPercent: percentOfCore(cpu.generatorMs, cpu.wallMs),
    othersCpuPercent: percentOfCore(cpu.othersMs, cpu.wallMs),
    stealPercent: percentOfCore(cpu.stealMs, cpu.wallMs),
    problems,
  };
}

async function measureIdle(
  ctx: Context,
  target: TargetName,
  round: number,
  proxy: ProxyProcess | undefined,
): Promise<Measurement> {
  const url = proxy === undefined ? `ws://127.0.0.1:${ctx.backend.port}/ws` : proxy.url;
  const problems: Tally = {};
  const count = ctx.options.idle;
  // Warm the code paths (handshake, relay, close) first, so that the baseline is not all module loading and JIT.
  openProblems(await openEverywhere(ctx, url, 20, 20), problems);
  await ctx.workers.all(
    Array.from({ length: ctx.workers.count }, () => ({ type: "check", size: 64 })),
    20_000,
  );
  closeProblems(await closeEverywhere(ctx), problems);
  await sleep(ctx.options.quick ? 150 : 300);
  const rssBefore = proxy?.rssKiB();
  const openStart = performance.now();
  const opened = openProblems(await openEverywhere(ctx, url, count, 64), problems);
  const openMs = performance.now() - openStart;
  // Hold them idle; with the aware config this spans heartbeats (1 s pings, 3 s pong deadline).
  const holdStart = cpuSnapshot(ctx, proxy);
  await sleep(ctx.options.holdMs);
  const hold = cpuUse(holdStart, cpuSnapshot(ctx, proxy), ctx.ticksPerSecond);
  const rssAfter = proxy?.rssKiB();
  const checks: CheckReply[] = only(
    await ctx.workers.all(
      Array.from({ length: ctx.workers.count }, () => ({ type: "check", size: 64 })),
      30_000,
    ),
    "checked",
  );
  let echoed = 0;
  let failed = 0;
  for (const check of checks) {
    echoed += check.ok;
    failed += check.failed;
    absorb(problems, check.problems, "check: ");
  }
  if (echoed < count) problems[`idle connections that did not echo (of ${count})`] = count - echoed;
  closeProblems(await closeEverywhere(ctx), problems);
  const perConn = (before: number | undefined, after: number | undefined): number | undefined =>
    before === undefined || after === undefined || opened === 0 ? undefined : (after - before) / opened;
  return {
    scenario: "idle",
    target,
    round,
    ops: opened,
    elapsedMs: openMs,
    rssKiBPerConn: perConn(rssBefore, rssAfter),
    proxyCpuPercent: percentOfCore(hold.proxyMs, hold.wallMs),
    backendCpuPercent: percentOfCore(hold.backendMs, hold.wallMs),
    generatorTotalCpuPercent: percentOfCore(hold.generatorMs, hold.wallMs),
    othersCpuPercent: percentOfCore(hold.othersMs, hold.wallMs),
    proxyRssKiB: rssBefore === undefined || rssAfter === undefined ? undefined : { before: rssBefore, after: rssAfter },
    idle: { asked: count, opened, echoed, failed },
    problems,
  };
}

/** Stops a proxy by PID; a slow or forced exit is a problem worth reporting. */
async function stopProxy(proxy: ProxyProcess): Promise<{ ms: number; problem?: string }> {
  const stopped = await proxy.stop();
  if (stopped.killed)
    return {
      ms: stopped.ms,
      problem: `${proxy.name} did not exit within ${stopGraceMs(proxy.name) / 1000} s of SIGTERM (killed)`,
    };
  if (stopped.ms > 2000)
    return { ms: stopped.ms, problem: `${proxy.name} took ${(stopped.ms / 1000).toFixed(1)} s to exit after SIGTERM` };
  return { ms: stopped.ms };
}

/** Stops the gateways kept across this round's loop scenarios. */
async function stopSharedProxies(ctx: Context, round: number): Promise<void> {
  for (const [target, proxy] of ctx.shared) {
    const stopped = await stopProxy(proxy);
    if (stopped.problem !== undefined) ctx.runProblems.push(`round ${round}, ${target}: ${stopped.problem}`);
  }
  ctx.shared.clear();
}

/**
 * One scenario against one target. The loop scenarios of a round share one proxy per target (started on first
 * use, as a user's proxy would serve one workload after another); idle gets a fresh one so that its RSS growth
 * is not hidden by a heap that earlier scenarios already grew.
 */
async function measure(ctx: Context, scenario: ScenarioName, target: TargetName, round: number): Promise<Measurement> {
  if (ctx.backend.child.exitCode !== null || ctx.backend.child.signalCode !== null) {
    throw new Error(
      `the echo backend exited (${ctx.backend.child.signalCode ?? ctx.backend.child.exitCode}); stopping`,
    );
  }
  const began = performance.now();
  const fresh = scenario === "idle";
  let proxy: ProxyProcess | undefined = target === "direct" || fresh ? undefined : ctx.shared.get(target);
  const problems: Tally = {};
  if (proxy !== undefined && (proxy.child.exitCode !== null || proxy.child.signalCode !== null)) {
    addTally(problems, `${proxy.name} had exited (${proxy.child.signalCode ?? proxy.child.exitCode}); restarted`);
    ctx.shared.delete(proxy.name);
    proxy = undefined;
  }
  let proxyStartMs: number | undefined;
  let linesBefore = 0;
  let kindsBefore: Tally = {};
  let measurement: Measurement;
  try {
    if (target !== "direct" && proxy === undefined) {
      const startedAt = performance.now();
      proxy = await ProxyProcess.start(
        target,
        {
          backendPort: ctx.backend.port,
          maxFiles: ctx.fileLimit ?? ctx.options.idle * 2 + 1024,
          prefix: ctx.proxyPrefix,
          tmpRoot: ctx.tmpRoot,
        },
        track,
      );
      proxyStartMs = performance.now() - startedAt;
      if (!fresh) ctx.shared.set(target, proxy);
    }
    linesBefore = proxy?.outputLines ?? 0;
    kindsBefore = { ...proxy?.outputKinds };
    measurement =
      scenario === "idle"
        ? await measureIdle(ctx, target, round, proxy)
        : await measureLoop(ctx, LOOP_SCENARIOS[scenario], target, round, proxy);
  } catch (error) {
    measurement = { scenario, target, round, ops: 0, elapsedMs: 0, problems: {}, error: (error as Error).message };
    // Whatever the workers still hold goes, so that the next measurement starts clean.
    await closeEverywhere(ctx).catch(() => []);
  }
  absorb(measurement.problems, problems);
  measurement.proxyStartMs = proxyStartMs;
  if (proxy !== undefined) {
    if (fresh) {
      const stopped = await stopProxy(proxy);
      measurement.proxyStopMs = stopped.ms;
      if (stopped.problem !== undefined) addTally(measurement.problems, stopped.problem);
    }
    // What the proxy logged during this measurement only.
    const kinds: Tally = {};
    for (const [kind, count] of Object.entries(proxy.outputKinds)) {
      const added = count - (kindsBefore[kind] ?? 0);
      if (added > 0) kinds[kind] = added;
    }
    measurement.proxyOutputLines = proxy.outputLines - linesBefore;
    measurement.proxyOutputKinds = kinds;
    if (measurement.proxyOutputLines > 0) measurement.proxyOutput = proxy.output.slice(0, 5);
  }
  measurement.wallMs = performance.now() - began;
  return measurement;
}

// ---- summary and report ----

interface Summary {
  scenario: ScenarioName;
  target: TargetName;
  /** Rounds that measured this row without failing, and rounds run. */
  rounds: number;
  plannedRounds: number;
  rate?: number;
  p50Ms?: number;
  p99Ms?: number;
  proxyCpuUsPerOp?: number;
  backendCpuUsPerOp?: number;
  proxyCpuPercent?: number;
  backendCpuPercent?: number;
  generatorCpuPercent?: number;
  othersCpuPercent?: number;
  rssKiBPerConn?: number;
  idle?: { asked: number; opened: number; echoed: number };
  /** Against direct from this run: throughput ratio (higher is better), latency ratios (lower is better). */
  rateVsDirect?: number;
  p50VsDirect?: number;
  p99VsDirect?: number;
}

function medianOf(list: readonly Measurement[], pick: (measurement: Measurement) => number | undefined) {
  return median(
    list.flatMap((measurement) => {
      const value = pick(measurement);
      return value === undefined ? [] : [value];
    }),
  );
}

function ratio(value: number | undefined, base: number | undefined): number | undefined {
  return value === undefined || base === undefined || base === 0 ? undefined : value / base;
}

function summarize(measurements: readonly Measurement[], options: Options): Summary[] {
  const summaries: Summary[] = [];
  for (const scenario of options.scenarios) {
    let direct: Summary | undefined;
    for (const target of options.targets) {
      const list = measurements.filter((m) => m.scenario === scenario && m.target === target && m.error === undefined);
      const summary: Summary = {
        scenario,
        target,
        rounds: list.length,
        plannedRounds: measurements.filter((m) => m.scenario === scenario && m.target === target).length,
        rate: medianOf(list, (m) => m.rate),
        p50Ms: medianOf(list, (m) => m.p50Ms),
        p99Ms: medianOf(list, (m) => m.p99Ms),
        proxyCpuUsPerOp: medianOf(list, (m) => m.proxyCpuUsPerOp),
        backendCpuUsPerOp: medianOf(list, (m) => m.backendCpuUsPerOp),
        proxyCpuPercent: medianOf(list, (m) => m.proxyCpuPercent),
        backendCpuPercent: medianOf(list, (m) => m.backendCpuPercent),
        generatorCpuPercent: medianOf(list, (m) => m.generatorCpuPercent),
        othersCpuPercent: medianOf(list, (m) => m.othersCpuPercent),
        rssKiBPerConn: medianOf(list, (m) => m.rssKiBPerConn),
      };
      if (scenario === "idle") {
        summary.idle = {
          asked: options.idle,
          opened: Math.min(...list.map((m) => m.idle?.opened ?? 0)),
          echoed: Math.min(...list.map((m) => m.idle?.echoed ?? 0)),
        };
        if (list.length === 0) summary.idle = { asked: options.idle, opened: 0, echoed: 0 };
      }
      if (target === "direct") direct = summary;
      else if (direct !== undefined && scenario !== "idle") {
        summary.rateVsDirect = ratio(summary.rate, direct.rate);
        summary.p50VsDirect = ratio(summary.p50Ms, direct.p50Ms);
        summary.p99VsDirect = ratio(summary.p99Ms, direct.p99Ms);
      }
      summaries.push(summary);
    }
  }
  return summaries;
}

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

function fixed(value: number | undefined, digits: number, suffix = ""): string {
  return value === undefined || !Number.isFinite(value) ? "—" : `${value.toFixed(digits)}${suffix}`;
}

/** " (2 of 3 rounds)" when some rounds of this row failed. */
function roundsNote(summary: Summary): string {
  return summary.rounds < summary.plannedRounds ? ` (${summary.rounds} of ${summary.plannedRounds} rounds)` : "";
}

function rateCell(summary: Summary): string {
  if (summary.scenario === "idle") {
    const idle = summary.idle;
    return idle === undefined ? "—" : `${idle.echoed}/${idle.asked} echoed${roundsNote(summary)}`;
  }
  if (summary.rate === undefined) return "failed";
  const unit = summary.scenario === "handshake" ? "conn/s" : "msg/s";
  return `${integer.format(summary.rate)} ${unit}${roundsNote(summary)}`;
}

function latencyDigits(value: number | undefined): number {
  return value !== undefined && value < 1 ? 3 : 2;
}

function table(summaries: readonly Summary[]): string {
  const header =
    "| scenario | target | throughput | p50 ms | p99 ms | proxy CPU µs/op | proxy CPU % | RSS KiB/conn | throughput × direct | p50 × direct | p99 × direct | backend CPU µs/op | generator CPU % | other CPU % |";
  const rule = `|${" --- |".repeat(14)}`;
  const rows = summaries.map((s) =>
    [
      s.scenario,
      s.target,
      rateCell(s),
      fixed(s.p50Ms, latencyDigits(s.p50Ms)),
      fixed(s.p99Ms, latencyDigits(s.p99Ms)),
      fixed(s.proxyCpuUsPerOp, 1),
      fixed(s.proxyCpuPercent, 0),
      fixed(s.rssKiBPerConn, 1),
      fixed(s.rateVsDirect, 2, "×"),
      fixed(s.p50VsDirect, 2, "×"),
      fixed(s.p99VsDirect, 2, "×"),
      fixed(s.backendCpuUsPerOp, 1),
      fixed(s.generatorCpuPercent, 0),
      fixed(s.othersCpuPercent, 0),
    ].join(" | "),
  );
  return [header, rule, ...rows.map((row) => `| ${row} |`)].join("\n");
}

interface Meta {
  date: string;
  node: string;
  cpu: string;
  cores: number;
  platform: string;
  clockTicks: number;
  openFileLimit: number | undefined;
  /** How the open-file limit came about (raised with prlimit, or not). */
  openFileNote: string;
  /** taskset pinning of the proxy and of the rest, or why there is none. */
  pinning: string;
  pinned: boolean;
  /** What each target is and which version ran. */
  targets: Partial<Record<TargetName, { description: string; version: string }>>;
  /** Targets that could not run here, and why. */
  skipped: string[];
  mode: "quick" | "full";
  rounds: number;
  durationS: number;
  warmupS: number;
  workers: number;
  idleConnections: number;
  idleHoldS: number;
  totalS?: number;
  /** Why the run stopped before its end, when it did. */
  aborted?: string;
  /** Problems outside any one measurement. */
  problems?: string[];
}

/** "echo-64/direct r1 (95%), stream/wsgate r2 (97%)" for the measurements where `pick` is above `limit`. */
function over(
  measurements: readonly Measurement[],
  pick: (measurement: Measurement) => number | undefined,
  limit: number,
): { list: string; count: number; median: number; max: number } | undefined {
  const hits = measurements.filter((m) => (pick(m) ?? 0) > limit);
  if (hits.length === 0) return undefined;
  const values = hits.map((m) => pick(m) ?? 0);
  const shown = hits.slice(0, 8).map((m) => `${m.scenario}/${m.target} r${m.round} (${fixed(pick(m), 0)}%)`);
  if (hits.length > shown.length) shown.push(`and ${hits.length - shown.length} more (see latest.json)`);
  return {
    list: shown.join(", "),
    count: hits.length,
    median: median(values) ?? 0,
    max: Math.max(...values),
  };
}

function findings(
  meta: Meta,
  measurements: readonly Measurement[],
  options: Options,
): { warnings: string[]; failures: string[] } {
  const warnings: string[] = [];
  const failures: string[] = [];
  if (options.idleCapNote !== undefined) warnings.push(options.idleCapNote);
  if (meta.aborted !== undefined) failures.push(`the run stopped early: ${meta.aborted}`);
  for (const problem of meta.problems ?? []) failures.push(problem);
  for (const m of measurements) {
    const where = `${m.scenario} / ${m.target}, round ${m.round}`;
    if (m.error !== undefined) failures.push(`${where}: FAILED: ${m.error}`);
    if (Object.keys(m.problems).length > 0) {
      const idleTimeouts = Object.keys(m.problems).some((key) => key.includes("'idle timeout'"));
      const hint =
        idleTimeouts && m.target === "wsgate-aware"
          ? ` (wsgate-aware closes sessions without data frames for 60 s (maxInactivity); ${m.scenario === "idle" ? `opening took ${(m.elapsedMs / 1000).toFixed(0)} s here, so ` : ""}these closes are the configured behaviour, not a fault)`
          : "";
      failures.push(`${where}: ${formatTally(m.problems)}${hint}`);
    }
    if ((m.proxyOutputLines ?? 0) > 0) {
      failures.push(
        `${where}: the proxy logged ${m.proxyOutputLines} line(s) at warn level or above: ${formatTally(m.proxyOutputKinds ?? {})}`,
      );
    }
  }
  const generator = over(measurements, (m) => m.generatorCpuPercent, 90);
  if (generator !== undefined)
    warnings.push(
      `a load worker used over 90% of a core in ${generator.list}: the generator may be what limits these figures (try --workers)`,
    );
  const backend = over(measurements, (m) => m.backendCpuPercent, 90);
  if (backend !== undefined)
    warnings.push(
      `the backend (single-threaded) used over 90% of a core in ${backend.list}: it may be the bottleneck there`,
    );
  const loops = measurements.filter((m) => m.scenario !== "idle" && m.error === undefined);
  const others = over(loops, (m) => m.othersCpuPercent, 20);
  if (others !== undefined)
    warnings.push(
      `other processes on the machine used over 20% of a core during ${others.count} of ${loops.length} measurements (median ${fixed(others.median, 0)}%, max ${fixed(others.max, 0)}%): throughput and latency are noisy, and contention inflates CPU per operation too; compare proxy CPU µs/op with backend CPU µs/op from the same row, which share the conditions. Details: ${others.list}`,
    );
  const steal = over(loops, (m) => m.stealPercent, 20);
  if (steal !== undefined)
    warnings.push(`the hypervisor stole over 20% of a core during ${steal.count} measurements: ${steal.list}`);
  return { warnings, failures };
}

function report(meta: Meta, options: Options, summaries: readonly Summary[], measurements: readonly Measurement[]) {
  const { warnings, failures } = findings(meta, measurements, options);
  const lines = [
    "# wsgate bench",
    "",
    `- Date: ${meta.date}${meta.totalS === undefined ? "" : ` (run took ${meta.totalS.toFixed(0)} s)`}`,
    `- Node ${meta.node} on ${meta.platform}; CPU: ${meta.cpu}; cores: ${meta.cores}; CLK_TCK ${meta.clockTicks}; ${meta.openFileNote}`,
    `- Pinning: ${meta.pinning}`,
    `- Mode: ${meta.mode}: ${meta.rounds} round(s), ${meta.durationS} s measured per scenario and target after ${meta.warmupS} s warm-up, ${meta.workers} load worker(s), ${meta.idleConnections} idle connections held ${meta.idleHoldS} s`,
    "- Targets, interleaved in every round: " +
      options.targets
        .map((target) => {
          const about = meta.targets[target];
          return `**${target}** = ${about?.description ?? ""}${target === "direct" ? "" : ` (${about?.version ?? "?"})`}`;
        })
        .join("; "),
    ...meta.skipped.map((line) => `- Not measured: ${line}`),
    "- Each round starts the proxy once per proxy target for the loop scenarios (run one after another, as one proxy serves one workload after another) and once more for idle, so that idle's RSS growth starts from a fresh heap.",
    "- Figures are medians over rounds; ratios are against **direct** measured in this run (throughput × direct: higher is better; latency × direct: lower is better).",
    "",
    table(summaries),
    "",
    "How to read it:",
    "- **echo-64 / echo-16k**: 50 connections, each sends one 64 B (16 KiB) binary message and waits for its echo, repeat. Throughput counts echoed messages: one round trip is one message, although the proxy relays it twice (client → backend and back). p50/p99 are round-trip times.",
    "- **stream**: 4 connections, each keeping 1,000 64 B messages in flight; throughput counts echoed messages.",
    "- **handshake**: 50 concurrent loops of open → one 64 B echo → close; throughput is completed connections/s; p50/p99 are whole cycles; proxy CPU is per connection.",
    `- **idle**: ${meta.idleConnections} idle connections opened and held ${meta.idleHoldS} s, then each must echo once; RSS KiB/conn is the proxy's VmRSS growth divided by the connections (each holds a client and a backend socket); proxy CPU % is its CPU while holding them (heartbeats, with wsgate-aware).`,
    "- **proxy CPU µs/op**: the proxy process's utime+stime (/proc/<pid>/stat, all threads) during the measured time, divided by the operations above; **backend CPU µs/op** is the same for the echo backend (a plain `ws` endpoint doing one side's work), for scale. **proxy CPU %** and **generator CPU %** (the busiest load worker) are % of one core. **other CPU %** is what the rest of the machine used meanwhile (/proc/stat busy time minus the bench's processes): when it is high, the figures are noisy.",
    meta.pinned
      ? "- The proxy has a core of its own and the load workers and backend share the rest, so throughput ratios mostly show added latency, not CPU contention; proxy CPU µs/op is the proxy's own CPU time (its whole process tree: nginx's worker is counted), which is the figure to compare between proxies."
      : `- All processes (load workers, backend, proxy) share the same ${meta.cores} core(s): direct runs leave the proxy's share of CPU to the others, so throughput ratios include that contention; proxy CPU µs/op counts only the proxy's own CPU time (contention still inflates it somewhat, as it does the backend's).`,
    "",
  ];
  lines.push("## Warnings", "", ...(warnings.length === 0 ? ["None."] : warnings.map((line) => `- ${line}`)), "");
  lines.push(
    "## Failures and anomalies",
    "",
    ...(failures.length === 0
      ? ["None: every message was echoed, every connection opened, echoed and closed with 1000."]
      : failures.map((line) => `- ${line}`)),
    "",
  );
  return { markdown: lines.join("\n"), warnings, failures };
}

// ---- main ----

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const started = performance.now();
  settleTargets(options);
  const fileLimit = settleIdle(options);
  // The machine's cores, counted before pinning narrows what this process may use.
  const cores = os.availableParallelism();
  // Before forking anything: the backend and the load workers inherit this process's cores.
  const pinning = pinCores(options.pin);
  const ticksPerSecond = clockTicks();
  const meta: Meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpuModel(),
    cores,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    clockTicks: ticksPerSecond,
    openFileLimit: fileLimit.limit,
    openFileNote: fileLimit.note,
    pinning: pinning.note,
    pinned: pinning.proxyPrefix.length > 0,
    targets: Object.fromEntries(
      options.targets.map((target) => [
        target,
        { description: describeTarget(target), version: targetVersion(target) },
      ]),
    ),
    skipped: options.skipped,
    mode: options.quick ? "quick" : "full",
    rounds: options.rounds,
    durationS: options.durationMs / 1000,
    warmupS: options.warmupMs / 1000,
    workers: options.workers,
    idleConnections: options.idle,
    idleHoldS: options.holdMs / 1000,
  };
  if (options.idleCapNote !== undefined) process.stderr.write(`bench: note: ${options.idleCapNote}\n`);
  for (const line of options.skipped) process.stderr.write(`bench: ${line}\n`);
  process.stderr.write(`bench: ${pinning.note}; ${fileLimit.note}\n`);
  const loops = options.scenarios.filter((scenario) => scenario !== "idle").length;
  const perMeasurement = options.durationMs + options.warmupMs + 700;
  const estimateMs =
    options.rounds *
    options.targets.length *
    (loops * perMeasurement + (options.scenarios.includes("idle") ? options.holdMs + 2500 : 0));
  process.stderr.write(
    `bench: ${options.quick ? "quick" : "full"} run, ${options.rounds} round(s) × ${options.scenarios.length} scenario(s) × ${options.targets.length} target(s), about ${Math.ceil(estimateMs / 1000)} s\n`,
  );
  // Every step has its own time limit; this one bounds the whole run should something slip through.
  const watchdog = setTimeout(
    () => {
      process.stderr.write("bench: the run took far longer than planned; stopping\n");
      killAll("SIGKILL");
      process.exit(1);
    },
    estimateMs * 3 + 120_000,
  );
  watchdog.unref();

  const tmpRoot = mkdtempSync(join(os.tmpdir(), "wsgate-bench-"));
  let workers: LoadWorkers | undefined;
  let backend: Backend | undefined;
  const measurements: Measurement[] = [];
  const shared = new Map<ProxyName, ProxyProcess>();
  const runProblems: string[] = [];
  try {
    backend = await Backend.start();
    workers = await LoadWorkers.start(options.workers);
    loadWorkers = workers;
    const ctx: Context = {
      options,
      workers,
      backend,
      ticksPerSecond,
      tmpRoot,
      proxyPrefix: pinning.proxyPrefix,
      fileLimit: fileLimit.limit,
      shared,
      runProblems,
    };
    rounds: for (let round = 1; round <= options.rounds; round++) {
      for (const scenario of options.scenarios) {
        if (scenario === "idle") await stopSharedProxies(ctx, round);
        for (const target of options.targets) {
          if (interrupted) break rounds;
          let measurement: Measurement;
          try {
            measurement = await measure(ctx, scenario, target, round);
          } catch (error) {
            meta.aborted = (error as Error).message;
            process.stderr.write(`bench: run aborted: ${meta.aborted}\n`);
            break rounds;
          }
          measurements.push(measurement);
          process.stderr.write(`bench: ${progressLine(measurement)}\n`);
        }
      }
      await stopSharedProxies(ctx, round);
    }
  } finally {
    for (const proxy of shared.values()) await stopProxy(proxy);
    workers?.stop();
    if (backend !== undefined) await stopChild(backend.child, 3000);
    killAll("SIGKILL");
    rmSync(tmpRoot, { recursive: true, force: true });
    clearTimeout(watchdog);
  }
  if (interrupted) return;
  meta.totalS = (performance.now() - started) / 1000;
  if (runProblems.length > 0) meta.problems = runProblems;
  const summaries = summarize(measurements, options);
  const { markdown, warnings, failures } = report(meta, options, summaries, measurements);
  process.stdout.write(`${markdown}\n`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, "latest.md"), `${markdown}\n`);
  const json = {
    meta,
    options: { ...options },
    targets: meta.targets,
    summary: summaries,
    measurements: measurements.map((m) => ({ ...m })),
    warnings,
    failures,
  };
  writeFileSync(join(RESULTS_DIR, "latest.json"), `${JSON.stringify(json, null, 2)}\n`);
  process.stderr.write(`bench: wrote ${join(RESULTS_DIR, "latest.md")} and latest.json\n`);
  if (meta.aborted !== undefined) process.exitCode = 1;
}

function progressLine(m: Measurement): string {
  const where = `round ${m.round} ${m.scenario} ${m.target}`;
  if (m.error !== undefined) return `${where}: FAILED: ${m.error}`;
  const problems = Object.keys(m.problems).length > 0 ? ` [${formatTally(m.problems)}]` : "";
  if (m.scenario === "idle") {
    return `${where}: ${m.idle?.echoed ?? 0}/${m.idle?.asked ?? 0} echoed, ${fixed(m.rssKiBPerConn, 1)} KiB/conn${problems}`;
  }
  const unit = m.scenario === "handshake" ? "conn/s" : "msg/s";
  return `${where}: ${integer.format(m.rate ?? 0)} ${unit}, p50 ${fixed(m.p50Ms, 3)} ms, p99 ${fixed(m.p99Ms, 3)} ms, proxy ${fixed(m.proxyCpuUsPerOp, 1)} µs/op${problems}`;
}

let interrupted = false;
function onSignal(signal: NodeJS.Signals): void {
  if (interrupted) return;
  interrupted = true;
  process.exitCode = 130;
  process.stderr.write(`\nbench: ${signal}: stopping the proxy, backend and load workers; no results written\n`);
  killAll("SIGTERM");
  setTimeout(() => {
    killAll("SIGKILL");
    process.exit(130);
  }, 1500);
}
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);

process.on("exit", () => killAll("SIGKILL"));

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
  killAll("SIGKILL");
  process.exit(1);
});
