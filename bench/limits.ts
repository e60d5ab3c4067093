/**
 * Open-file limits for the bench's processes. The orchestrator raises its own RLIMIT_NOFILE with prlimit(1) at
 * start; the backend, the load workers and the proxies it starts inherit it. Node has no setrlimit of its own.
 */
import { execFileSync } from "node:child_process";

export interface FileLimit {
  soft: number;
  hard: number;
}

/** This process's soft and hard RLIMIT_NOFILE; undefined when prlimit is missing or says "unlimited". */
export function ownFileLimit(): FileLimit | undefined {
  try {
    const text = execFileSync(
      "prlimit",
      ["--pid", String(process.pid), "--nofile", "--raw", "--noheadings", "--output", "SOFT,HARD"],
      {
        encoding: "utf8",
        timeout: 2000,
      },
    );
    const [soft, hard] = text.trim().split(/\s+/).map(Number);
    return soft !== undefined && hard !== undefined && Number.isInteger(soft) && Number.isInteger(hard)
      ? { soft, hard }
      : undefined;
  } catch {
    return undefined;
  }
}

function trySet(soft: number, hard: number): boolean {
  try {
    execFileSync("prlimit", ["--pid", String(process.pid), `--nofile=${soft}:${hard}`], {
      stdio: "ignore",
      timeout: 2000,
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * Raises the soft limit towards `wanted`: first both limits to `wanted` (root may raise the hard limit), else the
 * soft limit to the hard one. Returns the limits in force afterwards and how they came about, for the report.
 */
export function raiseFileLimit(wanted: number): { limit: FileLimit | undefined; note: string } {
  const before = ownFileLimit();
  if (before === undefined) return { limit: undefined, note: "prlimit is not available: ulimit -n left as it was" };
  if (before.soft >= wanted) return { limit: before, note: `ulimit -n ${before.soft} (enough, left as it was)` };
  if (before.hard < wanted && trySet(wanted, wanted)) {
    return { limit: ownFileLimit(), note: `ulimit -n raised from ${before.soft} (hard ${before.hard}) to ${wanted}` };
  }
  const soft = Math.min(wanted, before.hard);
  if (soft > before.soft && trySet(soft, before.hard)) {
    return {
      limit: ownFileLimit(),
      note: `ulimit -n raised from ${before.soft} to ${soft} (the hard limit allows no more)`,
    };
  }
  return {
    limit: before,
    note: `ulimit -n ${before.soft}: the hard limit is ${before.hard} and raising it was refused (it needs CAP_SYS_RESOURCE)`,
  };
}
