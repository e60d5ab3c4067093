// What a gateway process holds, seen from outside through /proc: open descriptors (every socket it forgot is one)
// and resident memory. Linux only, like the other end-to-end tests that read /proc.
import { readdirSync, readFileSync } from "node:fs";

/** Open file descriptors of a process; sockets the gateway forgot to close stay here. */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
}

/**
 * Polls until the process holds at most `limit` descriptors, or `ms` pass; returns the last count either way,
 * so that the test's assertion says how far off it was.
 */
export async function fdsSettleAtMost(pid: number, limit: number, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  let count = openFds(pid);
  while (count > limit && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    count = openFds(pid);
  }
  return count;
}

/** Runs `task` for each index with at most `width` running at once; the first failure stops every worker. */
export async function inBatches(count: number, width: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < count && !failed) {
      try {
        await task(next++);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
