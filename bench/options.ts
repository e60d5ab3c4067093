/** The bench's command line, and what it takes from the machine (installed targets, open-file limit). */
import { parseArgs } from "node:util";
import { BASELINE_PAIRS, checkBaselineDir, withBaselineTargets } from "./baseline.js";
import { withDashboardTarget } from "./dashboard-load.js";
import { HANDOVER_RATE, HANDOVER_SIZES, QUICK_HANDOVER_SIZES } from "./handover.js";
import { raiseFileLimit } from "./limits.js";
import {
  BURST_SCENARIO_NAMES,
  SCENARIO_NAMES,
  WSGATE_SCENARIO_NAMES,
  type BurstScenarioName,
  type ScenarioName,
  type WsgateScenarioName,
} from "./scenarios.js";
import {
  DASHBOARD_TARGET,
  TARGET_NAMES,
  FLOOR_TARGET_NAMES,
  installPackages,
  missing,
  packagesToInstall,
  type ProxyName,
  type TargetName,
} from "./targets.js";
import { COLD_CYCLES, QUICK_COLD_CYCLES, QUICK_WARM_CYCLES, WARM_CYCLES } from "./warmup.js";

/** Quick mode: every figure from one short measurement, so that six targets fit in under a minute. */
const QUICK = { durationS: 0.8, warmupS: 0.1, idle: 200, holdMs: 300, stormClients: 500 } as const;
const STORM_CLIENTS = 5000;

const USAGE = `Usage: node dist/bench/run.js [options]

  --quick            short scenarios, 1 round, ${QUICK.idle} idle connections (under a minute with six targets)
  --rounds N         rounds, each running every target once per scenario (default 5; quick 1)
  --duration S       measured seconds per scenario and target (default 3; quick ${QUICK.durationS})
  --warmup S         unmeasured seconds before each measurement (default 1; quick ${QUICK.warmupS})
  --workers N        load-generator processes (default 2)
  --idle N           idle connections (default 10000; quick ${QUICK.idle}), capped by what ulimit -n allows
  --scenarios LIST   comma-separated subset of: ${SCENARIO_NAMES.join(", ")} (the default: all of them),
                     and of wsgate's own, run only when named: ${WSGATE_SCENARIO_NAMES.join(", ")}
                     (naming only these leaves results/latest.* and docs/performance.md as they are),
                     and the storm and TLS ones (run by default, each its own section, also in
                     results/latest-burst.*): ${BURST_SCENARIO_NAMES.join(", ")}
  --handover-sessions LIST
                     handover: the session counts to hand over, comma-separated (default ${HANDOVER_SIZES.join(",")};
                     quick ${QUICK_HANDOVER_SIZES.join(",")})
  --handover-rate N  handover: messages per second over all sessions (default ${HANDOVER_RATE})
  --storm-clients N  clients of the storm scenario (default ${STORM_CLIENTS}; quick ${QUICK.stormClients})
  --targets LIST     comma-separated subset of: ${TARGET_NAMES.join(", ")}
                     (default: all that are installed; direct is always kept), and Node's floor, run only
                     when named: ${FLOOR_TARGET_NAMES.join(", ")} (tunnels that parse nothing)
  --baseline DIR     also run an earlier build of wsgate, a checkout in DIR with its dist/ built, as
                     wsgate-before and wsgate-aware-before (the same configs as wsgate and wsgate-aware),
                     interleaved in every round, and report after/before ratios per scenario with their
                     per-round spread
  --warm-cycles N    unmeasured open → echo → close cycles before the handshake (and each wss:// cycle
                     scenario) is measured (default ${WARM_CYCLES}; quick ${QUICK_WARM_CYCLES}): a count, since V8
                     optimizes by invocations, not time
  --cold-cycles N    handshake-cold: the first N cycles of a fresh proxy (default ${COLD_CYCLES}; quick ${QUICK_COLD_CYCLES})
  --server-closes-first
                     handshake loops close as Go clients do: after both close frames the client waits
                     for the proxy's FIN before sending its own (ws, the default, sends it at once)
  --dashboard        also run wsgate-aware with its admin listener on and one dashboard stream
                     (GET /apis/v2/dashboard/stream) open throughout, as wsgate-aware-dashboard, paired with
                     wsgate-aware in every round, and report page open ÷ closed per scenario
  --profile TARGET   profile one proxy target under the handshake load instead of the comparison: CPU per
                     cycle (user/system), a CPU profile's self time per function in µs per cycle (Node
                     targets), strace -c syscalls per cycle (when strace is installed), GC counts (--trace-gc);
                     writes bench/results/profile.md and profile.json
  --install          apt-get install the missing nginx / haproxy first
  --no-pin           do not pin the proxy to a core of its own with taskset
  --no-readme        do not rewrite the benchmark section of docs/performance.md
  --help
`;

