/**
 * bcrypt comparisons off the event loop: a few worker threads (at most one per core but one), created on first use,
 * unref'd so that they never keep the process alive, and a bounded queue in front of them. One pool serves every
 * Validator of the process; the last one to close terminates it.
 */
import os from "node:os";
import { Worker } from "node:worker_threads";
import { CredentialCheckBusyError } from "../../errors.js";
import type { CompareAnswer, CompareJob } from "./bcrypt-worker.js";

const WORKER_SCRIPT = new URL("./bcrypt-worker.js", import.meta.url);

/** Comparisons that may wait per worker: about 1.5 s of waiting at cost 10 before a client gets 503. */
const QUEUED_PER_WORKER = 16;

interface Pending extends CompareJob {
  resolve(match: boolean): void;
  reject(error: Error): void;
}

/** A comparison lost with its worker (the pool closed, or the thread died): the request is refused, never let in. */
function stopped(): CredentialCheckBusyError {
  return new CredentialCheckBusyError("the password check was stopped with its worker; try again");
}

export class BcryptPool {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private readonly queue: Pending[] = [];
  private closed = false;

  constructor(
    readonly maxWorkers: number,
    readonly maxQueued: number,
  ) {}

  /** Whether `password` matches the bcrypt `hash`; rejects with CredentialCheckBusyError when the queue is full. */
  compare(password: string, hash: string): Promise<boolean> {
    if (this.closed) return Promise.reject(stopped());
    if (this.queue.length >= this.maxQueued)
      return Promise.reject(
        new CredentialCheckBusyError(`too many password checks pending (${this.queue.length}); try again`),
      );
    comparisons++;
    return new Promise<boolean>((resolve, reject) => {
      this.queue.push({ password, hash, resolve, reject });
      this.dispatch();
    });
  }

  get workers(): number {
    return this.idle.length + this.busy.size;
  }

  close(): void {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(stopped());
    for (const worker of [...this.idle, ...this.busy.keys()]) void worker.terminate();
    this.idle.length = 0;
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const worker = this.idle.pop() ?? (this.workers < this.maxWorkers ? this.spawn() : undefined);
      if (worker === undefined) return;
      const job = this.queue.shift() as Pending;
      this.busy.set(worker, job);
      worker.postMessage({ password: job.password, hash: job.hash } satisfies CompareJob);
    }
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_SCRIPT);
    worker.unref();
    worker.on("message", (answer: CompareAnswer) => this.answered(worker, answer));
    worker.once("error", () => this.lost(worker));
    worker.once("exit", () => this.lost(worker));
    return worker;
  }

  private answered(worker: Worker, answer: CompareAnswer): void {
    const job = this.busy.get(worker);
    this.busy.delete(worker);
    job?.resolve(answer.match === true);
    if (this.closed) return;
    this.idle.push(worker);
    this.dispatch();
  }

  /** A worker that exits or fails takes its comparison with it; the next comparison starts another. */
  private lost(worker: Worker): void {
    const job = this.busy.get(worker);
    this.busy.delete(worker);
    const at = this.idle.indexOf(worker);
    if (at >= 0) this.idle.splice(at, 1);
    job?.reject(stopped());
    if (!this.closed) this.dispatch();
  }
}

let shared: BcryptPool | undefined;
let holders = 0;
/** Comparisons handed to a pool since the process started (tests read it to see what the cache spared). */
let comparisons = 0;

/** The process's pool, for one more holder (a Validator with basic auth); give it back with releaseBcryptPool. */
export function acquireBcryptPool(): BcryptPool {
  holders++;
  if (shared === undefined) {
    const workers = Math.max(1, os.availableParallelism() - 1);
    shared = new BcryptPool(workers, workers * QUEUED_PER_WORKER);
  }
  return shared;
}

export function releaseBcryptPool(): void {
  holders = Math.max(0, holders - 1);
  if (holders > 0 || shared === undefined) return;
  shared.close();
  shared = undefined;
}

/** What the pool has done: comparisons started, and threads running now. */
export function bcryptPoolStats(): { comparisons: number; workers: number } {
  return { comparisons, workers: shared?.workers ?? 0 };
}
