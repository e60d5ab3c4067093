/**
 * A worker thread of the bcrypt pool (bcrypt-pool.ts): one comparison per message, answered in order. bcrypt is
 * slow on purpose (tens of ms at cost 10); here it costs a core of the pool, never the event loop.
 */
import os from "node:os";
import { parentPort } from "node:worker_threads";
import bcrypt from "bcryptjs";

export interface CompareJob {
  password: string;
  hash: string;
}

export interface CompareAnswer {
  match: boolean;
}

function compare(job: CompareJob): CompareAnswer {
  try {
    return { match: bcrypt.compareSync(job.password, job.hash) };
  } catch {
    // A malformed hash matches nothing.
    return { match: false };
  }
}

/** Below the event loop's priority: on a busy core, requests go first and guesses wait (CFS weight 110 vs 1024). */
const WORKER_NICE = 10;

// On Linux a nice value belongs to the thread that sets it; elsewhere it would lower the whole gateway.
if (process.platform === "linux") {
  try {
    os.setPriority(WORKER_NICE);
  } catch {
    // Not allowed here: the worker runs at the gateway's priority.
  }
}

parentPort?.on("message", (job: CompareJob) => parentPort?.postMessage(compare(job)));
