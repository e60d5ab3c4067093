/**
 * A worker thread of the bcrypt pool (bcrypt-pool.ts): one comparison per message, answered in order. bcrypt is
 * slow on purpose (tens of ms at cost 10); here it costs a core of the pool, never the event loop.
 */
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

parentPort?.on("message", (job: CompareJob) => parentPort?.postMessage(compare(job)));
