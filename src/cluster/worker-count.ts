import { availableParallelism } from "node:os";
import { InvalidWorkerCountError } from "./errors.js";

/** "auto" is one worker per core the process may use; 1 means no cluster at all (the gateway runs in-process). */
export function parseWorkerCount(value: string | number): number {
  if (value === "auto") return availableParallelism();
  const count = typeof value === "number" ? value : /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(count) || count < 1) throw new InvalidWorkerCountError(String(value));
  return count;
}
