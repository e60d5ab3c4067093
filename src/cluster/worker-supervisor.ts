import cluster, { type Worker } from "node:cluster";
import type { Logger } from "../observability/logger.js";
import { isWorkerMessage, type WorkerMessage } from "./protocol.js";

/** What the supervisor reports about its workers (the cluster control listens). */
export interface WorkerEvents {
  /** The worker is up and waits for objects. */
  ready(worker: Worker): void;
  message(worker: Worker, message: WorkerMessage): void;
  /** The worker exited, expectedly or not. */
  gone(worker: Worker): void;
  /** Workers kept dying and none is left: the gateway serves nothing any more. */
  gaveUp(): void;
}

export interface SupervisorOptions {
  count: number;
  /** The worker script and its arguments (see worker-main.ts). */
  exec: string;
  args: string[];
  log: Logger;
}

/** More deaths than this within DEATH_WINDOW_MS and dead workers are no longer replaced (a crash loop). */
const MAX_DEATHS = 5;
const DEATH_WINDOW_MS = 10_000;
const MAX_REPLACE_DELAY_MS = 2000;
/** After the drain, how long stopping workers get to exit before SIGKILL. */
const STOP_MARGIN_MS = 3000;

function exited(worker: Worker): Promise<void> {
  if (worker.isDead()) return Promise.resolve();
  return new Promise((resolve) => worker.once("exit", () => resolve()));
}

/** Forks the workers, replaces those that die (with back-off, up to a crash loop), and stops them all on request. */
export class WorkerSupervisor {
  private readonly alive = new Set<Worker>();
  private readonly up = new Map<number, Worker>();
  private deaths: number[] = [];
  private stopping = false;
  private givenUp = false;
  private events: WorkerEvents | undefined;

  constructor(private readonly options: SupervisorOptions) {}

  start(events: WorkerEvents): void {
    this.events = events;
    // Each worker holds the shared listening socket and accepts itself (no accept + IPC per connection in the
    // primary), and its socket is a real handle that `wsgate upgrade` can pass on. Read at the first setupPrimary.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: this.options.exec, args: this.options.args });
    for (let i = 0; i < this.options.count; i++) this.fork();
  }

  /** Workers that said ready and are still connected: the ones to ask and to send changes to. */
  live(): Worker[] {
    return [...this.up.values()].filter((worker) => worker.isConnected());
  }

  liveIds(): number[] {
    return this.live().map((worker) => worker.id);
  }

  /**
   * After `wsgate upgrade`: no worker is replaced any more, and resolves once every worker has exited (they drain what
   * stayed, then exit), or after `drainMs` + margin, when what is left gets SIGKILL.
   */
  async retire(drainMs: number): Promise<void> {
    this.stopping = true;
    await this.exitedWithin([...this.alive], drainMs + STOP_MARGIN_MS * 2);
  }

  /** Sends `stop` to every worker and waits for them to exit; what is left after drain + margin gets SIGKILL. */
  async stop(drainMs: number): Promise<void> {
    this.stopping = true;
    const workers = [...this.alive];
    for (const worker of workers) {
      if (worker.isConnected()) worker.send({ type: "stop", drainMs }, () => undefined);
    }
    await this.exitedWithin(workers, drainMs + STOP_MARGIN_MS);
  }

  private async exitedWithin(workers: Worker[], timeoutMs: number): Promise<void> {
    const all = Promise.all(workers.map(exited));
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      all.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (inTime) return;
    const left = workers.filter((worker) => !worker.isDead());
    this.options.log.warn({ workers: left.map((worker) => worker.id) }, "workers did not stop in time; killing them");
    for (const worker of left) worker.process.kill("SIGKILL");
    await all;
  }

  private fork(): void {
    const worker = cluster.fork();
    const log = this.options.log;
    this.alive.add(worker);
    log.info({ worker: worker.id, pid: worker.process.pid }, "worker started");
    worker.on("message", (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.type === "ready") {
        this.up.set(worker.id, worker);
        this.events?.ready(worker);
      } else {
        this.events?.message(worker, message);
      }
    });
    // The channel can fail while a worker dies; the exit event follows and is what counts.
    worker.on("error", (error) => log.debug({ worker: worker.id, error: error.message }, "worker channel error"));
    worker.on("exit", (code, signal) => {
      this.alive.delete(worker);
      this.up.delete(worker.id);
      this.events?.gone(worker);
      if (this.stopping) {
        log.debug({ worker: worker.id, code, signal }, "worker stopped");
        return;
      }
      log.warn({ worker: worker.id, pid: worker.process.pid, code, signal }, "worker died");
      this.replace();
    });
  }

  /** A dead worker is replaced at once the first time, then with a growing delay; not at all in a crash loop. */
  private replace(): void {
    if (this.givenUp) {
      if (this.alive.size === 0) this.events?.gaveUp();
      return;
    }
    const now = Date.now();
    this.deaths = [...this.deaths.filter((at) => now - at < DEATH_WINDOW_MS), now];
    if (this.deaths.length > MAX_DEATHS) {
      this.givenUp = true;
      this.options.log.error(
        { deaths: this.deaths.length, windowMs: DEATH_WINDOW_MS, left: this.alive.size },
        "workers keep dying: no longer replacing them",
      );
      if (this.alive.size === 0) this.events?.gaveUp();
      return;
    }
    const delay = Math.min(MAX_REPLACE_DELAY_MS, this.deaths.length <= 1 ? 0 : 100 * 2 ** (this.deaths.length - 2));
    setTimeout(() => {
      if (!this.stopping) this.fork();
    }, delay);
  }
}