export interface Options {
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
  /** storm and wss: by default, or when --scenarios names them. */
  burstScenarios: BurstScenarioName[];
  stormClients: number;
  /** handover: session counts to hand over, and messages per second over all sessions. */
  handoverSizes: number[];
  handoverRate: number;
  /** wsgate-only scenarios asked for by name (basic-auth-flood). */
  wsgateScenarios: WsgateScenarioName[];
  targets: TargetName[];
  /** Targets asked for (or all, by default) that cannot run here, and why. */
  skipped: string[];
  /** --targets was given: a missing one is then worth a warning, not just a line. */
  targetsAsked: boolean;
  /** Unmeasured cycles before handshake, and cycles measured by handshake-cold (warmup.ts). */
  warmCycles: number;
  coldCycles: number;
  /** --server-closes-first: the handshake loops' closing sequence is a Go client's. */
  serverClosesFirst: boolean;
  /** --dashboard: wsgate-aware-dashboard runs paired with wsgate-aware. */
  dashboard: boolean;
  /** --profile TARGET: profile mode (profile.ts) instead of the comparison. */
  profile: ProxyName | undefined;
  /** --baseline: the earlier checkout (absolute) whose build runs as the -before targets. */
  baseline: string | undefined;
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

/** The items of a comma-separated option, each one of `known`; `byDefault` (all of `known` unless given) without it. */
function listOf<T extends string>(
  text: string | undefined,
  known: readonly T[],
  name: string,
  byDefault: readonly T[] = known,
): T[] {
  if (text === undefined) return [...byDefault];
  const picked = text.split(",").map((item) => item.trim());
  for (const item of picked) if (!(known as readonly string[]).includes(item)) fail(`unknown ${name} '${item}'`);
  return known.filter((item) => picked.includes(item));
}

export function parseOptions(argv: string[]): Options {
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
        "storm-clients": { type: "string" },
        "handover-sessions": { type: "string" },
        "handover-rate": { type: "string" },
        targets: { type: "string" },
        baseline: { type: "string" },
        "warm-cycles": { type: "string" },
        "cold-cycles": { type: "string" },
        dashboard: { type: "boolean", default: false },
        "server-closes-first": { type: "boolean", default: false },
        profile: { type: "string" },
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
  let targets: TargetName[] = listOf(values.targets, [...TARGET_NAMES, ...FLOOR_TARGET_NAMES], "target", TARGET_NAMES);
  const scenarios = listOf(
    values.scenarios,
    [...SCENARIO_NAMES, ...WSGATE_SCENARIO_NAMES, ...BURST_SCENARIO_NAMES],
    "scenario",
  );
  if (!targets.includes("direct")) targets.unshift("direct");
  let baseline: string | undefined;
  if (values.baseline !== undefined) {
    const checked = checkBaselineDir(values.baseline);
    if ("error" in checked) fail(checked.error);
    baseline = checked.dir;
    if (!BASELINE_PAIRS.some((pair) => targets.includes(pair.after)))
      fail("--baseline compares wsgate targets: name wsgate or wsgate-aware in --targets");
    targets = withBaselineTargets(targets);
  }
  if (values.dashboard) {
    if (!targets.includes("wsgate-aware")) fail("--dashboard pairs with wsgate-aware: name it in --targets");
    targets = withDashboardTarget(targets);
  }
  const profile = values.profile;
  const profiled = [
    ...TARGET_NAMES.filter((t) => t !== "direct"),
    ...FLOOR_TARGET_NAMES,
    DASHBOARD_TARGET,
  ] as readonly string[];
  if (profile !== undefined && !profiled.includes(profile))
    fail(`--profile takes one proxy target (${profiled.join(", ")}), got '${profile}'`);
  return {
    quick,
    rounds: positive(values.rounds, "--rounds", quick ? 1 : 5, true),
    durationMs: positive(values.duration, "--duration", quick ? QUICK.durationS : 3, false) * 1000,
    warmupMs: nonNegative(values.warmup, "--warmup", quick ? QUICK.warmupS : 1) * 1000,
    workers: positive(values.workers, "--workers", 2, true),
    idle: idleRequested,
    idleRequested,
    idleCapNote: undefined,
    // Longer than wsgate-aware's ping interval, so that every idle connection is pinged while held.
    holdMs: quick ? QUICK.holdMs : 6000,
    scenarios:
      values.scenarios === undefined ? [...SCENARIO_NAMES] : SCENARIO_NAMES.filter((s) => scenarios.includes(s)),
    wsgateScenarios: values.scenarios === undefined ? [] : WSGATE_SCENARIO_NAMES.filter((s) => scenarios.includes(s)),
    burstScenarios: BURST_SCENARIO_NAMES.filter((s) => scenarios.includes(s)),
    stormClients: positive(
      values["storm-clients"],
      "--storm-clients",
      quick ? QUICK.stormClients : STORM_CLIENTS,
      true,
    ),
    handoverSizes:
      values["handover-sessions"] === undefined
        ? [...(quick ? QUICK_HANDOVER_SIZES : HANDOVER_SIZES)]
        : values["handover-sessions"].split(",").map((item) => positive(item.trim(), "--handover-sessions", 1, true)),
    handoverRate: positive(values["handover-rate"], "--handover-rate", HANDOVER_RATE, false),
    targets,
    skipped: [],
    targetsAsked: values.targets !== undefined,
    baseline,
    warmCycles: Math.floor(
      nonNegative(values["warm-cycles"], "--warm-cycles", quick ? QUICK_WARM_CYCLES : WARM_CYCLES),
    ),
    coldCycles: positive(values["cold-cycles"], "--cold-cycles", quick ? QUICK_COLD_CYCLES : COLD_CYCLES, true),
    serverClosesFirst: values["server-closes-first"],
    dashboard: values.dashboard,
    profile: profile as ProxyName | undefined,
    install: values.install,
    pin: !values["no-pin"],
    readme: !values["no-readme"],
  };
}

/** Installs what --install asks for, then drops the targets that still cannot run, with a line each. */
export function settleTargets(options: Options): void {
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
export function settleIdle(options: Options): { limit: number | undefined; note: string } {
  const { limit, note } = raiseFileLimit(options.idleRequested * 2 + 1024);
  const cap = limit === undefined ? Infinity : Math.max(1, Math.floor((limit.soft - 512) / 2));
  options.idle = Math.min(options.idleRequested, cap);
  if (options.idle < options.idleRequested)
    options.idleCapNote = `idle connections capped at ${options.idle} (asked for ${options.idleRequested}): ${note}, and a proxy needs two descriptors per connection`;
  return { limit: limit?.soft, note };
}
