/**
 * CPU pinning with taskset(1): the proxy under test gets a core of its own, and the orchestrator, load workers and
 * echo backend share the others, so that the proxy's figures are not bent by the generator stealing its core.
 * The orchestrator pins itself at start; what it forks inherits that affinity.
 */
import { execFileSync } from "node:child_process";
import os from "node:os";

export interface Pinning {
  /** The command prefix that starts a proxy on its own core, e.g. ["taskset", "-c", "1"]; [] when not pinned. */
  proxyPrefix: string[];
  /** For the report. */
  note: string;
}

function hasTaskset(): boolean {
  try {
    execFileSync("taskset", ["--version"], { stdio: "ignore", timeout: 2000 });
    return true;
  } catch {
    return false;
  }
}

/** Pins this process (all threads) to every core but the last and returns how to start a proxy on the last. */
export function pinCores(enabled: boolean): Pinning {
  const cores = os.availableParallelism();
  if (!enabled) return { proxyPrefix: [], note: "not pinned (--no-pin): every process may run on any core" };
  if (cores < 2) return { proxyPrefix: [], note: "not pinned: one core only" };
  if (!hasTaskset()) return { proxyPrefix: [], note: "not pinned: taskset is not installed" };
  const proxyCore = String(cores - 1);
  const others = cores === 2 ? "0" : `0-${cores - 2}`;
  try {
    execFileSync("taskset", ["-a", "-p", "-c", others, String(process.pid)], { stdio: "ignore", timeout: 2000 });
  } catch (error) {
    return { proxyPrefix: [], note: `not pinned: taskset failed (${(error as Error).message.slice(0, 80)})` };
  }
  return {
    proxyPrefix: ["taskset", "-c", proxyCore],
    note: `proxy pinned to core ${proxyCore} (taskset -c ${proxyCore}); load workers, echo backend and orchestrator to core${cores === 2 ? "" : "s"} ${others}`,
  };
}
