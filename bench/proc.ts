import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import os from "node:os";

/** Clock ticks per second, the unit of utime/stime in /proc/<pid>/stat; 100 when getconf is not there. */
export function clockTicks(): number {
  try {
    const ticks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8", timeout: 2000 }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
}

/** utime + stime of a process (all its threads), in clock ticks; undefined once the process is gone. */
export function cpuTicks(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing parenthesis.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // Fields 14 (utime) and 15 (stime) of the line are at 11 and 12 after the name.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : undefined;
}

/** Resident set size in KiB (VmRSS of /proc/<pid>/status); undefined once the process is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}

export function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (match?.[1] !== undefined) return match[1].trim();
  } catch {
    // Not Linux, or no /proc: fall back to what Node knows.
  }
  return os.cpus()[0]?.model ?? "unknown";
}

/** The soft limit on open files that child processes get (`ulimit -n`); undefined when unlimited or unknown. */
export function openFileLimit(): number | undefined {
  try {
    const text = execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8", timeout: 2000 }).trim();
    const limit = Number(text);
    return Number.isInteger(limit) && limit > 0 ? limit : undefined;
  } catch {
    return undefined;
  }
}

export function median(values: readonly number[]): number | undefined {
  const finite = values.filter((value) => Number.isFinite(value)).sort((a, b) => a - b);
  if (finite.length === 0) return undefined;
  const middle = finite.length >> 1;
  return finite.length % 2 === 1
    ? (finite[middle] as number)
    : ((finite[middle - 1] as number) + (finite[middle] as number)) / 2;
}

/** One worker's latency sample and how many latencies it stands for. */
export interface LatencySample {
  values: Float64Array;
  seen: number;
}

/**
 * Percentiles (0–100) over the samples of several workers. A sample that had to be thinned out (seen > length)
 * weighs each of its values as seen / length latencies, so that every worker counts by its traffic.
 */
export function weightedPercentiles(samples: readonly LatencySample[], percents: readonly number[]): number[] {
  let size = 0;
  for (const sample of samples) size += sample.values.length;
  if (size === 0) return percents.map(() => Number.NaN);
  const values = new Float64Array(size);
  const weights = new Float64Array(size);
  let at = 0;
  let total = 0;
  for (const sample of samples) {
    const weight = sample.values.length === 0 ? 0 : sample.seen / sample.values.length;
    values.set(sample.values, at);
    weights.fill(weight, at, at + sample.values.length);
    at += sample.values.length;
    total += weight * sample.values.length;
  }
  const order = new Uint32Array(size);
  for (let index = 0; index < size; index++) order[index] = index;
  order.sort((a, b) => (values[a] as number) - (values[b] as number));
  return percents.map((percent) => {
    const target = (percent / 100) * total;
    let sum = 0;
    for (let index = 0; index < size; index++) {
      const position = order[index] as number;
      sum += weights[position] as number;
      if (sum >= target) return values[position] as number;
    }
    return values[order[size - 1] as number] as number;
  });
}

/** Whole-machine CPU time from the first line of /proc/stat, in clock ticks over all cores. */
export interface MachineTicks {
  /** Time spent running (user, nice, system, irq, softirq), any process. */
  busy: number;
  /** Time the hypervisor gave to others while this machine wanted to run (VMs). */
  steal: number;
  total: number;
}

export function machineTicks(): MachineTicks | undefined {
  let line: string | undefined;
  try {
    line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0];
  } catch {
    return undefined;
  }
  if (line === undefined || !line.startsWith("cpu ")) return undefined;
  // user nice system idle iowait irq softirq steal (guest time is already inside user and nice)
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .slice(4)
    .trim()
    .split(/\s+/)
    .map(Number);
  const busy = user + nice + system + irq + softirq;
  return { busy, steal, total: busy + idle + iowait + steal };
}

/** The parent PID of `pid` (field 4 of /proc/<pid>/stat); undefined once the process is gone. */
function parentPid(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ppid = Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `pid` and every process below it. nginx does its work in a worker it forks, whose CPU time the master's
 * /proc/<pid>/stat does not count (only after the worker exits), so a proxy's figures sum its whole tree.
 * The kernel here has no /proc/<pid>/task/<tid>/children, so this scans /proc once.
 */
export function processTree(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    const child = Number(entry);
    if (!Number.isInteger(child)) continue;
    const parent = parentPid(child);
    if (parent === undefined) continue;
    const siblings = byParent.get(parent);
    if (siblings === undefined) byParent.set(parent, [child]);
    else siblings.push(child);
  }
  const tree = [pid];
  for (let index = 0; index < tree.length; index++) tree.push(...(byParent.get(tree[index] as number) ?? []));
  return tree;
}

/** Sum of `read` over `pids`; undefined when the first (the tree's root) is gone. */
export function sumOver(pids: readonly number[], read: (pid: number) => number | undefined): number | undefined {
  let total = 0;
  for (const [index, pid] of pids.entries()) {
    const value = read(pid);
    if (value === undefined && index === 0) return undefined;
    total += value ?? 0;
  }
  return total;
}
