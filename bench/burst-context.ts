/** What the storm and wss:// scenarios take from the bench run (run.ts), and the helpers both use. */
import type { ChildProcess } from "node:child_process";
import { cpuTicks, processTree, rssKiB, sumOver } from "./proc.js";
import { ProxyProcess } from "./proxy-process.js";
import type { ProxyName, TargetName, TlsFiles } from "./targets.js";

export interface BurstContext {
  backendPort: number;
  backendPid: number;
  /** The run's temporary directory (removed at its end): proxy configs, the certificate. */
  tmpRoot: string;
  /** taskset prefix for the proxies, [] when not pinned. */
  prefix: readonly string[];
  /** The open-file limit every process inherits. */
  maxFiles: number;
  track: (child: ChildProcess) => void;
  rounds: number;
  targets: readonly TargetName[];
  quick: boolean;
  durationMs: number;
  warmupMs: number;
  /** Unmeasured cycles before a wss:// cycle scenario is measured (--warm-cycles; warmup.ts says why a count). */
  warmCycles: number;
  workers: number;
  ticksPerSecond: number;
  /** --baseline's checkout, for the -before targets. */
  baseline: string | undefined;
  /** True once the run was interrupted (SIGINT): stop between measurements. */
  interrupted: () => boolean;
  log: (line: string) => void;
}

export function startProxy(ctx: BurstContext, name: ProxyName, tls?: TlsFiles): Promise<ProxyProcess> {
  return ProxyProcess.start(
    name,
    {
      backendPort: ctx.backendPort,
      maxFiles: ctx.maxFiles,
      prefix: ctx.prefix,
      tmpRoot: ctx.tmpRoot,
      baseline: ctx.baseline,
      tls,
    },
    ctx.track,
  );
}

/** A process tree read from /proc once (a proxy's tree does not change while measured): RSS and CPU sums. */
export class TreeProbe {
  private readonly pids: number[];

  constructor(rootPid: number) {
    this.pids = processTree(rootPid);
  }

  rssKiB(): number | undefined {
    return sumOver(this.pids, rssKiB);
  }

  cpuTicks(): number | undefined {
    return sumOver(this.pids, cpuTicks);
  }
}

/** Samples RSS every `everyMs` until stopped; `peak` is the largest seen. */
export class RssSampler {
  peak: number | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly probe: TreeProbe,
    everyMs: number,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    const rss = this.probe.rssKiB();
    if (rss !== undefined && (this.peak === undefined || rss > this.peak)) this.peak = rss;
  }

  stop(): number | undefined {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

/** CPU ms between two tick readings. */
export function ticksToMs(before: number | undefined, after: number | undefined, ticksPerSecond: number) {
  return before === undefined || after === undefined ? undefined : ((after - before) / ticksPerSecond) * 1000;
}

/** 5,000 → "5,000". */
export const count = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
